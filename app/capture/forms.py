"""The "Log a reported post" form and the suggestion decision form. They only collect input; the
services check it (app/posts.py, app/services/intake.py) and their messages are shown against each field."""

from __future__ import annotations

from datetime import UTC, datetime

from flask_wtf import FlaskForm
from flask_wtf.file import MultipleFileField
from wtforms import (
    FieldList,
    Form,
    FormField,
    HiddenField,
    SelectChoice,
    SelectField,
    SelectMultipleField,
    StringField,
    TextAreaField,
)
from wtforms.validators import DataRequired, Length, Optional

from app.models.evidence import REPORT_CHANNELS
from app.models.incidents import SEVERITIES
from app.models.people import PLATFORMS, PersonRole
from app.policy import Catalogues
from app.timing import LONDON

# Channels a person reports through; e-mail, import and API reports arrive by their own routes.
FORM_CHANNELS = {key: label for key, label in REPORT_CHANNELS.items() if key not in ("email", "import", "api")}
CAPTURE_WORKFLOWS = ("problem-solving", "content-removal")
HANDLE_ROWS = 3


class HandleForm(Form):
    """One of the author's handles (a subform: the outer form carries the CSRF token)."""

    platform = SelectField("Platform", choices=[SelectChoice("", "Choose…")]
                           + [SelectChoice(k, v) for k, v in PLATFORMS.items()], validate_choice=False)
    handle = StringField("Handle", validators=[Optional(), Length(max=200)])


class CaptureForm(FlaskForm):
    channel = SelectField("Reported how", choices=[SelectChoice(k, v) for k, v in FORM_CHANNELS.items()],
                          validators=[DataRequired("Say how it was reported.")])
    reporter = StringField("Reported by", validators=[Optional(), Length(max=200)],
                           description="The member's or colleague's name, or the monitoring tool.")
    platform = SelectField("Platform", choices=[SelectChoice(k, v) for k, v in PLATFORMS.items()])
    url = StringField("Post's address (URL)", validators=[Length(max=2000)],
                      description="Copy it from the browser's address bar, starting https://.")
    platform_post_id = StringField("Platform post id", validators=[Optional(), Length(max=128)],
                                   description="Filled in from the address when it holds one; give it only if "
                                               "the address does not.")
    author_handle = StringField("Author's handle", validators=[Optional(), Length(max=200)],
                                description="The account name the post was made from, like @dr_smith.")
    posted_at = StringField("Posted at (UK time)", validators=[Optional()], render_kw={"type": "datetime-local"})
    text = TextAreaField("The post's text", validators=[Optional(), Length(max=50000)],
                         description="Paste it exactly as posted; it is stored with its SHA-256.")
    files = MultipleFileField("Screenshots or files",
                              description="PNG, JPEG, GIF, WebP, PDF or plain text, up to 20 MB each. Each is "
                                          "stored with its SHA-256.")
    person = SelectField("Author already on file", validate_choice=False)
    subject_name = StringField("New author's name", validators=[Optional(), Length(max=200)])
    subject_role = SelectField("New author's role",
                               choices=[SelectChoice(r.value, r.value.capitalize()) for r in PersonRole])
    handles = FieldList(FormField(HandleForm), min_entries=HANDLE_ROWS, max_entries=HANDLE_ROWS)
    clauses = SelectMultipleField("Clauses suspected", validate_choice=False, render_kw={"size": 8})
    workflow = SelectField("Workflow", validate_choice=False)
    severity = SelectField("Severity", choices=[SelectChoice(s, s.capitalize()) for s in SEVERITIES],
                           default="medium")
    title = StringField("Title", validators=[Optional(), Length(max=200)],
                        description="Optional: made from the platform and author when left blank.")

    def set_choices(self, catalogues: Catalogues, workflows: list[tuple[str, str]],
                    people: list[tuple[int, str]]) -> None:
        self.clauses.choices = [
            SelectChoice(c.key, f"{c.number} {c.title}", optgroup=catalogues.by_key[c.catalogue].title)
            for c in catalogues.all_current()
        ]
        self.workflow.choices = [SelectChoice(key, title) for key, title in workflows]
        self.person.choices = [SelectChoice("", "— Someone new, or not known yet (fill in below) —")] + [
            SelectChoice(str(id_), label) for id_, label in people
        ]


def parse_posted_at(value: str | None) -> datetime | None:
    """A datetime-local value, read as UK time, in UTC; ValueError with a message when it is not one."""
    text = (value or "").strip()
    if not text:
        return None
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise ValueError("Give the date and time as shown on the post, like 2026-03-01 14:30.") from None
    if moment.tzinfo is not None:
        raise ValueError("Give the UK date and time without a zone.")
    if not 1990 <= moment.year <= 2100:
        raise ValueError("That date is not one a post could have gone up; check the year.")
    return moment.replace(tzinfo=LONDON).astimezone(UTC)


class DecisionForm(FlaskForm):
    """Accept or reject one suggestion; ``version`` is the incident's version when the page was loaded."""

    suggestion = HiddenField(validators=[DataRequired()])
    version = HiddenField()
