"""Request and response schemas of the mini-program API (the consultant's view)."""
from __future__ import annotations

from marshmallow import Schema, fields, validate

from estate_platform.consultants.models import CONSULTANT_KINDS
from estate_platform.consultants.services import KIND_LABELS, STATUS_LABELS
from estate_platform.phones import PHONE_INPUT_MAX_LENGTH, national
from web_common.api import InputSchema


class WechatLoginSchema(InputSchema):
    code = fields.String(required=True, validate=validate.Length(min=1, max=128),
                         metadata={"description": "wx.login() 返回的 code；本地环境可用 dev:<openid>"})


class SmsSendSchema(InputSchema):
    phone = fields.String(required=True, validate=validate.Length(max=PHONE_INPUT_MAX_LENGTH),
                          metadata={"description": "中国大陆手机号，可带空格、横线、+86，全角数字亦可"})


class SmsSendResultSchema(Schema):
    sent = fields.Boolean()
    expires_in_seconds = fields.Integer()


class SmsVerifySchema(InputSchema):
    phone = fields.String(required=True, validate=validate.Length(max=PHONE_INPUT_MAX_LENGTH),
                          metadata={"description": "中国大陆手机号，可带空格、横线、+86，全角数字亦可"})
    code = fields.String(required=True, validate=validate.Regexp(r"^\d{6}$"))


class WechatUserSchema(Schema):
    id = fields.Integer()
    openid = fields.String()
    consultant_id = fields.Integer(allow_none=True, metadata={"description": "尚未申请顾问时为 null"})
    consultant_status = fields.String(allow_none=True)


class BuyerSchema(Schema):
    id = fields.Integer()
    phone = fields.Function(lambda b: national(b.phone))
    name = fields.String(allow_none=True)


class TokenSchema(Schema):
    token = fields.String()
    expires_at = fields.DateTime()


class WechatTokenSchema(TokenSchema):
    user = fields.Nested(WechatUserSchema)


class BuyerTokenSchema(TokenSchema):
    buyer = fields.Nested(BuyerSchema)


class ApplicationSchema(InputSchema):
    """Types and sizes only; the service checks content and reports every bad field at once."""
    name = fields.String(required=True, validate=validate.Length(max=50))
    phone = fields.String(required=True, validate=validate.Length(max=PHONE_INPUT_MAX_LENGTH),
                          metadata={"description": "中国大陆手机号"})
    city = fields.String(required=True, validate=validate.Length(max=50))
    kind = fields.String(required=True, validate=validate.OneOf(CONSULTANT_KINDS),
                         metadata={"description": "company 公司顾问 / store 门店经纪人 / independent 独立经纪人"})
    company_name = fields.String(load_default=None, allow_none=True, validate=validate.Length(max=100))
    inviter_code = fields.String(load_default=None, allow_none=True, validate=validate.Length(min=4, max=12),
                                 metadata={"description": "邀请人的邀请码（选填）"})
    phone_code = fields.String(load_default=None, allow_none=True, validate=validate.Length(max=10), metadata={
        "description": "发到该手机号的 6 位短信验证码（先调用 /auth/sms/send）：填写即完成手机号验证；"
                       "不填则须稍后在 /consultants/me/phone/verify 验证，验证前该手机号不能用于登录"})


class InviteCodeSchema(InputSchema):
    invite_code = fields.String(required=True, validate=validate.Length(min=4, max=12))


class InviterSchema(Schema):
    consultant_id = fields.Integer(attribute="inviter_id")
    name = fields.Function(lambda edge: edge.inviter.name)
    invited_at = fields.DateTime(attribute="valid_from")


class ConsultantSchema(Schema):
    """The consultant's own profile. Only ever dumped for its owner."""
    id = fields.Integer()
    name = fields.String()
    phone = fields.Function(lambda c: national(c.phone))
    city = fields.String()
    kind = fields.String()
    kind_label = fields.Function(lambda c: KIND_LABELS[c.kind])
    company_name = fields.String(allow_none=True)
    status = fields.String()
    status_label = fields.Function(lambda c: STATUS_LABELS[c.status])
    status_reason = fields.String(allow_none=True)
    invite_code = fields.String()
    inviter = fields.Nested(InviterSchema, attribute="invited_by", allow_none=True)
    created_at = fields.DateTime()
    approved_at = fields.DateTime(allow_none=True)
    phone_verified = fields.Function(lambda c: c.phone_verified_at is not None, metadata={
        "description": "手机号是否已通过短信验证；false 时请提示验证（发送 /consultants/me/phone/send，"
                       "校验 /consultants/me/phone/verify），验证前该手机号不能用于登录或确认提现账户变更"})


class PhoneCodeSchema(InputSchema):
    code = fields.String(required=True, validate=validate.Length(min=1, max=10),
                         metadata={"description": "发到本人资料中手机号的 6 位短信验证码"})


class InviteCardSchema(Schema):
    invite_code = fields.String()
    share_path = fields.String()
    share_text = fields.String()


class AgreementSchema(Schema):
    version = fields.Integer()
    title = fields.String()
    text = fields.String()
    sha256 = fields.String(metadata={"description": "text 的 UTF-8 字节的 SHA-256，签署时原样回传"})
    published_at = fields.DateTime()
    signed = fields.Boolean(metadata={"description": "调用者是否已签署此版本"})


class SignSchema(InputSchema):
    version = fields.Integer(required=True, strict=True, validate=validate.Range(min=1))
    sha256 = fields.String(required=True, validate=validate.Regexp(r"^[0-9a-fA-F]{64}$"))


class SignatureSchema(Schema):
    id = fields.Integer()
    version = fields.Integer()
    text_sha256 = fields.String()
    signed_at = fields.DateTime()
    ip = fields.String()
    user_agent = fields.String()
