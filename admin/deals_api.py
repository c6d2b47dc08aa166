"""Admin JSON API for deals (成交) and deal change requests (成交变更申请).
Commission rules, split policies, the trial balance and the referral reports are in
``commissions_api``.

Site staff record deals and move their stages for their own developer's projects;
finance sees every commission line; rules and policies are finance's. A site staff
member's cancellation, or recording of a deal subscribed more than DEAL_BACKDATE_DAYS
ago, is only a request (202) that platform operations, finance or an admin decide
(``deals.requests``); finance and admins cancel and record directly, as the checkers.
"""
from __future__ import annotations

import json

from flask import current_app, g, jsonify
from flask.views import MethodView
from marshmallow import Schema, fields, validate

from estate_platform.commissions import services as commissions
from estate_platform.db import db, utcnow
from estate_platform.deals import recognition
from estate_platform.deals import requests as deal_requests
from estate_platform.deals import services as deals
from estate_platform.deals.models import DEAL_REQUEST_KINDS, DEAL_REQUEST_STATUSES, DEAL_STAGES, DealChangeRequest
from estate_platform.errors import ValidationFailed
from estate_platform.phones import PHONE_INPUT_MAX_LENGTH
from estate_platform.projects.services import ProjectNotFound
from web_common.api import InputSchema, PlatformBlueprint, QuerySchema

from .callers import api_roles

blp = PlatformBlueprint("admin_deals_api", __name__,
                        description="成交录入与阶段、成交变更申请（退房、补录）")

RECORDERS = ("admin", "finance", "site_staff")
READERS = ("admin", "finance", "operations", "site_staff")
FINANCE = ("admin", "finance")
ANALYSTS = ("admin", "finance", "operations")


# --- schemas ---------------------------------------------------------------------------------

class DealInputSchema(InputSchema):
    project_id = fields.Integer(required=True, strict=True, validate=validate.Range(min=1))
    buyer_phone = fields.String(required=True, validate=validate.Length(max=PHONE_INPUT_MAX_LENGTH),
                                metadata={"description": "客户手机号（中国大陆）"})
    unit = fields.String(required=True, validate=validate.Length(min=1, max=50), metadata={"description": "房号"})
    price_cents = fields.Integer(required=True, strict=True, validate=validate.Range(min=1, max=10**12))
    subscribed_on = fields.Date(required=True, metadata={"description": "认购日期（不能晚于今天）"})
    note = fields.String(load_default=None, allow_none=True, validate=validate.Length(max=500), metadata={"multiline": True})


class StageInputSchema(InputSchema):
    stage = fields.String(required=True, validate=validate.OneOf(("signed", "loan_disbursed", "paid_in_full")))
    on = fields.Date(load_default=None, allow_none=True, metadata={"description": "发生日期，默认今天"})


class CancelInputSchema(InputSchema):
    reason = fields.String(required=True, validate=validate.Length(min=1, max=500), metadata={"multiline": True})


class PriceInputSchema(InputSchema):
    price_cents = fields.Integer(required=True, strict=True, validate=validate.Range(min=1, max=10**12))
    reason = fields.String(required=True, validate=validate.Length(min=1, max=500), metadata={"multiline": True})


class DealListArgs(QuerySchema):
    project_id = fields.Integer(validate=validate.Range(min=1))
    consultant_id = fields.Integer(validate=validate.Range(min=1))
    stage = fields.String(validate=validate.OneOf(DEAL_STAGES))
    page = fields.Integer(load_default=1, validate=validate.Range(min=1))
    per_page = fields.Integer(load_default=30, validate=validate.Range(min=1, max=100))


class LineSchema(Schema):
    version = fields.Integer()
    seq = fields.Integer()
    party_type = fields.String()
    party_id = fields.Integer()
    role = fields.String()
    level = fields.Integer(allow_none=True)
    amount_cents = fields.Integer()
    reason = fields.String()


class StaffDealSchema(Schema):
    """What every staff role sees of a deal: no split lines, a masked phone."""
    id = fields.Integer()
    project_id = fields.Integer()
    project_name = fields.Function(lambda d: d.project.name)
    registration_id = fields.Integer()
    consultant_id = fields.Integer()
    consultant_name = fields.Function(lambda d: d.consultant.name)
    buyer_name = fields.Function(lambda d: d.registration.buyer_name)
    buyer_phone = fields.Function(lambda d: deals.buyer_phone_for(g.staff, d),
                                  metadata={"description": "脱敏：案场按楼盘号码显示规则，其他角色前三后四"})
    unit = fields.String()
    price_cents = fields.Integer()
    subscribed_on = fields.Date()
    stage = fields.String()
    stage_label = fields.Function(lambda d: deals.STAGE_LABELS[d.stage])
    signed_on = fields.Date(allow_none=True)
    completed_on = fields.Date(allow_none=True)
    trigger_reached_on = fields.Date(allow_none=True)
    due_on = fields.Date(allow_none=True)
    cancel_reason = fields.String(allow_none=True)
    commission_cents = fields.Integer()
    recognised = fields.Boolean()
    created_at = fields.DateTime()


class FinanceDealSchema(StaffDealSchema):
    """Finance's view (its own endpoint, finance roles only): the pricing snapshot and every line."""
    rule_snapshot = fields.Function(lambda d: json.loads(d.rule_snapshot))
    policy_snapshot = fields.Function(lambda d: json.loads(d.policy_snapshot))
    tier_index = fields.Integer(allow_none=True)
    lines_version = fields.Integer()
    lines = fields.Function(lambda d: LineSchema(many=True).dump(recognition.current_lines(db.session, d)))


class DealPageSchema(Schema):
    items = fields.List(fields.Nested(StaffDealSchema))
    total = fields.Integer()
    page = fields.Integer()
    per_page = fields.Integer()


class DealRequestSchema(Schema):
    """A deal change asked for by site staff and decided by platform staff (maker-checker)."""
    id = fields.Integer()
    kind = fields.String(metadata={"description": "cancel 退房 / backdate 补录（认购日早于 DEAL_BACKDATE_DAYS 天前）"})
    kind_label = fields.Function(lambda r: deal_requests.KIND_LABELS[r.kind])
    status = fields.String(metadata={"description": "pending 待审核 / approved 已批准 / rejected 已驳回 / withdrawn 已撤回"})
    status_label = fields.Function(lambda r: deal_requests.STATUS_LABELS[r.status])
    deal_id = fields.Integer(allow_none=True, metadata={"description": "退房：该成交；补录：批准后录入的成交"})
    project_id = fields.Integer()
    project_name = fields.Function(lambda r: r.project.name)
    consultant_id = fields.Integer(metadata={"description": "成交顾问（已收到通知，可在审核前提出异议）"})
    consultant_name = fields.Function(lambda r: r.consultant.name)
    buyer_name = fields.Function(lambda r: r.registration.buyer_name)
    unit = fields.String(allow_none=True)
    subscribed_on = fields.Date(allow_none=True)
    price_cents = fields.Integer(allow_none=True)
    reason = fields.String()
    requested_by_id = fields.Integer()
    requested_by_name = fields.Function(lambda r: r.requested_by.display_name)
    objection = fields.Function(lambda r: None if g.staff.role == "site_staff" else r.objection, allow_none=True,
                                metadata={"type": "string", "description": "成交顾问的异议（审核人须先阅读；案场看不到）"})
    objected_at = fields.DateTime(allow_none=True)
    decided_by_id = fields.Integer(allow_none=True)
    decided_by_name = fields.Function(lambda r: r.decided_by.display_name if r.decided_by else None)
    decided_at = fields.DateTime(allow_none=True)
    decision_note = fields.String(allow_none=True)
    created_at = fields.DateTime()


class DealRequestPageSchema(Schema):
    items = fields.List(fields.Nested(DealRequestSchema))
    total = fields.Integer()
    page = fields.Integer()
    per_page = fields.Integer()


class DealRequestListArgs(QuerySchema):
    status = fields.String(validate=validate.OneOf(DEAL_REQUEST_STATUSES))
    kind = fields.String(validate=validate.OneOf(DEAL_REQUEST_KINDS))
    page = fields.Integer(load_default=1, validate=validate.Range(min=1))
    per_page = fields.Integer(load_default=30, validate=validate.Range(min=1, max=100))


class DecisionInputSchema(InputSchema):
    note = fields.String(load_default=None, allow_none=True, validate=validate.Length(max=500),
                         metadata={"multiline": True, "description": "审核意见；驳回时必填"})


DEAL_REFUSALS = (deals.DealNotFound, deals.DealCancelled, ValidationFailed)
DECIDERS = deal_requests.DECIDERS


def _accepted(request):
    """202: site staff's change waits for platform approval; the body is the request."""
    return jsonify(DealRequestSchema().dump(request)), 202


# --- deals -----------------------------------------------------------------------------------

@blp.route("/deals")
class Deals(MethodView):
    @api_roles(blp, *RECORDERS)
    @blp.arguments(DealInputSchema)
    @blp.response(201, StaffDealSchema)
    @blp.alt_response(202, schema=DealRequestSchema, success=True,
                      description="案场补录认购日早于 DEAL_BACKDATE_DAYS（默认 7）天前的成交：生成待平台审核的补录申请，"
                                  "批准后才录入成交")
    @blp.refuses(ProjectNotFound, deals.NoBindingRegistration, deals.SubscribedBeforeRegistration,
                 deals.UnitAlreadySold, commissions.NoCommissionRule, commissions.NoSplitPolicy, ValidationFailed)
    def post(self, body):
        """录入认购（成交）：须有该客户在此楼盘的有效报备；按认购日生效的佣金规则定价并保存快照。案场录入认购日早于
        DEAL_BACKDATE_DAYS 天前的成交须在备注中说明原因，并由平台运营、财务或管理员批准后生效（202）"""
        result = deal_requests.record_or_request(db.session, g.staff, deals.NewDeal(**body), now=utcnow(),
                                            backdate_days=current_app.config["DEAL_BACKDATE_DAYS"])
        return _accepted(result) if isinstance(result, DealChangeRequest) else result

    @api_roles(blp, *READERS)
    @blp.arguments(DealListArgs, location="query")
    @blp.response(200, DealPageSchema)
    def get(self, args):
        """成交列表（案场只见本开发商的楼盘）"""
        items, total = deals.list_for_staff(db.session, g.staff, project_id=args.get("project_id"),
                                            stage=args.get("stage"), consultant_id=args.get("consultant_id"),
                                            page=args["page"], per_page=args["per_page"])
        return {"items": items, "total": total, "page": args["page"], "per_page": args["per_page"]}


@blp.route("/deals/<int:deal_id>")
class DealDetail(MethodView):
    @api_roles(blp, *READERS)
    @blp.response(200, StaffDealSchema)
    @blp.refuses(deals.DealNotFound)
    def get(self, deal_id):
        """成交详情（案场只见本开发商的楼盘）"""
        return deals.staff_deal(db.session, g.staff, deal_id)


@blp.route("/deals/<int:deal_id>/commission")
class DealCommissionLines(MethodView):
    @api_roles(blp, *FINANCE)
    @blp.response(200, FinanceDealSchema)
    @blp.refuses(deals.DealNotFound)
    def get(self, deal_id):
        """财务视图：定价快照与全部分佣明细（平台、转介人、各级上级、成交顾问、老带新）"""
        return deals.staff_deal(db.session, g.staff, deal_id)


@blp.route("/deals/<int:deal_id>/stage")
class DealStage(MethodView):
    @api_roles(blp, *RECORDERS)
    @blp.arguments(StageInputSchema)
    @blp.response(200, StaffDealSchema)
    @blp.refuses(deals.InvalidStageChange, *DEAL_REFUSALS)
    def post(self, body, deal_id):
        """推进成交阶段：网签 signed → 放款 loan_disbursed 或全款 paid_in_full；到达结佣节点即确认佣金"""
        deal = deals.change_stage(db.session, g.staff, deal_id, body["stage"], on=body.get("on"), now=utcnow())
        return deal


@blp.route("/deals/<int:deal_id>/cancel")
class DealCancel(MethodView):
    @api_roles(blp, *RECORDERS)
    @blp.arguments(CancelInputSchema)
    @blp.response(200, StaffDealSchema)
    @blp.alt_response(202, schema=DealRequestSchema, success=True,
                      description="案场申请退房：生成待平台审核的退房申请，成交与佣金在批准前不变")
    @blp.refuses(deal_requests.DealRequestPending, *DEAL_REFUSALS)
    def post(self, body, deal_id):
        """退房（须填原因）：已确认的佣金全部冲回，已结算部分形成顾问欠款。财务和管理员直接退房（200）；案场只能申请
        （202），由另一位平台员工（运营、财务或管理员）批准后才生效，成交顾问会收到通知并可在批准前提出异议"""
        result = deal_requests.cancel_or_request(db.session, g.staff, deal_id, reason=body["reason"], now=utcnow())
        return _accepted(result) if isinstance(result, DealChangeRequest) else result


# --- deal change requests (maker-checker) ------------------------------------------------------------

@blp.route("/deal-requests")
class DealRequests(MethodView):
    @api_roles(blp, *READERS)
    @blp.arguments(DealRequestListArgs, location="query")
    @blp.response(200, DealRequestPageSchema)
    def get(self, args):
        """成交变更申请（案场的退房与补录申请）：status=pending 为待审核队列；案场只见本开发商的楼盘"""
        items, total = deal_requests.list_for_staff(db.session, g.staff, status=args.get("status"),
                                                    kind=args.get("kind"),
                                               page=args["page"], per_page=args["per_page"])
        return {"items": items, "total": total, "page": args["page"], "per_page": args["per_page"]}


@blp.route("/deal-requests/<int:deal_request_id>/approve")
class DealRequestApprove(MethodView):
    @api_roles(blp, *DECIDERS)
    @blp.arguments(DecisionInputSchema)
    @blp.response(200, DealRequestSchema)
    @blp.refuses(deal_requests.DealRequestNotFound, deal_requests.DealRequestClosed, deal_requests.FourEyesRequired,
                 ProjectNotFound, deals.NoBindingRegistration, deals.SubscribedBeforeRegistration,
                 deals.UnitAlreadySold, commissions.NoCommissionRule, commissions.NoSplitPolicy, *DEAL_REFUSALS)
    def post(self, body, deal_request_id):
        """批准成交变更申请（申请人以外的平台员工）：退房即冲回佣金，补录即按认购日录入成交；只执行一次"""
        return deal_requests.approve(db.session, g.staff, deal_request_id, note=body.get("note"), now=utcnow())


@blp.route("/deal-requests/<int:deal_request_id>/reject")
class DealRequestReject(MethodView):
    @api_roles(blp, *DECIDERS)
    @blp.arguments(DecisionInputSchema)
    @blp.response(200, DealRequestSchema)
    @blp.refuses(deal_requests.DealRequestNotFound, deal_requests.DealRequestClosed, deal_requests.FourEyesRequired,
                 ValidationFailed)
    def post(self, body, deal_request_id):
        """驳回成交变更申请（须填审核意见）：成交与佣金不变，成交顾问会收到通知"""
        return deal_requests.reject(db.session, g.staff, deal_request_id, note=body.get("note"), now=utcnow())


@blp.route("/deal-requests/<int:deal_request_id>/withdraw")
class DealRequestWithdraw(MethodView):
    @api_roles(blp, "admin", "site_staff")
    @blp.response(200, DealRequestSchema)
    @blp.refuses(deal_requests.DealRequestNotFound, deal_requests.DealRequestClosed)
    def post(self, deal_request_id):
        """撤回尚未审核的成交变更申请（本开发商的案场或管理员）"""
        return deal_requests.withdraw(db.session, g.staff, deal_request_id, now=utcnow())


@blp.route("/deals/<int:deal_id>/price")
class DealPrice(MethodView):
    @api_roles(blp, *FINANCE)
    @blp.arguments(PriceInputSchema)
    @blp.response(200, StaffDealSchema)
    @blp.refuses(*DEAL_REFUSALS)
    def post(self, body, deal_id):
        """更正成交价（须填原因）：按原阶梯重新计佣，已确认的佣金冲回后按新金额重新确认"""
        return deals.correct_price(db.session, g.staff, deal_id, price_cents=body["price_cents"],
                                                 reason=body["reason"], now=utcnow())
