"""转介（二次分配）：发起、接收、拒绝 (DESIGN §2, §3)."""
from __future__ import annotations

from flask import g
from flask.views import MethodView
from marshmallow import Schema, fields, validate

from estate_platform.consultants.guard import ConsultantInactive, ContractUnsigned
from estate_platform.consultants.services import NotYetApplied
from estate_platform.db import db, utcnow
from estate_platform.errors import ValidationFailed
from estate_platform.handoffs import services as handoffs
from estate_platform.phones import PHONE_INPUT_MAX_LENGTH
from estate_platform.projects.services import ProjectNotAccepting, ProjectNotFound
from estate_platform.registrations import services as registrations
from web_common.api import InputSchema, PlatformBlueprint, QuerySchema

from . import callers

blp = PlatformBlueprint("handoffs", __name__, description="转介（二次分配）：发起、接收、拒绝")

GUARD = (NotYetApplied, ConsultantInactive, ContractUnsigned)
# Accepting registers the buyer for the receiver: every registration refusal can come back.
REGISTRATION_REFUSALS = (ProjectNotAccepting, registrations.AlreadyRegistered, registrations.BuyerIsSelf,
                         registrations.BuyerIsStaff, registrations.BuyerKnownToDeveloper,
                         registrations.DailyLimitReached, registrations.ReregisterCooldown)


class HandoffInputSchema(InputSchema):
    project_id = fields.Integer(required=True, strict=True, validate=validate.Range(min=1))
    buyer_name = fields.String(required=True, validate=validate.Length(max=50))
    buyer_phone = fields.String(required=True, validate=validate.Length(max=PHONE_INPUT_MAX_LENGTH),
                                metadata={"description": "客户手机号（中国大陆）"})
    to_consultant_id = fields.Integer(load_default=None, allow_none=True, strict=True,
                                      validate=validate.Range(min=1),
                                      metadata={"description": "接收的顾问；不填则交给平台客户池按城市、评分和负载分配"})
    note = fields.String(load_default=None, allow_none=True, validate=validate.Length(max=500),
                         metadata={"multiline": True, "description": "给接收顾问的客户说明"})


class HandoffDeclineSchema(InputSchema):
    reason = fields.String(load_default=None, allow_none=True, validate=validate.Length(max=200),
                           metadata={"multiline": True, "description": "拒绝理由（选填，点名转介时转介人可见）"})


class HandoffListArgs(QuerySchema):
    role = fields.String(load_default="received", validate=validate.OneOf(("sent", "received")),
                         metadata={"description": "sent 我发出的 / received 转给我的（默认）"})
    page = fields.Integer(load_default=1, validate=validate.Range(min=1))
    per_page = fields.Integer(load_default=20, validate=validate.Range(min=1, max=100))


class HandoffPersonSchema(Schema):
    id = fields.Integer()
    name = fields.String()


class HandoffProjectSchema(Schema):
    id = fields.Integer()
    name = fields.String()
    city = fields.String()
    district = fields.String(allow_none=True)


class HandoffSchema(Schema):
    """One side of a handoff: the sender's (role sent) or a receiver's (role received)."""
    id = fields.Integer()
    role = fields.String(metadata={"description": "sent 我发出的 / received 转给我的"})
    project = fields.Nested(HandoffProjectSchema)
    buyer_name = fields.String()
    buyer_phone = fields.String(metadata={"description": "接收前对接收顾问显示为 138****1234"})
    phone_masked = fields.Boolean()
    note = fields.String(allow_none=True)
    via_pool = fields.Boolean(metadata={"description": "是否交给平台客户池分配"})
    status = fields.String(metadata={"description": "发出方：offered / accepted / unrouted / cancelled；"
                                                    "接收方：offered / accepted / declined / timed_out / withdrawn"})
    status_label = fields.String()
    sender = fields.Nested(HandoffPersonSchema)
    receiver = fields.Nested(HandoffPersonSchema, allow_none=True)
    respond_by = fields.DateTime(allow_none=True, metadata={"description": "接收方须在此时间前接收或拒绝"})
    registration_id = fields.Integer(allow_none=True, metadata={"description": "接收后为接收顾问生成的报备"})
    end_reason = fields.String(allow_none=True,
                               metadata={"description": "declined / timed_out / no_candidate / buyer_bound / "
                                                        "cancelled_by_sender"})
    end_reason_label = fields.String(allow_none=True)
    decline_reason = fields.String(allow_none=True)
    created_at = fields.DateTime()
    updated_at = fields.DateTime()


class HandoffPageSchema(Schema):
    items = fields.List(fields.Nested(HandoffSchema))
    total = fields.Integer()
    page = fields.Integer()
    per_page = fields.Integer()


@blp.route("")
class Handoffs(MethodView):
    @blp.authenticated(callers.operating_consultant, *GUARD, ProjectNotFound, ProjectNotAccepting,
                       registrations.BuyerIsSelf, registrations.BuyerIsStaff, registrations.BuyerKnownToDeveloper,
                       handoffs.BuyerBoundElsewhere, handoffs.BuyerAlreadyYours, handoffs.HandoffPending,
                       handoffs.HandoffToSelf, handoffs.ReceiverUnavailable, ValidationFailed)
    @blp.arguments(HandoffInputSchema)
    @blp.response(201, HandoffSchema)
    def post(self, body):
        """转介客户给同事（to_consultant_id）或平台客户池。对方须在 24 小时内接收，否则客户池改派下一位顾问。"""
        return handoffs.create_handoff(db.session, g.consultant, **body, now=utcnow())

    @blp.authenticated(callers.consultant, NotYetApplied)
    @blp.arguments(HandoffListArgs, location="query")
    @blp.response(200, HandoffPageSchema)
    def get(self, args):
        """我发出的或转给我的转介（分页）"""
        items, total = handoffs.list_handoffs(db.session, g.consultant.id, role=args["role"], page=args["page"],
                                              per_page=args["per_page"])
        return {"items": items, "total": total, "page": args["page"], "per_page": args["per_page"]}


@blp.route("/<int:handoff_id>")
class HandoffDetail(MethodView):
    @blp.authenticated(callers.consultant, NotYetApplied, handoffs.HandoffNotFound)
    @blp.response(200, HandoffSchema)
    def get(self, handoff_id):
        """转介详情（仅转介人和被转介的顾问可见）"""
        return handoffs.get_handoff(db.session, g.consultant.id, handoff_id)


@blp.route("/<int:handoff_id>/accept")
class HandoffAccept(MethodView):
    @blp.authenticated(callers.operating_consultant, *GUARD, handoffs.HandoffNotFound, handoffs.HandoffClosed,
                       handoffs.HandoffExpired, *REGISTRATION_REFUSALS)
    @blp.response(200, HandoffSchema)
    def post(self, handoff_id):
        """接收转介：客户报备到我名下，转介人记为推荐人（成交后获得转介分成）"""
        return handoffs.accept(db.session, g.consultant, handoff_id, now=utcnow())


@blp.route("/<int:handoff_id>/decline")
class HandoffDecline(MethodView):
    @blp.authenticated(callers.operating_consultant, *GUARD, handoffs.HandoffNotFound, handoffs.HandoffClosed,
                       ValidationFailed)
    @blp.arguments(HandoffDeclineSchema)
    @blp.response(200, HandoffSchema)
    def post(self, body, handoff_id):
        """拒绝转介：客户池转介改派下一位顾问；点名转介退回转介人"""
        return handoffs.decline(db.session, g.consultant, handoff_id, reason=body["reason"], now=utcnow())


@blp.route("/<int:handoff_id>/cancel")
class HandoffCancel(MethodView):
    @blp.authenticated(callers.operating_consultant, *GUARD, handoffs.HandoffNotFound, handoffs.HandoffClosed)
    @blp.response(200, HandoffSchema)
    def post(self, handoff_id):
        """撤回转介（仅转介人，对方接收前）"""
        return handoffs.cancel(db.session, g.consultant, handoff_id, now=utcnow())
