"""Admin JSON API: buyers' personal data (个人信息, issue 15 §1).

Erasure requests (record, list, approve, reject), the access copy of a buyer's data, the
log of full-phone reveals and buyers' objections to registrations. Each step is logged
(privacy_events; reveals in phone_reveals).
"""
from __future__ import annotations

from flask import current_app, g
from flask.views import MethodView
from marshmallow import Schema, fields, validate

from estate_platform.db import db, utcnow
from estate_platform.errors import ValidationFailed
from estate_platform.phones import mask_phone
from estate_platform.privacy import access, reveals
from estate_platform.privacy import services as privacy
from estate_platform.privacy.models import REQUEST_STATUSES
from estate_platform.registrations.services import RegistrationNotFound
from web_common.api import InputSchema, PlatformBlueprint, QuerySchema

from .callers import api_roles

blp = PlatformBlueprint("admin_privacy_api", __name__,
                        description="个人信息：删除申请（登记、审批、驳回）、数据副本导出、查看报备客户完整号码"
                                    "（须填用途）、完整号码查看日志、客户对报备的异议")

KEEPERS = ("operations", "admin")
AUDITORS = ("admin",)


def _settings() -> privacy.Settings:
    return privacy.Settings.from_config(current_app.config)


class ErasureInputSchema(InputSchema):
    note = fields.String(load_default=None, allow_none=True, validate=validate.Length(max=privacy.NOTE_MAX_LENGTH),
                         metadata={"multiline": True, "description": "来源与核实情况（如：客户来电，已核实身份）"})


class ErasureRejectInputSchema(InputSchema):
    note = fields.String(required=True, validate=validate.Length(min=1, max=privacy.NOTE_MAX_LENGTH),
                         metadata={"multiline": True, "description": "驳回原因（必填）"})


class ErasureRequestSchema(Schema):
    id = fields.Integer()
    buyer_id = fields.Integer()
    buyer_phone = fields.Function(lambda r: None if r.buyer.erased_at else mask_phone(r.buyer.phone),
                                  allow_none=True, metadata={"description": "前三后四；已删除为空"})
    status = fields.String(metadata={"description": "pending 待处理 / erased 已删除 / refused 因保留事由未执行 / "
                                                    "rejected 已驳回"})
    status_label = fields.Function(lambda r: privacy.STATUS_LABELS[r.status])
    channel = fields.String(metadata={"description": "h5 本人申请 / operations 运营代录 / retention 保存期满"})
    hold_code = fields.String(allow_none=True, metadata={
        "description": "未执行的原因：live_deal / open_dispute / open_protection / finance_retention"})
    hold_label = fields.Function(lambda r: privacy.HOLD_LABELS.get(r.hold_code) if r.hold_code else None,
                                 allow_none=True)
    note = fields.String(allow_none=True)
    requested_by_id = fields.Integer(allow_none=True)
    decided_by_id = fields.Integer(allow_none=True)
    decided_at = fields.DateTime(allow_none=True)
    created_at = fields.DateTime()


class ErasureListArgs(QuerySchema):
    status = fields.String(validate=validate.OneOf(REQUEST_STATUSES))
    buyer_id = fields.Integer(validate=validate.Range(min=1, max=2**31 - 1))
    page = fields.Integer(load_default=1, validate=validate.Range(min=1, max=100000))
    per_page = fields.Integer(load_default=30, validate=validate.Range(min=1, max=100))


class ErasurePageSchema(Schema):
    items = fields.List(fields.Nested(ErasureRequestSchema))
    total = fields.Integer()
    page = fields.Integer()
    per_page = fields.Integer()


class PhoneRevealSchema(Schema):
    id = fields.Integer()
    staff_user_id = fields.Integer()
    buyer_id = fields.Integer()
    registration_id = fields.Integer(allow_none=True)
    purpose = fields.String()
    created_at = fields.DateTime()


class PhoneRevealListArgs(QuerySchema):
    staff_user_id = fields.Integer(validate=validate.Range(min=1, max=2**31 - 1))
    buyer_id = fields.Integer(validate=validate.Range(min=1, max=2**31 - 1))
    page = fields.Integer(load_default=1, validate=validate.Range(min=1, max=100000))
    per_page = fields.Integer(load_default=50, validate=validate.Range(min=1, max=200))


class PhoneRevealPageSchema(Schema):
    items = fields.List(fields.Nested(PhoneRevealSchema))
    total = fields.Integer()
    page = fields.Integer()
    per_page = fields.Integer()


class RevealInputSchema(InputSchema):
    purpose = fields.String(required=True, validate=validate.Length(min=1, max=reveals.PURPOSE_MAX_LENGTH),
                            metadata={"description": "查看完整号码的用途（必填，记录在手机号查看日志）"})


class RevealedRegistrationPhoneSchema(Schema):
    registration_id = fields.Integer()
    phone = fields.String(metadata={"description": "完整手机号（本次查看已留痕）"})


class RegistrationObjectionSchema(Schema):
    id = fields.Integer()
    registration_id = fields.Integer()
    buyer_id = fields.Integer()
    consultant_id = fields.Integer()
    reason = fields.String(allow_none=True)
    created_at = fields.DateTime()


class RegistrationObjectionListArgs(QuerySchema):
    page = fields.Integer(load_default=1, validate=validate.Range(min=1, max=100000))
    per_page = fields.Integer(load_default=30, validate=validate.Range(min=1, max=100))


class RegistrationObjectionPageSchema(Schema):
    items = fields.List(fields.Nested(RegistrationObjectionSchema))
    total = fields.Integer()
    page = fields.Integer()
    per_page = fields.Integer()


class BuyerDataSchema(Schema):
    """The access copy (privacy.access.export): each part a list of his rows."""
    generated_at = fields.String()
    buyer = fields.Dict()
    referral_code = fields.String(allow_none=True)
    registrations = fields.List(fields.Dict())
    visits = fields.List(fields.Dict())
    deals = fields.List(fields.Dict())
    handoffs = fields.List(fields.Dict())
    client_cards = fields.List(fields.Dict())
    attributions = fields.List(fields.Dict())
    revisits = fields.List(fields.Dict())
    disputes = fields.List(fields.Dict())
    developer_sales_lists = fields.List(fields.Dict())
    objections = fields.List(fields.Dict())
    privacy_requests = fields.List(fields.Dict())


def _page(items, total, args) -> dict:
    return {"items": items, "total": total, "page": args["page"], "per_page": args["per_page"]}


@blp.route("/buyers/<int:buyer_id>/erasure")
class BuyerErasure(MethodView):
    @api_roles(blp, *KEEPERS)
    @blp.arguments(ErasureInputSchema)
    @blp.response(201, ErasureRequestSchema)
    @blp.refuses(privacy.BuyerNotFound, privacy.BuyerAlreadyErased, privacy.ErasureRequestPending, ValidationFailed)
    def post(self, body, buyer_id):
        """登记购房者的删除申请（如客户来电）；须另行审批后执行"""
        buyer = privacy.get_buyer(db.session, buyer_id)
        return privacy.request_erasure(db.session, buyer, channel="operations", staff=g.staff, note=body.get("note"),
                                       now=utcnow())


@blp.route("/buyers/<int:buyer_id>/data-export")
class BuyerDataExport(MethodView):
    @api_roles(blp, *KEEPERS)
    @blp.response(200, BuyerDataSchema)
    @blp.refuses(privacy.BuyerNotFound)
    def get(self, buyer_id):
        """购房者个人信息副本（JSON，仅其本人的数据；导出留痕），用于答复客户的查阅请求"""
        buyer = privacy.get_buyer(db.session, buyer_id)
        now = utcnow()
        privacy.log_export(db.session, buyer.id, actor_type="staff", actor_id=g.staff.id, now=now)
        return access.export(db.session, buyer, now=now)


@blp.route("/erasure-requests")
class ErasureRequests(MethodView):
    @api_roles(blp, *KEEPERS)
    @blp.arguments(ErasureListArgs, location="query")
    @blp.response(200, ErasurePageSchema)
    def get(self, args):
        """删除申请队列（按状态、购房者筛选，分页；新的在前）"""
        items, total = privacy.list_requests(db.session, status=args.get("status"), buyer_id=args.get("buyer_id"),
                                             page=args["page"], per_page=args["per_page"])
        return _page(items, total, args)


@blp.route("/erasure-requests/<int:erasure_request_id>/approve")
class ErasureApprove(MethodView):
    @api_roles(blp, *KEEPERS)
    @blp.response(200, ErasureRequestSchema)
    @blp.refuses(privacy.ErasureRequestNotFound, privacy.ErasureRequestClosed, privacy.ErasureHeld)
    def post(self, erasure_request_id):
        """批准并执行删除：姓名与手机号在各处匿名化（资金记录保留匿名编号）；存在保留事由时不执行，申请以原因代码结案（409 erasure_held）"""
        return privacy.approve(db.session, erasure_request_id, staff=g.staff, now=utcnow(), settings=_settings())


@blp.route("/erasure-requests/<int:erasure_request_id>/reject")
class ErasureReject(MethodView):
    @api_roles(blp, *KEEPERS)
    @blp.arguments(ErasureRejectInputSchema)
    @blp.response(200, ErasureRequestSchema)
    @blp.refuses(privacy.ErasureRequestNotFound, privacy.ErasureRequestClosed, ValidationFailed)
    def post(self, body, erasure_request_id):
        """驳回删除申请（如无法核实为客户本人），须填原因"""
        return privacy.reject(db.session, erasure_request_id, staff=g.staff, note=body["note"], now=utcnow())


@blp.route("/phone-reveals")
class PhoneReveals(MethodView):
    @api_roles(blp, *AUDITORS)
    @blp.arguments(PhoneRevealListArgs, location="query")
    @blp.response(200, PhoneRevealPageSchema)
    def get(self, args):
        """完整手机号查看日志（按员工、购房者筛选，分页；新的在前）"""
        items, total = reveals.list_reveals(db.session, staff_user_id=args.get("staff_user_id"),
                                            buyer_id=args.get("buyer_id"), page=args["page"],
                                            per_page=args["per_page"])
        return _page(items, total, args)


@blp.route("/registrations/<int:registration_id>/reveal-phone")
class RevealRegistrationPhone(MethodView):
    @api_roles(blp, *KEEPERS)
    @blp.arguments(RevealInputSchema)
    @blp.response(200, RevealedRegistrationPhoneSchema)
    @blp.refuses(ValidationFailed, RegistrationNotFound, reveals.RevealNotAllowed)
    def post(self, body, registration_id):
        """查看报备客户的完整手机号（须填用途）；每次查看都记录在手机号查看日志"""
        phone = reveals.reveal_registration_phone(db.session, g.staff, registration_id, purpose=body["purpose"],
                                                  now=utcnow())
        return {"registration_id": registration_id, "phone": phone}


@blp.route("/registration-objections")
class RegistrationObjections(MethodView):
    @api_roles(blp, *KEEPERS)
    @blp.arguments(RegistrationObjectionListArgs, location="query")
    @blp.response(200, RegistrationObjectionPageSchema)
    def get(self, args):
        """客户对报备提出的异议（收到报备短信后点击链接提交；新的在前）"""
        from estate_platform.privacy import notices
        items, total = notices.list_objections(db.session, page=args["page"], per_page=args["per_page"])
        return _page(items, total, args)
