"""Admin JSON API: visits (到访核销) for site staff and operations.

Site staff see only their developer's projects. Every staff member sees the buyer's phone
masked (the project's rule; 前三后四 where it is ``full``); the full number is a logged
reveal with a purpose (privacy.reveals, issue 15 §1).
"""
from __future__ import annotations

from datetime import date

from flask import g
from flask.views import MethodView
from marshmallow import Schema, fields, validate

from estate_platform.db import db, utcnow
from estate_platform.errors import ValidationFailed
from estate_platform.privacy import reveals
from estate_platform.registrations.services import BuyerAlreadyBound, RegistrationClosed
from estate_platform.visits import services as visits
from estate_platform.visits.models import VISIT_STATUSES
from web_common.api import InputSchema, PlatformBlueprint, QuerySchema

from .callers import api_roles

blp = PlatformBlueprint("admin_visits_api", __name__, description="到访核销：按核销码确认到访、判为无效、当日带看列表")

VISIT_ROLES = ("admin", "operations", "site_staff")


class CheckInSchema(InputSchema):
    code = fields.String(required=True, validate=validate.Length(min=1, max=20),
                         metadata={"description": "顾问出示的 6 位核销码（不区分大小写）"})


class VisitRevealInputSchema(InputSchema):
    purpose = fields.String(required=True, validate=validate.Length(min=1, max=reveals.PURPOSE_MAX_LENGTH),
                            metadata={"description": "查看完整号码的用途（记录在手机号查看日志）"})


class RevealedVisitPhoneSchema(Schema):
    visit_id = fields.Integer()
    phone = fields.String(metadata={"description": "完整手机号（本次查看已留痕）"})


class InvalidInputSchema(InputSchema):
    reason = fields.String(required=True, validate=validate.Length(max=500),
                           metadata={"multiline": True, "description": "判为无效的原因（必填）"})


# A day the platform can have visits on; 0001-01-01 would start before year 1 in UTC.
FIRST_DAY, LAST_DAY = date(2000, 1, 1), date(2099, 12, 31)


class VisitListArgs(QuerySchema):
    date = fields.Date(validate=validate.Range(min=FIRST_DAY, max=LAST_DAY,
                                               error=f"日期须在 {FIRST_DAY} 至 {LAST_DAY} 之间"),
                       metadata={"description": f"到访日期（北京时间，YYYY-MM-DD，{FIRST_DAY} 至 {LAST_DAY}），默认今天"})
    status = fields.String(validate=validate.OneOf(VISIT_STATUSES))


class StaffAttachmentSchema(Schema):
    id = fields.Integer()
    filename = fields.String()
    content_type = fields.String()
    size_bytes = fields.Integer()
    sha256 = fields.String()
    uploaded_by_type = fields.String()
    created_at = fields.DateTime()


class StaffVisitSchema(Schema):
    """The site staff's view: the buyer's phone as the project's rule shows it (前三后四 …)."""
    id = fields.Integer()
    status = fields.String()
    status_label = fields.Function(lambda v: visits.STATUS_LABELS[v.status])
    scheduled_at = fields.DateTime()
    confirmed_at = fields.DateTime(allow_none=True)
    confirmed_by_type = fields.String(allow_none=True)
    invalid_reason = fields.String(allow_none=True)
    project = fields.Function(lambda v: {"id": v.registration.project.id, "name": v.registration.project.name})
    consultant = fields.Function(lambda v: {"id": v.registration.consultant.id,
                                            "name": v.registration.consultant.name})
    buyer_name = fields.Function(lambda v: v.registration.buyer_name)
    buyer_phone = fields.Function(lambda v: reveals.masked_for_registration(v.registration),
                                  metadata={"description": "脱敏显示（如 138****1234）；完整号码须调用 reveal-phone（留痕）"})
    registration = fields.Function(lambda v: {"id": v.registration.id, "status": v.registration.status,
                                              "binding": v.registration.binding,
                                              "protected_until": v.registration.protected_until.isoformat()})


@blp.route("")
class VisitList(MethodView):
    @api_roles(blp, *VISIT_ROLES)
    @blp.arguments(VisitListArgs, location="query")
    @blp.response(200, StaffVisitSchema(many=True))
    def get(self, args):
        """某天的带看（案场只看本开发商的楼盘；默认今天，北京时间）"""
        return visits.visits_on(db.session, g.staff, args.get("date"), now=utcnow(), status=args.get("status"))


@blp.route("/check-in")
class CheckIn(MethodView):
    @api_roles(blp, *VISIT_ROLES)
    @blp.arguments(CheckInSchema)
    @blp.response(200, StaffVisitSchema)
    @blp.refuses(visits.VisitNotFound, visits.VisitClosed, RegistrationClosed, BuyerAlreadyBound)
    def post(self, body):
        """按核销码确认到访：按楼盘的保护模式延长报备保护；到访为王模式下锁定客户，其他顾问的报备失效"""
        return visits.confirm_by_code(db.session, g.staff, body["code"], now=utcnow())


@blp.route("/<int:visit_id>/invalid")
class MarkInvalid(MethodView):
    @api_roles(blp, *VISIT_ROLES)
    @blp.arguments(InvalidInputSchema)
    @blp.response(200, StaffVisitSchema)
    @blp.refuses(ValidationFailed, visits.VisitNotFound, visits.VisitClosed)
    def post(self, body, visit_id):
        """判为无效（须填原因），通知顾问"""
        return visits.mark_invalid(db.session, g.staff, visit_id=visit_id, reason=body["reason"], now=utcnow())


@blp.route("/<int:visit_id>/reveal-phone")
class RevealVisitPhone(MethodView):
    @api_roles(blp, *VISIT_ROLES)
    @blp.arguments(VisitRevealInputSchema)
    @blp.response(200, RevealedVisitPhoneSchema)
    @blp.refuses(ValidationFailed, visits.VisitNotFound, reveals.RevealNotAllowed)
    def post(self, body, visit_id):
        """查看到访客户的完整手机号（须填用途；案场仅限号码全显的楼盘）；每次查看都记录在手机号查看日志"""
        phone = reveals.reveal_visit_phone(db.session, g.staff, visit_id, purpose=body["purpose"], now=utcnow())
        return {"visit_id": visit_id, "phone": phone}
