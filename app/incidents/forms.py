"""Forms for opening incidents and for each transition (built from the fields the workflow declares).

The transition form only collects input and carries the CSRF token; the workflow engine checks the
values (one home for those rules) and its messages are shown against each field.
"""

from __future__ import annotations

from typing import Any

from flask_wtf import FlaskForm
from flask_wtf.file import FileField, FileRequired
from wtforms import (
    BooleanField,
    Field,
    HiddenField,
    SelectChoice,
    SelectField,
    SelectMultipleField,
    StringField,
    TextAreaField,
)
from wtforms.validators import DataRequired, Length, Optional

from app.models.incidents import SEVERITIES
from app.policy import Catalogues
from app.timing import CALENDAR_NAMES
from app.workflow import TransitionDef, WorkflowDef


class OpenIncidentForm(FlaskForm):
    workflow = SelectField("Workflow", validators=[DataRequired("Choose a workflow.")])
    title = StringField("Title", validators=[DataRequired("Give the incident a title."), Length(max=200)],
                        render_kw={"maxlength": 200})
    summary = TextAreaField("Summary", validators=[Optional(), Length(max=20000)])
    severity = SelectField("Severity", choices=[SelectChoice(s, s.capitalize()) for s in SEVERITIES], default="medium")
    calendar = SelectField("Bank-holiday calendar",
                           choices=[SelectChoice(c, c.replace("-", " ").title()) for c in CALENDAR_NAMES])
    restricted = BooleanField("Restricted (special-category information: only the assignee and "
                              "administrators may see it)")

    def set_workflows(self, definitions: list[WorkflowDef]) -> None:
        self.workflow.choices = [SelectChoice(d.key, d.title) for d in definitions]


class TransitionFormBase(FlaskForm):
    version = HiddenField()
    comment = TextAreaField("Comment", validators=[Optional(), Length(max=20000)])


def _field_for(spec: Any, catalogues: Catalogues) -> Field:
    kwargs: dict[str, Any] = {"label": spec.label, "description": spec.help,
                              "render_kw": {"required": spec.required and spec.type != "boolean"}}
    match spec.type:
        case "long_text":
            return TextAreaField(**kwargs)
        case "date":
            kwargs["render_kw"]["type"] = "date"
            return StringField(**kwargs)
        case "datetime":
            kwargs["render_kw"]["type"] = "datetime-local"
            return StringField(**kwargs)
        case "choice":
            choices = [SelectChoice("", "Choose…")] if not spec.required else []
            choices += [SelectChoice(c, c.replace("_", " ").capitalize()) for c in spec.choices]
            return SelectField(choices=choices, validate_choice=False, **kwargs)
        case "clause_list":
            kwargs["render_kw"]["size"] = 8
            choices = [SelectChoice(c.key, f"{c.number} {c.title}", optgroup=catalogues.by_key[c.catalogue].title)
                       for c in catalogues.all_current()]
            return SelectMultipleField(choices=choices, validate_choice=False, **kwargs)
        case "boolean":
            return BooleanField(**kwargs)
        case _:
            return StringField(**kwargs)


def transition_form(transition: TransitionDef, catalogues: Catalogues, **kwargs: Any) -> TransitionFormBase:
    """A form class made for this transition's declared fields, prefixed so several fit on one page."""

    class TransitionForm(TransitionFormBase):
        pass

    for spec in transition.fields:
        setattr(TransitionForm, f"f_{spec.key}", _field_for(spec, catalogues))
    TransitionForm.comment = TextAreaField(
        "Comment (required)" if transition.comment == "required" else "Comment",
        validators=[Optional(), Length(max=20000)],
    )
    if transition.comment == "none":
        TransitionForm.comment = HiddenField()
    return TransitionForm(prefix=transition.key, **kwargs)


def submitted_values(form: TransitionFormBase, transition: TransitionDef) -> dict[str, Any]:
    return {spec.key: getattr(form, f"f_{spec.key}").data for spec in transition.fields}


class ExtensionForm(FlaskForm):
    version = HiddenField()
    new_due = StringField("New due date", validators=[Optional()], render_kw={"type": "date"},
                          description="Either a new date…")
    extend_by = StringField("…or extend by", validators=[Optional(), Length(max=40)],
                            description="For example: 5 working days, 2 weeks, 24 hours")
    reason = TextAreaField("Why it was agreed", validators=[DataRequired("Say why the extension was agreed."),
                                                            Length(max=5000)])
    agreed_by = StringField("Agreed by", validators=[DataRequired("Say who agreed it."), Length(max=200)],
                            description="For example: Jane Smith, HR adviser at the employer")


class BreakGlassForm(FlaskForm):
    reason = TextAreaField("Why you need to open this restricted file",
                           validators=[DataRequired("Give a reason."), Length(min=10, max=2000)],
                           description="For example: subject access request SAR-2026-014 needs this file reviewed.")


class ShareForm(FlaskForm):
    email = StringField("Share with (e-mail address)", validators=[DataRequired("Give an e-mail address."),
                                                                   Length(max=254)])
    reason = TextAreaField("Reason", validators=[DataRequired("Give a reason."), Length(min=10, max=2000)])


class EvidenceForm(FlaskForm):
    file = FileField("Screenshot or file", validators=[FileRequired("Choose a file to upload.")],
                     description="PNG, JPEG, GIF, WebP, PDF or plain text, up to 20 MB. It is stored with its "
                                 "SHA-256 and served back only as a download.")
    description = StringField("What it shows", validators=[Optional(), Length(max=500)])


class BulkAssignForm(FlaskForm):
    """The queue's bulk assign: the ticked incidents (checkboxes named "incident") go to one person.
    The select's options are built by the page from the people who can hold cases."""

    assignee = StringField("Assign the ticked incidents to", validators=[DataRequired("Choose who."), Length(max=12)])
