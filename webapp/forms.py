"""The HTML forms (Flask-WTF, so every one carries a CSRF token), with Chinese validation messages."""

from __future__ import annotations

from flask_wtf import FlaskForm
from wtforms import (
    BooleanField,
    HiddenField,
    MultipleFileField,
    PasswordField,
    RadioField,
    SelectChoice,
    SelectField,
    StringField,
    TextAreaField,
)
from wtforms.validators import DataRequired, InputRequired, Length, Optional, StopValidation

from triage.prediction import OUT_OF_SCOPE
from webapp.desk.accounts import PASSWORD_MIN_CHARS, ROLES
from webapp.desk.feedback import COMMENT_MAX_CHARS
from webapp.desk.following import RATING_COMMENT_MAX_CHARS
from webapp.desk.replies import REPLY_MAX_CHARS
from webapp.desk.reply_templates import NAME_MAX_CHARS as TEMPLATE_NAME_MAX_CHARS
from webapp.desk.tickets import NOTE_MAX_CHARS, STATUSES
from webapp.ticket_input import FieldError, clean_field

# WTForms' own messages (a field without a message of ours: a choice that is not on the list, a
# missing CSRF token), in Chinese; its bundled zh catalogue leaves some of these in English.
_WTFORMS_CHINESE = {
    "Not a valid choice.": "请从列表中选择。",
    "Not a valid choice": "请从列表中选择。",
    "This field is required.": "此项必填。",
    "Invalid input.": "输入无效。",
    "Not a valid integer value.": "请填写整数。",
    "Not a valid decimal value.": "请填写数字。",
    "Not a valid float value.": "请填写数字。",
    "Not a valid date value.": "请填写有效的日期。",
    "Not a valid datetime value.": "请填写有效的日期和时间。",
    "Invalid email address.": "请填写有效的电子邮件地址。",
    "Invalid URL.": "请填写有效的网址。",
    "Field must be at least %(min)d character long.": "至少需要 %(min)d 个字符。",
    "Field must be at least %(min)d characters long.": "至少需要 %(min)d 个字符。",
    "Field cannot be longer than %(max)d character.": "不能超过 %(max)d 个字符。",
    "Field cannot be longer than %(max)d characters.": "不能超过 %(max)d 个字符。",
    "Field must be exactly %(max)d character long.": "须为 %(max)d 个字符。",
    "Field must be exactly %(max)d characters long.": "须为 %(max)d 个字符。",
    "Field must be between %(min)d and %(max)d characters long.": "须为 %(min)d-%(max)d 个字符。",
    "Number must be at least %(min)s.": "不能小于 %(min)s。",
    "Number must be at most %(max)s.": "不能大于 %(max)s。",
    "Number must be between %(min)s and %(max)s.": "须在 %(min)s 到 %(max)s 之间。",
    "Field must be equal to %(other_name)s.": "须与“%(other_name)s”一致。",
    "The CSRF token is missing.": "页面已过期，请刷新后重试。",
    "The CSRF token is invalid.": "页面已过期，请刷新后重试。",
    "The CSRF token has expired.": "页面已过期，请刷新后重试。",
    "The CSRF tokens do not match.": "页面已过期，请刷新后重试。",
    "Invalid CSRF Token.": "页面已过期，请刷新后重试。",
    "CSRF token missing.": "页面已过期，请刷新后重试。",
}


class _ChineseMessages:
    """The gettext WTForms asks for its built-in messages."""

    def gettext(self, string: str) -> str:
        """The Chinese of a built-in message (as it is, when it has none)."""
        return _WTFORMS_CHINESE.get(string, string)

    def ngettext(self, singular: str, plural: str, n: int) -> str:
        """The Chinese of a built-in message with a count."""
        return self.gettext(singular if n == 1 else plural)


class DeskForm(FlaskForm):
    """A posdesk form: CSRF-protected (Flask-WTF), WTForms' own messages in Chinese."""

    class Meta:
        def get_translations(self, form):
            """WTForms' messages in Chinese, whatever the locale configuration."""
            return _ChineseMessages()


STATUS_LABELS = {"new": "新建", "open": "处理中", "pending": "等待商户", "resolved": "已解决", "closed": "已关闭"}
ROLE_LABELS = {"agent": "客服", "editor": "编辑", "admin": "管理员"}


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


class TicketForm(DeskForm):
    """A merchant's request for help (name and phone required here: the desk must reach the merchant)."""

    name = StringField("联系人", validators=[TicketRule("name", required=True)])
    phone = StringField("联系电话", validators=[TicketRule("phone", required=True)])
    merchant_no = StringField("商户号", validators=[TicketRule("merchant_no")])
    terminal_no = StringField("终端号", validators=[TicketRule("terminal_no")])
    email = StringField("电子邮箱", validators=[TicketRule("email")])
    description = TextAreaField("问题描述", validators=[TicketRule("text", required=True)])
    # Set once the merchant has been shown suggested articles (by the page script or a first submit).
    reviewed = HiddenField(default="")
    # The page script's random visitor id (webapp.site_events), when it runs and tracking is allowed.
    visitor = HiddenField(default="")
    # Checked and re-encoded by the view (webapp.desk.attachments.check_photos): at most 3, 5 MB each.
    photos = MultipleFileField("照片（选填）")


class VoteForm(DeskForm):
    """ "这篇文章有帮助吗？": yes or no, with an optional comment."""

    helpful = RadioField(
        "这篇文章有帮助吗？",
        choices=[SelectChoice("yes", "有帮助"), SelectChoice("no", "没有帮助")],
        validators=[InputRequired()],
    )
    comment = TextAreaField("补充说明（选填）", validators=[Optional(), Length(max=COMMENT_MAX_CHARS)])


class LoginForm(DeskForm):
    """A desk login."""

    username = StringField("用户名", validators=[DataRequired("请输入用户名"), Length(max=32)])
    password = PasswordField("密码", validators=[DataRequired("请输入密码"), Length(max=200)])
    next = HiddenField()


class ActionForm(DeskForm):
    """A button that only needs its CSRF token (log out, revoke, enable, disable)."""


class ArticleSourceForm(DeskForm):
    """An article's whole source (YAML front matter and Markdown body), as the editor types it; the
    desk (`webapp.desk.article_edits`) validates it."""

    source = TextAreaField("文章全文（头信息 + Markdown 正文）", validators=[InputRequired("请填写文章全文")])
    # The digest of the source this edit started from: a save over someone else's newer one is refused.
    base = HiddenField(default="")


class NewArticleForm(ArticleSourceForm):
    """A new article: its slug (the file name and URL) and its source."""

    slug = StringField("网址名（slug）", validators=[InputRequired("请填写网址名")])


# What agents and the desk call the out-of-scope outcome.
OUT_OF_SCOPE_NAME = "不是POS问题/其他"


class CategoryForm(DeskForm):
    """Confirm or correct a ticket's category (the choices are the categories, set by the view)."""

    category = SelectField("分类", validators=[DataRequired()])

    def with_categories(self, categories) -> CategoryForm:
        """Offer these categories (`kb.store.Category` values) and the out-of-scope outcome; return the form."""
        self.category.choices = [SelectChoice(c.slug, c.name) for c in categories]
        self.category.choices.append(SelectChoice(OUT_OF_SCOPE, OUT_OF_SCOPE_NAME))
        return self


class StatusForm(DeskForm):
    """Move a ticket to another status."""

    status = SelectField(
        "状态", choices=[SelectChoice(s, STATUS_LABELS[s]) for s in STATUSES], validators=[DataRequired()]
    )


class NoteForm(DeskForm):
    """An internal note on a ticket."""

    note = TextAreaField(
        "内部备注", validators=[DataRequired("备注不能为空"), Length(max=NOTE_MAX_CHARS, message="备注太长")]
    )


class AnswerForm(DeskForm):
    """Mark an article as the ticket's answer."""

    slug = HiddenField(validators=[DataRequired()])


class UserForm(DeskForm):
    """An admin adds a desk account."""

    username = StringField("用户名", validators=[DataRequired("请输入用户名"), Length(max=32)])
    password = PasswordField(
        "初始密码", validators=[DataRequired("请输入密码"), Length(min=PASSWORD_MIN_CHARS, message="密码至少 8 位")]
    )
    role = SelectField("角色", choices=[SelectChoice(r, ROLE_LABELS[r]) for r in ROLES], default="agent")


class PasswordForm(DeskForm):
    """A new password (an admin resetting one, or an agent changing their own)."""

    password = PasswordField(
        "新密码", validators=[DataRequired("请输入新密码"), Length(min=PASSWORD_MIN_CHARS, message="密码至少 8 位")]
    )


class OwnPasswordForm(PasswordForm):
    """An agent changes their own password, proving they know the current one."""

    current = PasswordField("当前密码", validators=[DataRequired("请输入当前密码"), Length(max=200)])


class RoleForm(DeskForm):
    """Change an account's role."""

    role = SelectField("角色", choices=[SelectChoice(r, ROLE_LABELS[r]) for r in ROLES])


class TokenForm(DeskForm):
    """Create an API token for an integration."""

    name = StringField("名称", validators=[DataRequired("请输入名称"), Length(max=40)])


class LookupForm(DeskForm):
    """A merchant looks a ticket up by its number and the phone given on it."""

    number = StringField("工单号", validators=[DataRequired("请填写工单号"), Length(max=24, message="工单号太长")])
    phone = StringField(
        "联系电话", validators=[DataRequired("请填写提交工单时留的电话"), Length(max=24, message="电话太长")]
    )


class MerchantReplyForm(DeskForm):
    """The merchant's reply on the status page: text and photos."""

    body = TextAreaField(
        "补充说明", validators=[DataRequired("请填写回复内容"), Length(max=REPLY_MAX_CHARS, message="回复太长")]
    )
    photos = MultipleFileField("照片（选填）")


class RatingForm(DeskForm):
    """The merchant rates the answer: 1-5 and an optional comment."""

    rating = RadioField(
        "您对这次处理满意吗？",
        choices=[SelectChoice(str(n), f"{n} 分") for n in range(5, 0, -1)],
        validators=[InputRequired("请选择 1 到 5 分")],
    )
    comment = TextAreaField(
        "意见（选填）", validators=[Optional(), Length(max=RATING_COMMENT_MAX_CHARS, message="意见太长")]
    )


class ReplyForm(DeskForm):
    """An agent's public reply (the merchant sees it), optionally with a public article inserted."""

    body = TextAreaField(
        "公开回复", validators=[DataRequired("回复不能为空"), Length(max=REPLY_MAX_CHARS, message="回复太长")]
    )
    article = SelectField("插入文章", choices=[SelectChoice("", "不插入文章")], validate_choice=False)
    asks_info = BooleanField("需要商户补充信息（发送后状态改为“等待商户”）")


class ReplyTemplateForm(DeskForm):
    """An admin adds or edits a reply template (the category choices are set by the view)."""

    name = StringField("名称", validators=[DataRequired("请填写名称"), Length(max=TEMPLATE_NAME_MAX_CHARS)])
    category = SelectField("适用分类", choices=[SelectChoice("", "全部分类")], validate_choice=False)
    body = TextAreaField(
        "内容", validators=[DataRequired("请填写内容"), Length(max=REPLY_MAX_CHARS, message="内容太长")]
    )


class WebhookForm(DeskForm):
    """Add a webhook: its URL, and a secret (generated when left empty)."""

    url = StringField("接收地址", validators=[DataRequired("请填写接收地址"), Length(max=500, message="地址太长")])
    secret = StringField(
        "签名密钥", validators=[Optional(), Length(min=16, max=200, message="密钥需要 16 到 200 个字符")]
    )
