"""The HTML forms (Flask-WTF, so every one carries a CSRF token), with Chinese validation messages."""

from __future__ import annotations

from flask_wtf import FlaskForm
from wtforms import HiddenField, PasswordField, RadioField, SelectChoice, SelectField, StringField, TextAreaField
from wtforms.validators import DataRequired, InputRequired, Length, Optional, StopValidation

from triage.prediction import OUT_OF_SCOPE
from webapp.desk.accounts import PASSWORD_MIN_CHARS, ROLES
from webapp.desk.feedback import COMMENT_MAX_CHARS
from webapp.desk.tickets import NOTE_MAX_CHARS, STATUSES
from webapp.ticket_input import FieldError, clean_field

STATUS_LABELS = {"new": "新建", "open": "处理中", "pending": "等待商户", "resolved": "已解决"}
ROLE_LABELS = {"agent": "客服", "admin": "管理员"}


class TicketRule:
    """Validates one ticket field by the shared schema (`webapp.ticket_input`), so that the form and
    the API accept exactly the same input; the field's data becomes the trimmed value."""

    def __init__(self, field: str, required: bool = False) -> None:
        self.field = field
        self.required = required
        self.field_flags = {"required": True} if required else {"optional": True}

    def __call__(self, form: FlaskForm, field) -> None:
        try:
            field.data = clean_field(self.field, field.data, self.required)
        except FieldError as e:
            raise StopValidation(e.message) from None


class TicketForm(FlaskForm):
    """A merchant's request for help (name and phone required here: the desk must reach the merchant)."""

    name = StringField("联系人", validators=[TicketRule("name", required=True)])
    phone = StringField("联系电话", validators=[TicketRule("phone", required=True)])
    merchant_no = StringField("商户号", validators=[TicketRule("merchant_no")])
    terminal_no = StringField("终端号", validators=[TicketRule("terminal_no")])
    description = TextAreaField("问题描述", validators=[TicketRule("text", required=True)])
    # Set once the merchant has been shown suggested articles (by the page script or a first submit).
    reviewed = HiddenField(default="")


class VoteForm(FlaskForm):
    """ "这篇文章有帮助吗？": yes or no, with an optional comment."""

    helpful = RadioField(
        "这篇文章有帮助吗？",
        choices=[SelectChoice("yes", "有帮助"), SelectChoice("no", "没有帮助")],
        validators=[InputRequired()],
    )
    comment = TextAreaField("补充说明（选填）", validators=[Optional(), Length(max=COMMENT_MAX_CHARS)])


class LoginForm(FlaskForm):
    """A desk login."""

    username = StringField("用户名", validators=[DataRequired("请输入用户名"), Length(max=32)])
    password = PasswordField("密码", validators=[DataRequired("请输入密码"), Length(max=200)])
    next = HiddenField()


class ActionForm(FlaskForm):
    """A button that only needs its CSRF token (log out, revoke, enable, disable)."""


# What agents and the desk call the out-of-scope outcome.
OUT_OF_SCOPE_NAME = "不是POS问题/其他"


class CategoryForm(FlaskForm):
    """Confirm or correct a ticket's category (the choices are the categories, set by the view)."""

    category = SelectField("分类", validators=[DataRequired()])

    def with_categories(self, categories) -> CategoryForm:
        """Offer these categories (`kb.store.Category` values) and the out-of-scope outcome; return the form."""
        self.category.choices = [SelectChoice(c.slug, c.name) for c in categories]
        self.category.choices.append(SelectChoice(OUT_OF_SCOPE, OUT_OF_SCOPE_NAME))
        return self


class StatusForm(FlaskForm):
    """Move a ticket to another status."""

    status = SelectField(
        "状态", choices=[SelectChoice(s, STATUS_LABELS[s]) for s in STATUSES], validators=[DataRequired()]
    )


class NoteForm(FlaskForm):
    """An internal note on a ticket."""

    note = TextAreaField(
        "内部备注", validators=[DataRequired("备注不能为空"), Length(max=NOTE_MAX_CHARS, message="备注太长")]
    )


class AnswerForm(FlaskForm):
    """Mark an article as the ticket's answer."""

    slug = HiddenField(validators=[DataRequired()])


class UserForm(FlaskForm):
    """An admin adds a desk account."""

    username = StringField("用户名", validators=[DataRequired("请输入用户名"), Length(max=32)])
    password = PasswordField(
        "初始密码", validators=[DataRequired("请输入密码"), Length(min=PASSWORD_MIN_CHARS, message="密码至少 8 位")]
    )
    role = SelectField("角色", choices=[SelectChoice(r, ROLE_LABELS[r]) for r in ROLES], default="agent")


class PasswordForm(FlaskForm):
    """A new password (an admin resetting one, or an agent changing their own)."""

    password = PasswordField(
        "新密码", validators=[DataRequired("请输入新密码"), Length(min=PASSWORD_MIN_CHARS, message="密码至少 8 位")]
    )


class OwnPasswordForm(PasswordForm):
    """An agent changes their own password, proving they know the current one."""

    current = PasswordField("当前密码", validators=[DataRequired("请输入当前密码"), Length(max=200)])


class RoleForm(FlaskForm):
    """Change an account's role."""

    role = SelectField("角色", choices=[SelectChoice(r, ROLE_LABELS[r]) for r in ROLES])


class TokenForm(FlaskForm):
    """Create an API token for an integration."""

    name = StringField("名称", validators=[DataRequired("请输入名称"), Length(max=40)])
