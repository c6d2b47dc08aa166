"""Schemas of the admin JSON API (the staff's view: full phone numbers)."""
from __future__ import annotations

from marshmallow import Schema, fields, validate

from estate_platform.consultants.models import CONSULTANT_STATUSES
from estate_platform.consultants.services import KIND_LABELS, STATUS_LABELS
from estate_platform.identity.models import STAFF_ROLES
from estate_platform.identity.staff import ACTION_LABELS as STAFF_ACTION_LABELS
from estate_platform.phones import national
from web_common.api import InputSchema, QuerySchema

from .roles import ROLE_LABELS


class StaffLoginSchema(InputSchema):
    username = fields.String(required=True, validate=validate.Length(min=1, max=50))
    password = fields.String(required=True, validate=validate.Length(min=1, max=200))


class StaffSchema(Schema):
    id = fields.Integer()
    username = fields.String()
    display_name = fields.String()
    role = fields.String()
    role_label = fields.Function(lambda s: ROLE_LABELS[s.role])


class StaffTokenSchema(Schema):
    token = fields.String()
    expires_at = fields.DateTime()
    staff = fields.Nested(StaffSchema)


class ConsultantListArgs(QuerySchema):
    status = fields.String(validate=validate.OneOf(CONSULTANT_STATUSES))
    q = fields.String(validate=validate.Length(max=50))
    page = fields.Integer(load_default=1, validate=validate.Range(min=1))
    per_page = fields.Integer(load_default=20, validate=validate.Range(min=1, max=100))


class InviterSchema(Schema):
    consultant_id = fields.Integer(attribute="inviter_id")
    name = fields.Function(lambda e: e.inviter.name)
    invited_at = fields.DateTime(attribute="valid_from")


class AdminConsultantSchema(Schema):
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
    phone_verified_at = fields.DateTime(allow_none=True, metadata={"description": "手机号短信验证时间；null 为未验证"})


class ConsultantPageSchema(Schema):
    items = fields.List(fields.Nested(AdminConsultantSchema))
    total = fields.Integer()
    page = fields.Integer()
    per_page = fields.Integer()


class InviterInputSchema(InputSchema):
    invite_code = fields.String(required=True, validate=validate.Length(min=4, max=12), metadata={"description": "邀请人的邀请码"})
    reason = fields.String(required=True, validate=validate.Length(min=1, max=500), metadata={"multiline": True})


class ReasonSchema(InputSchema):
    reason = fields.String(load_default=None, allow_none=True, validate=validate.Length(max=500), metadata={"multiline": True})


class AgreementInputSchema(InputSchema):
    title = fields.String(required=True, validate=validate.Length(min=1, max=200))
    text = fields.String(required=True, validate=validate.Length(min=20, max=100_000), metadata={"multiline": True})
    penalty_fixed_cents = fields.Integer(load_default=None, allow_none=True, strict=True,
                                         validate=validate.Range(min=0, max=10 ** 12), metadata={
                                             "description": "平台默认违约金：每宗固定金额（分）；不填沿用当前版本"})
    penalty_multiple_bps = fields.Integer(load_default=None, allow_none=True, strict=True,
                                          validate=validate.Range(min=0, max=1_000_000), metadata={
                                              "description": "平台默认违约金：所涉佣金的倍数（基点，20000 = 2 倍）；"
                                                             "违约金取两者较高者，条款写入协议正文；不填沿用当前版本"})


class AgreementSchema(Schema):
    id = fields.Integer()
    version = fields.Integer()
    title = fields.String()
    text = fields.String()
    sha256 = fields.String()
    penalty_fixed_cents = fields.Integer()
    penalty_multiple_bps = fields.Integer()
    published_at = fields.DateTime()


# --- staff management (/admin/api/v1/staff, admins only) ---------------------------------------

class StaffListArgs(QuerySchema):
    role = fields.String(validate=validate.OneOf(STAFF_ROLES))
    active = fields.Boolean(metadata={"description": "true 仅在用账号，false 仅已停用账号"})
    q = fields.String(validate=validate.Length(max=50), metadata={"description": "按用户名或姓名搜索"})
    page = fields.Integer(load_default=1, validate=validate.Range(min=1))
    per_page = fields.Integer(load_default=20, validate=validate.Range(min=1, max=100))


class StaffAccountSchema(Schema):
    id = fields.Integer(attribute="user.id")
    username = fields.String(attribute="user.username")
    display_name = fields.String(attribute="user.display_name")
    role = fields.String(attribute="user.role")
    role_label = fields.Function(lambda a: ROLE_LABELS[a.user.role])
    developer_id = fields.Integer(attribute="user.developer_id", allow_none=True)
    is_active = fields.Boolean(attribute="user.is_active")
    created_at = fields.DateTime(attribute="user.created_at")
    last_login_at = fields.DateTime(attribute="user.last_login_at", allow_none=True)
    login_failures = fields.Integer(metadata={"description": "近期连续登录失败次数（成功登录或解除限制后清零）"})
    login_blocked_until = fields.DateTime(allow_none=True, metadata={"description": "在此之前该用户名的登录被限速"})


class StaffAccountPageSchema(Schema):
    items = fields.List(fields.Nested(StaffAccountSchema))
    total = fields.Integer()
    page = fields.Integer()
    per_page = fields.Integer()


class StaffCreateSchema(InputSchema):
    username = fields.String(required=True, validate=validate.Length(min=2, max=50),
                             metadata={"description": "小写字母、数字或 . _ -（大写字母会转为小写）"})
    display_name = fields.String(required=True, validate=validate.Length(min=1, max=50))
    role = fields.String(required=True, validate=validate.OneOf(STAFF_ROLES))
    developer_id = fields.Integer(load_default=None, allow_none=True, strict=True, validate=validate.Range(min=1),
                                  metadata={"description": "仅案场人员（site_staff）必填"})
    password = fields.String(required=True, load_only=True, validate=validate.Length(max=200),
                             metadata={"description": "至少 12 个字符，不能是常见密码，不能包含用户名"})


class StaffRoleSchema(InputSchema):
    role = fields.String(required=True, validate=validate.OneOf(STAFF_ROLES))
    developer_id = fields.Integer(load_default=None, allow_none=True, strict=True, validate=validate.Range(min=1))


class StaffPasswordSchema(InputSchema):
    password = fields.String(required=True, load_only=True, validate=validate.Length(max=200),
                             metadata={"description": "新密码：至少 12 个字符，不能是常见密码，不能包含用户名"})


class StaffAuditArgs(QuerySchema):
    staff_id = fields.Integer(validate=validate.Range(min=1), metadata={"description": "只看对该员工的操作"})
    page = fields.Integer(load_default=1, validate=validate.Range(min=1))
    per_page = fields.Integer(load_default=50, validate=validate.Range(min=1, max=200))


class StaffRefSchema(Schema):
    id = fields.Integer()
    username = fields.String()
    display_name = fields.String()


class StaffAuditEntrySchema(Schema):
    id = fields.Integer()
    action = fields.String()
    action_label = fields.Function(lambda e: STAFF_ACTION_LABELS[e.action])
    channel = fields.String(metadata={"description": "api / page / cli"})
    actor = fields.Nested(StaffRefSchema, allow_none=True, metadata={"description": "命令行操作时为空"})
    target = fields.Nested(StaffRefSchema)
    details = fields.Dict()
    created_at = fields.DateTime()


class StaffAuditPageSchema(Schema):
    items = fields.List(fields.Nested(StaffAuditEntrySchema))
    total = fields.Integer()
    page = fields.Integer()
    per_page = fields.Integer()
