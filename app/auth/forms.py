from flask_wtf import FlaskForm
from wtforms import EmailField, HiddenField, PasswordField, StringField
from wtforms.validators import DataRequired, EqualTo, Length


class LoginForm(FlaskForm):
    email = EmailField("E-mail address", validators=[DataRequired("Enter your e-mail address."), Length(max=254)],
                       render_kw={"autocomplete": "username", "autofocus": True})
    password = PasswordField("Password", validators=[DataRequired("Enter your password."), Length(max=256)],
                             render_kw={"autocomplete": "current-password"})


class ChangePasswordForm(FlaskForm):
    current = PasswordField("Current password", validators=[DataRequired("Enter your current password.")],
                            render_kw={"autocomplete": "current-password"})
    new = PasswordField("New password (at least 12 characters)",
                        validators=[DataRequired("Enter a new password."), Length(max=256)],
                        render_kw={"autocomplete": "new-password"})
    confirm = PasswordField("Repeat the new password",
                            validators=[DataRequired("Repeat the new password."),
                                        EqualTo("new", "The two new passwords differ.")],
                            render_kw={"autocomplete": "new-password"})


class CodeForm(FlaskForm):
    code = StringField("6-digit code from your authenticator app",
                       validators=[DataRequired("Enter the code."), Length(max=10)],
                       render_kw={"autocomplete": "one-time-code", "inputmode": "numeric", "autofocus": True})


class EnrolForm(CodeForm):
    secret = HiddenField()
