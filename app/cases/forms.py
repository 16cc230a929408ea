"""Forms for members' case files. They collect input and the CSRF token; the case service checks the rules."""

from __future__ import annotations

from flask_wtf import FlaskForm
from wtforms import BooleanField, DateField, SelectChoice, SelectField, StringField, TextAreaField
from wtforms.validators import DataRequired, Length, Optional


class NewCaseForm(FlaskForm):
    existing_number = StringField("Membership number of a member already on file", validators=[Optional(),
                                  Length(max=32)], description="Leave empty to record a new member below.")
    name = StringField("Member's name", validators=[Optional(), Length(max=200)])
    membership_number = StringField("Membership number", validators=[Optional(), Length(max=32)])
    branch = StringField("Branch", validators=[Optional(), Length(max=200)])
    employer = StringField("Employer", validators=[Optional(), Length(max=200)])
    employer_appeal_window = StringField(
        "Employer's appeal window", validators=[Optional(), Length(max=40)],
        description="Only if the employer's policy differs from 5 working days, e.g. '10 working days'.")
    workplace = StringField("Workplace", validators=[Optional(), Length(max=200)])
    job_title = StringField("Job title", validators=[Optional(), Length(max=200)])
    manager = StringField("Manager", validators=[Optional(), Length(max=200)])
    access_needs = TextAreaField("Access needs", validators=[Optional(), Length(max=5000)])
    joined_on = DateField("Joined the union on", validators=[Optional()],
                          render_kw={"type": "date"})
    subs_in_order = BooleanField("Subscriptions in order")
    consent_given = BooleanField("The member consents to the union holding this information")
    title = StringField("Case title", validators=[DataRequired("Give the case a title."), Length(max=200)],
                        render_kw={"maxlength": 200})
    issue_arose_on = DateField("The issue arose on", validators=[Optional()], render_kw={"type": "date"})
    workflow = SelectField("Start with", choices=[
        SelectChoice("employer-disciplinary", "Employer disciplinary case"),
        SelectChoice("advice", "Advice only (can become a case later)")])
    rep = SelectField("Rep holding the case", validators=[DataRequired("Choose who holds the case.")])


class ReallocateForm(FlaskForm):
    to = SelectField("Give the case to", validators=[DataRequired("Choose a rep.")])
    keep_current = BooleanField("Add as a second rep (the current rep keeps the case too)")
    reason = TextAreaField("Why", validators=[DataRequired("Say why the case is being reallocated."),
                                              Length(max=2000)])


class RegulatorTrackForm(FlaskForm):
    workflow = SelectField("Regulator", choices=[
        SelectChoice("regulator-ftp-hcpc", "HCPC fitness to practise"),
        SelectChoice("regulator-ftp-nmc", "NMC fitness to practise"),
        SelectChoice("regulator-ftp-gmc", "GMC fitness to practise")])


class NoReferralForm(FlaskForm):
    reason = TextAreaField("Why no regulator referral is expected",
                           validators=[DataRequired("Say why no referral is expected."), Length(max=2000)])


class CaseBreakGlassForm(FlaskForm):
    reason = TextAreaField("Reason for opening this member's file",
                           validators=[DataRequired("Give a reason; it is audited."), Length(max=2000)])
