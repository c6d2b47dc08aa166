"""Admin JSON API for disputes (争议). Penalty terms and developers' dispute receivables are
in ``penalties_api``.

Operations and admins open, investigate, propose and approve (maker-checker: the approver
is never the proposer) and withdraw; finance reads. Site staff have no access: a dispute
is about their developer as often as about a consultant.
"""
from __future__ import annotations

import uuid

from flask import g, url_for
from flask.views import MethodView
from marshmallow import Schema, fields, validate

from estate_platform.db import db, utcnow
from estate_platform.disputes import decisions, evidence_pack, rules
from estate_platform.disputes import services as disputes
from estate_platform.disputes import terms as penalty_terms
from estate_platform.disputes.models import OUTCOMES, RESPONDENT_KINDS, SOURCES, STATUSES
from estate_platform.errors import ValidationFailed
from estate_platform.phones import mask_phone
from estate_platform.commissions.services import NoSplitPolicy
from estate_platform.deals.services import DealCancelled, DealNotFound
from web_common.api import InputSchema, PlatformBlueprint, QuerySchema

from .callers import api_roles

blp = PlatformBlueprint("admin_disputes_api", __name__,
                        description="争议：立案、调查、裁决（提出与复核审批分离）、撤回、证据包")

WORKERS = ("operations", "admin")
READERS = ("operations", "admin", "finance")
CENTS = {"format": "int64"}


# --- schemas -----------------------------------------------------------------------------------------

class DisputeListArgs(QuerySchema):
    status = fields.String(validate=validate.OneOf(STATUSES))
    source = fields.String(validate=validate.OneOf(SOURCES))
    project_id = fields.Integer(validate=validate.Range(min=1))
    respondent_kind = fields.String(validate=validate.OneOf(RESPONDENT_KINDS))
    consultant_id = fields.Integer(validate=validate.Range(min=1), metadata={"description": "作为当事人的顾问"})
    page = fields.Integer(load_default=1, validate=validate.Range(min=1))
    per_page = fields.Integer(load_default=30, validate=validate.Range(min=1, max=100))


class DisputeCreateSchema(InputSchema):
    registration_id = fields.Integer(load_default=None, allow_none=True, strict=True, validate=validate.Range(min=1),
                                     metadata={"description": "争议涉及的报备（与 deal_id 至少填一个）"})
    deal_id = fields.Integer(load_default=None, allow_none=True, strict=True, validate=validate.Range(min=1))
    respondent_kind = fields.String(required=True, validate=validate.OneOf(RESPONDENT_KINDS),
                                    metadata={"description": "consultant 顾问违约 / developer 开发商跑单、撬单"})
    respondent_consultant_id = fields.Integer(load_default=None, allow_none=True, strict=True,
                                              validate=validate.Range(min=1),
                                              metadata={"description": "被投诉顾问；不填时取成交或报备的顾问"})
    claimant_consultant_id = fields.Integer(load_default=None, allow_none=True, strict=True,
                                            validate=validate.Range(min=1))
    subject = fields.String(required=True, validate=validate.Length(min=1, max=200))
    summary = fields.String(required=True, validate=validate.Length(min=1, max=5000), metadata={"multiline": True})
    sale_price_cents = fields.Integer(load_default=None, allow_none=True, strict=True,
                                      validate=validate.Range(min=1, max=10 ** 12),
                                      metadata={"description": "开发商成交价（分），与 sold_on 同时填写"})
    sold_on = fields.Date(load_default=None, allow_none=True)
    idempotency_key = fields.String(load_default=None, allow_none=True,
                                    validate=[validate.Length(min=1, max=64), validate.Regexp(r"^[A-Za-z0-9_.:-]+$")],
                                    metadata={"description": "同一键只立案一次（重试返回已有争议，200）"})


class DisputeConsultantBriefSchema(Schema):
    id = fields.Integer()
    name = fields.String()


class DisputeNamedSchema(Schema):
    id = fields.Integer()
    name = fields.String()


class DisputeStaffBriefSchema(Schema):
    id = fields.Integer()
    display_name = fields.String()


def _buyer_name(d) -> str:
    return (d.registration.buyer_name if d.registration is not None else None) or d.buyer.name or "客户"


class StaffDisputeSchema(Schema):
    id = fields.Integer()
    source = fields.String()
    source_label = fields.Function(lambda d: rules.SOURCE_LABELS[d.source])
    source_key = fields.String()
    status = fields.String()
    status_label = fields.Function(lambda d: rules.STATUS_LABELS[d.status])
    project = fields.Nested(DisputeNamedSchema)
    developer = fields.Nested(DisputeNamedSchema)
    buyer_name = fields.Function(_buyer_name)
    buyer_phone = fields.Function(lambda d: mask_phone(d.buyer.phone), metadata={
        "description": "前三后四；完整号码只在证据包中按角色查看并留痕"})
    registration_id = fields.Integer(allow_none=True)
    deal_id = fields.Integer(allow_none=True)
    respondent_kind = fields.String()
    respondent = fields.Nested(DisputeConsultantBriefSchema, allow_none=True)
    claimant = fields.Nested(DisputeConsultantBriefSchema, allow_none=True)
    protected = fields.Nested(DisputeConsultantBriefSchema, allow_none=True,
                              metadata={"description": "开发商为被投诉方时受保护的顾问（受害方）"})
    subject = fields.String()
    summary = fields.String()
    sale_price_cents = fields.Integer(allow_none=True, metadata=CENTS)
    sold_on = fields.Date(allow_none=True)
    deadline_at = fields.DateTime(metadata={"description": "当事人陈述截止时间"})
    created_at = fields.DateTime()
    closed_at = fields.DateTime(allow_none=True)


class DisputePageSchema(Schema):
    items = fields.List(fields.Nested(StaffDisputeSchema))
    total = fields.Integer()
    page = fields.Integer()
    per_page = fields.Integer()


class DisputeEventSchema(Schema):
    id = fields.Integer()
    event = fields.String()
    actor_type = fields.String()
    actor_id = fields.Integer(allow_none=True)
    note = fields.String(allow_none=True)
    created_at = fields.DateTime()


class DisputeAttachmentSchema(Schema):
    id = fields.Integer()
    filename = fields.String()
    content_type = fields.String()
    size_bytes = fields.Integer()
    sha256 = fields.String()
    download_url = fields.Function(lambda a: url_for("admin_disputes.attachment", dispute_id=a.statement.dispute_id,
                                                     attachment_id=a.id),
                                   metadata={"description": "后台页面下载地址（登录后台后可用）"})


class DisputeStatementSchema(Schema):
    id = fields.Integer()
    consultant = fields.Nested(DisputeConsultantBriefSchema)
    text = fields.String()
    attachments = fields.List(fields.Nested(DisputeAttachmentSchema))
    created_at = fields.DateTime()


class DisputeStakeLineSchema(Schema):
    party_type = fields.String()
    party_id = fields.Integer()
    role = fields.String()
    level = fields.Integer(allow_none=True)
    amount_cents = fields.Integer(metadata=CENTS)
    reason = fields.String()


class DisputeDecisionSchema(Schema):
    id = fields.Integer()
    dispute_id = fields.Integer()
    outcome = fields.String()
    outcome_label = fields.Function(lambda d: rules.OUTCOME_LABELS[d.outcome])
    reason = fields.String()
    status = fields.String(metadata={"description": "proposed 待审批 / approved 已审批 / superseded 已被新建议取代"})
    stake_cents = fields.Integer(metadata={**CENTS, "description": "涉及佣金"})
    penalty_cents = fields.Integer(metadata={**CENTS, "description": "对被投诉顾问的违约金（开发商为被投诉方时为 0）"})
    penalty_fixed_cents = fields.Integer(allow_none=True, metadata=CENTS)
    penalty_multiple_bps = fields.Integer(allow_none=True)
    penalty_overridden = fields.Boolean(metadata={"description": "违约金由提出人直接填写（未按条款计算）"})
    terms_note = fields.String(allow_none=True)
    sale_price_cents = fields.Integer(allow_none=True, metadata=CENTS)
    sold_on = fields.Date(allow_none=True)
    rightful_consultant = fields.Nested(DisputeConsultantBriefSchema, allow_none=True,
                                        metadata={"description": "改判的成交顾问"})
    stake_lines = fields.Function(lambda d: DisputeStakeLineSchema(many=True).dump(decisions.stake_lines_of(d)),
                                  metadata={"description": "开发商应付涉及佣金按受保护顾问分佣链的分配"})
    proposed_by = fields.Nested(DisputeStaffBriefSchema)
    proposed_at = fields.DateTime()
    approved_by = fields.Nested(DisputeStaffBriefSchema, allow_none=True)
    approved_at = fields.DateTime(allow_none=True)
    penalty_transaction_id = fields.Integer(allow_none=True)
    stake_transaction_id = fields.Integer(allow_none=True)


class DisputeTermsPreviewSchema(Schema):
    penalty_fixed_cents = fields.Integer(metadata=CENTS)
    penalty_multiple_bps = fields.Integer()
    text = fields.String()
    stake_cents = fields.Integer(metadata=CENTS)
    stake_basis = fields.String()
    penalty_cents = fields.Integer(metadata={**CENTS, "description": "按条款计算的违约金（开发商为被投诉方时为 0）"})


def _terms_preview(d) -> dict:
    applied = penalty_terms.terms_for(db.session, d)
    stake = penalty_terms.stake_for(db.session, d)
    return {"penalty_fixed_cents": applied.terms.fixed_cents, "penalty_multiple_bps": applied.terms.multiple_bps,
            "text": applied.note, "stake_cents": stake.cents, "stake_basis": stake.basis,
            "penalty_cents": rules.penalty_cents(applied.terms, stake.cents)
            if d.respondent_kind == "consultant" else 0}


class DisputeDetailSchema(StaffDisputeSchema):
    events = fields.Function(lambda d: DisputeEventSchema(many=True).dump(disputes.events_of(db.session, d)))
    statements = fields.Function(
        lambda d: DisputeStatementSchema(many=True).dump(disputes.statements_of(db.session, d)))
    decisions = fields.Function(lambda d: DisputeDecisionSchema(many=True).dump(disputes.decisions_of(db.session, d)))
    terms = fields.Function(_terms_preview, metadata={"description": "报备时生效的违约金条款与按此计算的违约金（预览）"})


class EvidencePackSchema(Schema):
    """The JSON export of the evidence pack (DESIGN §4)."""
    dispute = fields.Dict(metadata={"description": "争议概要"})
    buyer = fields.Dict(metadata={"description": "客户：手机号默认前三后四，运营、管理员可要求完整号码（留痕）"})
    generated_at = fields.String(metadata={"format": "date-time"})
    generated_by = fields.Dict()
    evidence_verified = fields.Boolean(metadata={"description": "所有证据链均校验通过"})
    chains = fields.List(fields.Dict(), metadata={"description": "每条证据链（报备、带看、转介、成交）及其校验结果"})
    timeline = fields.List(fields.Dict(), metadata={"description": "按时间排列的证据记录，含 prev_hash 与 hash"})
    agreements = fields.List(fields.Dict(), metadata={"description": "当事顾问在报备时适用的协议版本、其 SHA-256 与签署记录"})
    terms = fields.Dict(metadata={"description": "适用的违约金条款"})
    stake = fields.Dict(metadata={"description": "涉及佣金及其依据"})
    penalty_cents = fields.Integer(metadata=CENTS)
    events = fields.List(fields.Dict())
    statements = fields.List(fields.Dict())
    decisions = fields.List(fields.Dict())
    sections = fields.List(fields.Dict(), metadata={"description": "回访结果、开发商销售清单等（暂无时 rows 为空）"})


class DisputeNoteSchema(InputSchema):
    note = fields.String(load_default=None, allow_none=True, validate=validate.Length(max=2000),
                         metadata={"multiline": True})


class DisputeWithdrawSchema(InputSchema):
    reason = fields.String(required=True, validate=validate.Length(min=1, max=500), metadata={"multiline": True})


class DisputeProposeSchema(InputSchema):
    outcome = fields.String(required=True, validate=validate.OneOf(OUTCOMES),
                            metadata={"description": "upheld 成立 / dismissed 不成立"})
    reason = fields.String(required=True, validate=validate.Length(min=1, max=2000), metadata={"multiline": True})
    penalty_cents = fields.Integer(load_default=None, allow_none=True, strict=True,
                                   validate=validate.Range(min=0, max=10 ** 12),
                                   metadata={"description": "直接填写违约金（分），不填按条款计算；仅被投诉方为顾问时"})
    stake_cents = fields.Integer(load_default=None, allow_none=True, strict=True,
                                 validate=validate.Range(min=1, max=10 ** 12),
                                 metadata={"description": "直接填写涉及佣金（分）；仅被投诉方为开发商时"})
    rightful_consultant_id = fields.Integer(load_default=None, allow_none=True, strict=True,
                                            validate=validate.Range(min=1),
                                            metadata={"description": "争议关于谁服务了客户时，改判的成交顾问"})
    sale_price_cents = fields.Integer(load_default=None, allow_none=True, strict=True,
                                      validate=validate.Range(min=1, max=10 ** 12),
                                      metadata={"description": "开发商成交价（分），与 sold_on 同时填写，用于计算涉及佣金"})
    sold_on = fields.Date(load_default=None, allow_none=True)


class DisputeApproveSchema(InputSchema):
    decision_id = fields.Integer(required=True, strict=True, validate=validate.Range(min=1),
                                 metadata={"description": "所审批的裁决建议（须为最新的待审批建议）"})


class DisputeEvidencePackArgs(QuerySchema):
    reveal_phone = fields.Boolean(load_default=False, metadata={
        "description": "运营、管理员可查看客户完整手机号（留痕）；其他角色始终脱敏"})



DETAIL_REFUSALS = (disputes.DisputeNotFound,)
ACTION_REFUSALS = (disputes.DisputeNotFound, disputes.DisputeClosed, disputes.InvalidDisputeTransition,
                   ValidationFailed)


# --- disputes ------------------------------------------------------------------------------------------

@blp.route("/disputes")
class Disputes(MethodView):
    @api_roles(blp, *READERS)
    @blp.arguments(DisputeListArgs, location="query")
    @blp.response(200, DisputePageSchema)
    def get(self, args):
        """争议列表（按状态、来源、楼盘、被投诉方类型、当事顾问筛选，分页）"""
        items, total = disputes.list_disputes(db.session, status=args.get("status"), source=args.get("source"),
                                              project_id=args.get("project_id"),
                                              respondent_kind=args.get("respondent_kind"),
                                              consultant_id=args.get("consultant_id"), page=args["page"],
                                              per_page=args["per_page"])
        return {"items": items, "total": total, "page": args["page"], "per_page": args["per_page"]}

    @api_roles(blp, *WORKERS)
    @blp.arguments(DisputeCreateSchema)
    @blp.response(201, DisputeDetailSchema)
    @blp.alt_response(200, schema=DisputeDetailSchema, description="同一 idempotency_key 已立案：返回已有争议",
                      success=True)
    @blp.refuses(ValidationFailed)
    def post(self, body):
        """运营立案：关于某条报备或成交；被投诉方为顾问（可指定，默认成交或报备的顾问）或开发商（受保护顾问为受害方）"""
        key = body.pop("idempotency_key", None) or uuid.uuid4().hex
        dispute, created = disputes.open_manual(db.session, g.staff, key=key, now=utcnow(), **body)
        return dispute, 201 if created else 200


@blp.route("/disputes/<int:dispute_id>")
class DisputeDetail(MethodView):
    @api_roles(blp, *READERS)
    @blp.response(200, DisputeDetailSchema)
    @blp.refuses(*DETAIL_REFUSALS)
    def get(self, dispute_id):
        """争议详情：事件、当事人陈述与附件、裁决建议与审批、适用条款与违约金预览"""
        return disputes.get_dispute(db.session, dispute_id)


@blp.route("/disputes/<int:dispute_id>/investigate")
class DisputeInvestigate(MethodView):
    @api_roles(blp, *WORKERS)
    @blp.arguments(DisputeNoteSchema)
    @blp.response(200, DisputeDetailSchema)
    @blp.refuses(*ACTION_REFUSALS)
    def post(self, body, dispute_id):
        """开始调查（待处理 → 调查中）"""
        return disputes.investigate(db.session, g.staff, dispute_id, note=body.get("note"), now=utcnow())


@blp.route("/disputes/<int:dispute_id>/withdraw")
class DisputeWithdraw(MethodView):
    @api_roles(blp, *WORKERS)
    @blp.arguments(DisputeWithdrawSchema)
    @blp.response(200, DisputeDetailSchema)
    @blp.refuses(*ACTION_REFUSALS)
    def post(self, body, dispute_id):
        """撤回争议（待处理或调查中；须填原因），待审批的裁决建议随之作废"""
        return disputes.withdraw(db.session, dispute_id, reason=body["reason"],
                                 actor=disputes.Actor("staff", g.staff.id), now=utcnow())


@blp.route("/disputes/<int:dispute_id>/decision")
class DisputeDecisionProposal(MethodView):
    @api_roles(blp, *WORKERS)
    @blp.arguments(DisputeProposeSchema)
    @blp.response(201, DisputeDecisionSchema)
    @blp.refuses(decisions.StakeUnknown, NoSplitPolicy, *ACTION_REFUSALS)
    def post(self, body, dispute_id):
        """提出裁决建议（成立 / 不成立，须填理由）。金额此时按报备时生效的条款算定；须另一位运营或管理员审批后才生效、
        才记账；新的建议取代待审批的旧建议。已结案的争议 → 409 dispute_closed"""
        return decisions.propose_decision(db.session, g.staff, dispute_id, now=utcnow(), **body)


@blp.route("/disputes/<int:dispute_id>/decision/approve")
class DisputeDecisionApproval(MethodView):
    @api_roles(blp, *WORKERS)
    @blp.arguments(DisputeApproveSchema)
    @blp.response(200, DisputeDecisionSchema)
    @blp.refuses(decisions.SameApprover, decisions.ProposalNotPending, DealNotFound, DealCancelled,
                 *ACTION_REFUSALS)
    def post(self, body, dispute_id):
        """审批裁决建议（审批人不能是提出人 → 409 same_approver）。审批后争议结案，资金只记账一次：成立且被投诉方为顾问时
        违约金计入其欠款、按需改判成交顾问并重新确认佣金、信用分下降；被投诉方为开发商时涉及佣金形成开发商应收、按受保护
        顾问的分佣链确认。重复或并发审批 → 409 dispute_closed，不再记账"""
        return decisions.approve_decision(db.session, g.staff, dispute_id, body["decision_id"], now=utcnow())


@blp.route("/disputes/<int:dispute_id>/evidence-pack")
class DisputeEvidencePack(MethodView):
    @api_roles(blp, *READERS)
    @blp.arguments(DisputeEvidencePackArgs, location="query")
    @blp.response(200, EvidencePackSchema)
    @blp.refuses(*DETAIL_REFUSALS)
    def get(self, args, dispute_id):
        """证据包 JSON 导出（打印版见后台页面 /admin/disputes/{id}/evidence-pack）"""
        dispute = disputes.get_dispute(db.session, dispute_id)
        pack = evidence_pack.build(db.session, dispute, viewer=g.staff, reveal_phone=args["reveal_phone"],
                                   now=utcnow())
        return evidence_pack.as_dict(db.session, pack)
