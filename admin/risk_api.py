"""Admin JSON API for the risk queue (风控预警): the flags the nightly jobs raised, with
their score, reason and evidence; operations dismiss one with a reason, open a dispute
from it, or run the jobs now. Operations and admins only: a flag names consultants and
developers' records before anyone has checked them.
"""
from __future__ import annotations

from flask import current_app, g
from flask.views import MethodView
from marshmallow import Schema, fields, validate

from estate_platform.db import db, utcnow
from estate_platform.disputes.services import SUBJECT_MAX, TEXT_MAX
from estate_platform.errors import ValidationFailed
from estate_platform.phones import mask_phone
from estate_platform.risk import rules
from estate_platform.risk import services as risk
from estate_platform.risk.models import FLAG_KINDS, FLAG_STATUSES
from web_common.api import InputSchema, PlatformBlueprint, QuerySchema

from .callers import api_roles

blp = PlatformBlueprint("admin_risk_api", __name__,
                        description="风控预警：夜间任务发现的防截客、短周期成交、撞单、高频报备、试探老客户、成交价下调、"
                                    "退房后换客重签，以及客户收到报备短信后否认报备（即时生成）；排除（须填原因）或据此立案争议")

WORKERS = ("operations", "admin")


class RiskFlagListArgs(QuerySchema):
    kind = fields.String(validate=validate.OneOf(FLAG_KINDS), metadata={
        "description": "anti_interception 防截客 / short_deal 短周期成交 / collision 撞单 / velocity 高频报备 / "
                       "fishing 试探老客户 / price_drop 成交价下调 / unit_rerecorded 退房后换客重签 / "
                       "buyer_objection 客户否认报备"})
    status = fields.String(validate=validate.OneOf(FLAG_STATUSES),
                           metadata={"description": "open 待处理 / dismissed 已排除 / disputed 已立案"})
    project_id = fields.Integer(validate=validate.Range(min=1))
    consultant_id = fields.Integer(validate=validate.Range(min=1), metadata={"description": "预警涉及的顾问"})
    page = fields.Integer(load_default=1, validate=validate.Range(min=1))
    per_page = fields.Integer(load_default=30, validate=validate.Range(min=1, max=100))


class RiskNamedSchema(Schema):
    id = fields.Integer()
    name = fields.String()


class RiskStaffSchema(Schema):
    id = fields.Integer()
    display_name = fields.String()


class RiskFlagSchema(Schema):
    id = fields.Integer()
    kind = fields.String()
    kind_label = fields.Function(lambda f: rules.KIND_LABELS[f.kind])
    status = fields.String()
    status_label = fields.Function(lambda f: rules.STATUS_LABELS[f.status])
    score = fields.Integer(metadata={"description": "0–100，越高越可疑（阈值处约 50–60）"})
    reason = fields.String(attribute="reason_zh", metadata={"description": "中文原因，含数字与阈值"})
    project = fields.Nested(RiskNamedSchema)
    consultant = fields.Nested(RiskNamedSchema, allow_none=True, metadata={
        "description": "被预警的顾问；成交价下调、退房后换客重签为该成交的顾问（可能的受害方）"})
    buyer_name = fields.Function(lambda f: f.buyer.name if f.buyer is not None else None, allow_none=True)
    buyer_phone = fields.Function(lambda f: mask_phone(f.buyer.phone) if f.buyer is not None else None,
                                  allow_none=True, metadata={"description": "前三后四"})
    registration_id = fields.Integer(allow_none=True)
    deal_id = fields.Integer(allow_none=True)
    respondent_kind = fields.Function(lambda f: rules.RESPONDENTS[f.kind], metadata={
        "description": "据此立案时的被投诉方：consultant 顾问 / developer 开发商"})
    evidence = fields.Dict(metadata={"description": "证据：相关记录编号、时间与计数"})
    occurred_at = fields.DateTime(metadata={"description": "模式发生的时间"})
    created_at = fields.DateTime()
    dismissed_by = fields.Nested(RiskStaffSchema, allow_none=True)
    dismissed_at = fields.DateTime(allow_none=True)
    dismiss_reason = fields.String(allow_none=True)
    dispute_id = fields.Integer(allow_none=True)


class RiskFlagPageSchema(Schema):
    items = fields.List(fields.Nested(RiskFlagSchema))
    total = fields.Integer()
    page = fields.Integer()
    per_page = fields.Integer()


class RiskFlagDismissSchema(InputSchema):
    reason = fields.String(required=True, validate=validate.Length(min=1, max=risk.REASON_MAX),
                           metadata={"multiline": True, "description": "排除原因"})


class RiskFlagDisputeSchema(InputSchema):
    subject = fields.String(load_default=None, allow_none=True, validate=validate.Length(max=SUBJECT_MAX),
                            metadata={"description": "争议标题；不填为“风控预警：<类型>”"})
    summary = fields.String(load_default=None, allow_none=True, validate=validate.Length(max=TEXT_MAX),
                            metadata={"multiline": True, "description": "争议说明；不填为预警原因与评分"})


class RiskRunSchema(Schema):
    created = fields.Dict(keys=fields.String(), values=fields.Integer(), metadata={"description": "各类型新增预警数"})
    total = fields.Integer()


@blp.route("/risk-flags")
class RiskFlags(MethodView):
    @api_roles(blp, *WORKERS)
    @blp.arguments(RiskFlagListArgs, location="query")
    @blp.response(200, RiskFlagPageSchema)
    def get(self, args):
        """风控预警列表（按类型、状态、楼盘、顾问筛选，分页；最近发生的在前）"""
        items, total = risk.list_flags(db.session, kind=args.get("kind"), status=args.get("status"),
                                       project_id=args.get("project_id"), consultant_id=args.get("consultant_id"),
                                       page=args["page"], per_page=args["per_page"])
        return {"items": items, "total": total, "page": args["page"], "per_page": args["per_page"]}


@blp.route("/risk-flags/run")
class RiskRun(MethodView):
    @api_roles(blp, *WORKERS)
    @blp.response(200, RiskRunSchema)
    def post(self):
        """立即运行全部风控任务（与夜间任务相同；重复运行不会产生重复预警）"""
        created = risk.run_now(db.session, now=utcnow(), phone_key=current_app.config["SECRET_KEY"])
        return {"created": created, "total": sum(created.values())}


@blp.route("/risk-flags/<int:risk_flag_id>")
class RiskFlagDetail(MethodView):
    @api_roles(blp, *WORKERS)
    @blp.response(200, RiskFlagSchema)
    @blp.refuses(risk.RiskFlagNotFound)
    def get(self, risk_flag_id):
        """风控预警详情（含证据）"""
        return risk.get_flag(db.session, risk_flag_id)


@blp.route("/risk-flags/<int:risk_flag_id>/dismiss")
class RiskFlagDismiss(MethodView):
    @api_roles(blp, *WORKERS)
    @blp.arguments(RiskFlagDismissSchema)
    @blp.response(200, RiskFlagSchema)
    @blp.refuses(risk.RiskFlagNotFound, risk.RiskFlagClosed, ValidationFailed)
    def post(self, body, risk_flag_id):
        """排除预警（须填原因）。已排除的再次排除不变；已立案的 → 409 risk_flag_closed"""
        return risk.dismiss(db.session, g.staff, risk_flag_id, reason=body["reason"], now=utcnow())


@blp.route("/risk-flags/<int:risk_flag_id>/dispute")
class RiskFlagDispute(MethodView):
    @api_roles(blp, *WORKERS)
    @blp.arguments(RiskFlagDisputeSchema)
    @blp.response(201, RiskFlagSchema)
    @blp.alt_response(200, schema=RiskFlagSchema, description="已据此预警立案：返回预警及已有争议编号", success=True)
    @blp.refuses(risk.RiskFlagNotFound, risk.RiskFlagClosed, risk.RiskFlagWithoutBuyer, ValidationFailed)
    def post(self, body, risk_flag_id):
        """据预警立案争议（来源 risk_flag，每条预警只立案一次）。被投诉方：防截客、短周期成交、撞单、高频报备、试探老客户、客户否认报备为
        顾问；成交价下调、退房后换客重签为开发商（该成交的顾问为受保护方）。已排除的 → 409 risk_flag_closed"""
        flag, created = risk.open_dispute(db.session, g.staff, risk_flag_id, subject=body.get("subject"),
                                          summary=body.get("summary"), now=utcnow())
        return flag, 201 if created else 200
