"""争议与信用分：顾问查看与自己有关的争议、在期限内提交陈述与证据、投诉（报备客户被他人或开发商截走）、查看信用分.

A consultant sees only disputes he is party to (respondent, complainant, or the protected
consultant of a developer dispute); any other is 404. Other consultants are never named
to him: the other side reads 其他顾问, 开发商 or 平台.
"""
from __future__ import annotations

from flask import current_app, g, request
from flask.views import MethodView
from flask_smorest.fields import Upload
from marshmallow import Schema, fields, validate

from estate_platform.consultants.guard import ConsultantInactive, ContractUnsigned
from estate_platform.consultants.services import NotYetApplied
from estate_platform.credit import rules as credit_rules
from estate_platform.credit import services as credit
from estate_platform.db import db, utcnow
from estate_platform.disputes import rules
from estate_platform.disputes import services as disputes
from estate_platform.disputes.models import STATUSES
from estate_platform.errors import ValidationFailed
from estate_platform.phones import mask_phone
from estate_platform.registrations.services import RegistrationNotFound
from estate_platform.visits import attachments
from web_common.api import InputSchema, PlatformBlueprint, QuerySchema

from . import callers

blp = PlatformBlueprint("disputes", __name__,
                        description="争议与信用分：查看与本人有关的争议、提交陈述与证据、投诉、撤回投诉、查看信用分及其变动原因")

CONSULTANT_REFUSALS = (NotYetApplied,)
OPERATING_REFUSALS = (NotYetApplied, ConsultantInactive, ContractUnsigned)
CENTS = {"format": "int64"}
EVENT_LABELS = {"opened": "立案", "investigating": "平台开始调查", "statement": "当事人提交陈述",
                "decision_proposed": "平台提出裁决建议", "decided": "裁决生效", "withdrawn": "已撤回"}


def _role(dispute) -> str:
    me = g.consultant.id
    if dispute.respondent_consultant_id == me:
        return "respondent"
    if dispute.claimant_consultant_id == me:
        return "claimant"
    return "protected"


def _other_side(dispute) -> str:
    role = _role(dispute)
    if role == "respondent":
        return "其他顾问" if dispute.claimant_consultant_id else "平台"
    return "开发商" if dispute.respondent_kind == "developer" else "其他顾问"


def _outcome(dispute) -> dict | None:
    decision = disputes.approved_decision(db.session, dispute)
    if decision is None:
        return None
    mine = _role(dispute)
    return {"outcome": decision.outcome, "outcome_label": rules.OUTCOME_LABELS[decision.outcome],
            "reason": decision.reason, "decided_at": decision.approved_at.isoformat(),
            "penalty_cents": decision.penalty_cents if mine == "respondent" else 0,
            "stake_cents": decision.stake_cents if dispute.respondent_kind == "developer" and mine != "respondent"
            else 0}


class DisputeProjectBriefSchema(Schema):
    id = fields.Integer()
    name = fields.String()


class DisputeOutcomeSchema(Schema):
    outcome = fields.String()
    outcome_label = fields.String()
    reason = fields.String()
    decided_at = fields.String(metadata={"format": "date-time"})
    penalty_cents = fields.Integer(metadata={**CENTS, "description": "您须支付的违约金（计入欠款）"})
    stake_cents = fields.Integer(metadata={**CENTS, "description": "开发商应付、按您的分佣链确认的涉及佣金"})


class ConsultantDisputeSchema(Schema):
    id = fields.Integer()
    status = fields.String(metadata={"description": "open 待处理 / investigating 调查中 / upheld 成立 / dismissed 不成立 / "
                                                    "withdrawn 已撤回"})
    status_label = fields.Function(lambda d: rules.STATUS_LABELS[d.status])
    source_label = fields.Function(lambda d: rules.SOURCE_LABELS[d.source])
    project = fields.Nested(DisputeProjectBriefSchema)
    buyer_name = fields.Function(lambda d: (d.registration.buyer_name if d.registration else None)
                                 or d.buyer.name or "客户")
    buyer_phone = fields.Function(lambda d: mask_phone(d.buyer.phone))
    subject = fields.String()
    summary = fields.String()
    my_role = fields.Function(_role, metadata={"description": "respondent 被投诉方 / claimant 投诉人 / "
                                                              "protected 受保护顾问（开发商为被投诉方）"})
    other_side = fields.Function(_other_side, metadata={"description": "对方：其他顾问 / 开发商 / 平台（不透露其他顾问身份）"})
    respondent_kind = fields.String()
    deadline_at = fields.DateTime(metadata={"description": "陈述截止时间"})
    can_answer = fields.Function(lambda d: d.status in rules.OPEN_STATUSES and utcnow() <= d.deadline_at)
    can_withdraw = fields.Function(lambda d: d.status in rules.OPEN_STATUSES
                                   and d.claimant_consultant_id == g.consultant.id)
    outcome = fields.Function(_outcome, allow_none=True, metadata={"description": "裁决结果（结案后）"})
    created_at = fields.DateTime()
    closed_at = fields.DateTime(allow_none=True)


class DisputeAttachmentSchema(Schema):
    id = fields.Integer()
    filename = fields.String()
    content_type = fields.String()
    size_bytes = fields.Integer()
    sha256 = fields.String()


class DisputeStatementSchema(Schema):
    id = fields.Integer()
    text = fields.String()
    attachments = fields.List(fields.Nested(DisputeAttachmentSchema))
    created_at = fields.DateTime()


class DisputeEventSchema(Schema):
    event = fields.String()
    label = fields.Function(lambda e: EVENT_LABELS.get(e.event, e.event))
    created_at = fields.DateTime()


class ConsultantDisputeDetailSchema(ConsultantDisputeSchema):
    my_statements = fields.Function(lambda d: DisputeStatementSchema(many=True).dump(
        [s for s in disputes.statements_of(db.session, d) if s.consultant_id == g.consultant.id]),
        metadata={"description": "我提交的陈述"})
    events = fields.Function(lambda d: DisputeEventSchema(many=True).dump(disputes.events_of(db.session, d)))


class DisputePageSchema(Schema):
    items = fields.List(fields.Nested(ConsultantDisputeSchema))
    total = fields.Integer()
    page = fields.Integer()
    per_page = fields.Integer()


class DisputeListArgs(QuerySchema):
    status = fields.String(validate=validate.OneOf(STATUSES))
    page = fields.Integer(load_default=1, validate=validate.Range(min=1))
    per_page = fields.Integer(load_default=20, validate=validate.Range(min=1, max=100))


class ComplaintSchema(InputSchema):
    registration_id = fields.Integer(required=True, strict=True, validate=validate.Range(min=1),
                                     metadata={"description": "我的报备（被截走的客户）"})
    against = fields.String(required=True, validate=validate.OneOf(("developer", "consultant")), metadata={
        "description": "developer：开发商绕开平台直接成交（跑单）；consultant：其他顾问抢走保护期内的客户（平台查明是谁，不向您透露）"})
    subject = fields.String(required=True, validate=validate.Length(min=1, max=200))
    summary = fields.String(required=True, validate=validate.Length(min=1, max=5000), metadata={"multiline": True})


class DisputeStatementFormSchema(InputSchema):
    text = fields.String(load_default="", validate=validate.Length(max=5000), metadata={
        "multiline": True, "description": "陈述内容（必填，最多 5000 字）"})
    file = fields.List(Upload(), metadata={"description": "附件：JPG、PNG 或 PDF（按内容识别），每个不超过 5 MB，最多 5 个"})


class DisputeWithdrawSchema(InputSchema):
    reason = fields.String(required=True, validate=validate.Length(min=1, max=500), metadata={"multiline": True})


class CreditEventSchema(Schema):
    delta = fields.Integer(metadata={"description": "本次变动（已按 0–100 截断）"})
    score_after = fields.Integer()
    reason_code = fields.String(metadata={"description": "dispute_upheld / revisit_confirmed / risk_flag / tenure"})
    reason_label = fields.Function(lambda e: credit_rules.REASON_LABELS[e.reason_code])
    reason_text = fields.String()
    created_at = fields.DateTime()


class CreditSchema(Schema):
    score = fields.Integer(metadata={"description": "信用分 0–100"})
    threshold = fields.Integer(metadata={"description": "低于此分数时，每个楼盘每天的报备数量受限"})
    low = fields.Boolean()
    events = fields.List(fields.Nested(CreditEventSchema))
    total = fields.Integer()
    page = fields.Integer()
    per_page = fields.Integer()


class DisputePageArgs(QuerySchema):
    page = fields.Integer(load_default=1, validate=validate.Range(min=1))
    per_page = fields.Integer(load_default=20, validate=validate.Range(min=1, max=100))


STATEMENT_REFUSALS = (disputes.DisputeNotFound, disputes.DisputeClosed, disputes.StatementDeadlinePassed,
                      disputes.StatementLimitReached, attachments.AttachmentTooLarge,
                      attachments.AttachmentTypeNotAllowed, ValidationFailed, 400, 413)


@blp.route("/disputes")
class Disputes(MethodView):
    @blp.authenticated(callers.consultant, *CONSULTANT_REFUSALS)
    @blp.arguments(DisputeListArgs, location="query")
    @blp.response(200, DisputePageSchema)
    def get(self, args):
        """与我有关的争议（我是被投诉方、投诉人或受保护顾问），新的在前"""
        items, total = disputes.list_for_consultant(db.session, g.consultant.id, status=args.get("status"),
                                                    page=args["page"], per_page=args["per_page"])
        return {"items": items, "total": total, "page": args["page"], "per_page": args["per_page"]}

    @blp.authenticated(callers.operating_consultant, *OPERATING_REFUSALS, RegistrationNotFound,
                       disputes.NoRespondentFound, ValidationFailed)
    @blp.arguments(ComplaintSchema)
    @blp.response(201, ConsultantDisputeDetailSchema)
    @blp.alt_response(200, schema=ConsultantDisputeDetailSchema, success=True,
                      description="同一报备已就同一对象投诉过：返回已有争议")
    def post(self, body):
        """投诉：我报备的客户被开发商直接成交（跑单）或被其他顾问抢走（撬单）。同一报备对同一对象只立案一次"""
        dispute, created = disputes.file_complaint(db.session, g.consultant, now=utcnow(), **body)
        return dispute, 201 if created else 200


@blp.route("/disputes/<int:dispute_id>")
class DisputeDetail(MethodView):
    @blp.authenticated(callers.consultant, *CONSULTANT_REFUSALS, disputes.DisputeNotFound)
    @blp.response(200, ConsultantDisputeDetailSchema)
    def get(self, dispute_id):
        """争议详情（只能查看与自己有关的争议）"""
        return disputes.party_dispute(db.session, g.consultant.id, dispute_id)


@blp.route("/disputes/<int:dispute_id>/statement")
class DisputeStatement(MethodView):
    @blp.authenticated(callers.consultant, *CONSULTANT_REFUSALS, *STATEMENT_REFUSALS)
    @blp.arguments(DisputeStatementFormSchema, location="form", content_type="multipart/form-data")
    @blp.response(201, DisputeStatementSchema)
    def post(self, form, dispute_id):
        """在截止时间前提交陈述：multipart/form-data，`text` 为陈述内容，`file` 可重复（最多 5 个 JPG、PNG 或 PDF，按内容
        识别，每个不超过 5 MB）。已结案 → 409 dispute_closed；过期 → 409 statement_deadline_passed"""
        uploads = [attachments.Upload(filename=f.filename, content_type=f.mimetype, stream=f.stream)
                   for f in request.files.getlist("file")]
        return disputes.submit_statement(db.session, g.consultant, dispute_id, text=form.get("text", ""),
                                         uploads=uploads, storage_dir=_uploads_dir(), now=utcnow())


@blp.route("/disputes/<int:dispute_id>/withdraw")
class DisputeWithdraw(MethodView):
    @blp.authenticated(callers.consultant, *CONSULTANT_REFUSALS, disputes.DisputeNotFound, disputes.DisputeClosed,
                       disputes.InvalidDisputeTransition, ValidationFailed)
    @blp.arguments(DisputeWithdrawSchema)
    @blp.response(200, ConsultantDisputeDetailSchema)
    def post(self, body, dispute_id):
        """撤回我的投诉（仅投诉人，待处理或调查中）"""
        return disputes.withdraw(db.session, dispute_id, reason=body["reason"],
                                 actor=disputes.Actor("consultant", g.consultant.id), now=utcnow())


@blp.route("/credit")
class Credit(MethodView):
    @blp.authenticated(callers.consultant, *CONSULTANT_REFUSALS)
    @blp.arguments(DisputePageArgs, location="query")
    @blp.response(200, CreditSchema)
    def get(self, args):
        """我的信用分及变动记录（争议成立、回访确认、风控预警、合作时长）；低于阈值时每个楼盘每天的报备数量受限"""
        view = credit.credit_of(db.session, g.consultant.id, page=args["page"], per_page=args["per_page"])
        return {"score": view.score, "threshold": view.threshold, "low": view.low, "events": view.events,
                "total": view.total, "page": view.page, "per_page": view.per_page}


def _uploads_dir() -> str:
    import os
    return os.path.join(current_app.config["INSTANCE_PATH"], "uploads")
