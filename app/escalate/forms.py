"""The two Escalate forms. They only collect input; the escalation service checks it."""

from __future__ import annotations

from flask_wtf import FlaskForm
from flask_wtf.file import FileField
from wtforms import HiddenField, SelectChoice, SelectField, StringField, TextAreaField
from wtforms.validators import Length, Optional

from app.models.people import PLATFORMS
from app.services.escalation import CONTACT_METHODS

SCREENSHOT_HINT = "Optional. PNG, JPEG, GIF, WebP or PDF, up to 20 MB."


class TagForm(FlaskForm):
    kind = HiddenField(default="tag")
    link = StringField("Link to the message", validators=[Optional(), Length(max=2000)],
                       description="Copy it from the app's Share button or the browser's address bar.",
                       render_kw={"inputmode": "url", "autocomplete": "off", "autocapitalize": "off"})
    text = TextAreaField("Or paste what it said", validators=[Optional(), Length(max=20000)],
                         description="Paste the text if you have no link, or as well as the link.")
    platform = SelectField("Where was it?", choices=[SelectChoice(k, v) for k, v in PLATFORMS.items()], default="x")
    screenshot = FileField("Screenshot", description=SCREENSHOT_HINT)


class PressForm(FlaskForm):
    kind = HiddenField(default="press")
    outlet = StringField("Outlet", validators=[Optional(), Length(max=200)],
                         description="The newspaper, programme, magazine or site.")
    journalist = StringField("Journalist", validators=[Optional(), Length(max=200)], render_kw={"autocomplete": "off"})
    deadline = StringField("Their deadline (UK time)", validators=[Optional()], render_kw={"type": "datetime-local"},
                           description="Optional: when they want an answer by.")
    contact_method = SelectField("How did they contact you?",
                                 choices=[SelectChoice("", "Choose…")] + [SelectChoice(k, v)
                                                                         for k, v in CONTACT_METHODS.items()],
                                 validate_choice=False)
    asked = TextAreaField("What did they ask?", validators=[Optional(), Length(max=20000)],
                          description="Their questions, in their words if you have them.")
    screenshot = FileField("Screenshot", description=SCREENSHOT_HINT)
