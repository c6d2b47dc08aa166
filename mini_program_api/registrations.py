"""Client registration (报备): the consultant's daily tool."""
from __future__ import annotations

from flask import current_app, g
from flask.views import MethodView
from marshmallow import Schema, fields, validate

from estate_platform.consultants.guard import ConsultantInactive, ContractUnsigned
from estate_platform.consultants.services import NotYetApplied
from estate_platform.crm.models import TIERS
from estate_platform.db import db, utcnow
from estate_platform.errors import ValidationFailed
from estate_platform.phones import PHONE_INPUT_MAX_LENGTH, national
from estate_platform.projects.services import ProjectNotAccepting, ProjectNotFound
from estate_platform.registrations import services as registrations
from estate_platform.registrations.models import REGISTRATION_STATUSES
from web_common.api import InputSchema, PlatformBlueprint, QuerySchema

from . import callers

blp = PlatformBlueprint("registrations", __name__, description="客户报备：提交、列表、详情（仅本人可见完整手机号）")

STATUS_LABELS = {"reported": "已报备", "visited": "已到访", "expired": "已过期", "lost": "已失效（他人带看）",
                 "cancelled": "已取消"}


class RegistrationInputSchema(InputSchema):
    project_id = fields.Integer(required=True, strict=True, validate=validate.Range(min=1))
    buyer_name = fields.String(required=True, validate=validate.Length(max=50))
    buyer_phone = fields.String(required=True, validate=validate.Length(max=PHONE_INPUT_MAX_LENGTH),
                                metadata={"description": "客户手机号（中国大陆）"})
    note = fields.String(load_default=None, allow_none=True, validate=validate.Length(max=500), metadata={"multiline": True})
    expected_visit_at = fields.AwareDateTime(load_default=None, allow_none=True,
                                             metadata={"description": "预计到访时间（ISO 8601，带时区）"})


# One instance for every request: given the class, webargs would build the schema per request
# (issue 16 §1: 5% of a registration's CPU). Loading keeps no state in the instance.
_REGISTRATION_INPUT = RegistrationInputSchema()


class RegistrationListArgs(QuerySchema):
    status = fields.String(validate=validate.OneOf(REGISTRATION_STATUSES))
    project_id = fields.Integer(validate=validate.Range(min=1))
    tier = fields.String(validate=validate.OneOf(TIERS))
    tag = fields.String(validate=validate.Length(min=1, max=30))
    page = fields.Integer(load_default=1, validate=validate.Range(min=1))
    per_page = fields.Integer(load_default=20, validate=validate.Range(min=1, max=100))


class ProjectBriefSchema(Schema):
    id = fields.Integer()
    name = fields.String()
    city = fields.String()
    district = fields.String(allow_none=True)


class RegistrationSchema(Schema):
    """The registering consultant's own view: the buyer's full phone is shown."""
    id = fields.Integer()
    project = fields.Nested(ProjectBriefSchema)
    buyer_name = fields.String()
    buyer_phone = fields.Function(lambda r: national(r.buyer.phone))
    note = fields.String(allow_none=True)
    expected_visit_at = fields.DateTime(allow_none=True)
    status = fields.String()
    status_label = fields.Function(lambda r: STATUS_LABELS[r.status])
    binding = fields.Boolean(metadata={"description": "是否锁定该客户（到访为王模式下到访确认后才锁定）"})
    protection_mode = fields.String()
    protected_until = fields.DateTime()
    source_link_id = fields.Integer(allow_none=True)
    referrer_consultant_id = fields.Integer(allow_none=True)
    created_at = fields.DateTime()
    ended_at = fields.DateTime(allow_none=True)
    end_reason = fields.String(allow_none=True)


class RegistrationPageSchema(Schema):
    items = fields.List(fields.Nested(RegistrationSchema))
    total = fields.Integer()
    page = fields.Integer()
    per_page = fields.Integer()


@blp.route("")
class Registrations(MethodView):
    @blp.authenticated(callers.registering_consultant, NotYetApplied, ConsultantInactive, ContractUnsigned,
                       ProjectNotFound, ProjectNotAccepting, registrations.AlreadyRegistered,
                       registrations.BuyerIsSelf, registrations.BuyerIsStaff, registrations.BuyerKnownToDeveloper,
                       registrations.DailyLimitReached, registrations.ReregisterCooldown,
                       registrations.LowCreditDailyCap, ValidationFailed)
    @callers.caller_before_invalid_body
    @blp.arguments(_REGISTRATION_INPUT)
    @blp.response(201, RegistrationSchema)
    def post(self, body):
        """报备客户。同一楼盘同一客户以最先有效报备为准；重复报备返回 409 already_registered 及保护截止时间。"""
        return registrations.register(db.session, g.token_caller, registrations.NewRegistration(**body),
                                      now=utcnow(), phone_key=current_app.config["SECRET_KEY"])

    @blp.authenticated(callers.consultant, NotYetApplied)
    @blp.arguments(RegistrationListArgs, location="query")
    @blp.response(200, RegistrationPageSchema)
    def get(self, args):
        """我的报备（按状态、楼盘、客户分级、标签筛选，分页）"""
        items, total = registrations.list_own(db.session, g.consultant.id, status=args.get("status"),
                                              project_id=args.get("project_id"), tier=args.get("tier"),
                                              tag=args.get("tag"), page=args["page"], per_page=args["per_page"])
        return {"items": items, "total": total, "page": args["page"], "per_page": args["per_page"]}


@blp.route("/<int:registration_id>")
class RegistrationDetail(MethodView):
    @blp.authenticated(callers.consultant, NotYetApplied, registrations.RegistrationNotFound)
    @blp.response(200, RegistrationSchema)
    def get(self, registration_id):
        """报备详情（只能查看自己的报备）"""
        return registrations.own_registration(db.session, g.consultant.id, registration_id)
