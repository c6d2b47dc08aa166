"""The consultant's deals, his own commission lines, earnings and team, and the changes the
developer's site staff asked for on his buyers (he may object before platform staff decide);
buyers' 老带新 codes and rewards.

A consultant sees only his own deals and his own lines, never other people's
amounts (DESIGN §7.6). Reading money needs no operating status: a suspended
consultant still sees what he earned.
"""
from __future__ import annotations

from flask import g, url_for
from flask.views import MethodView
from marshmallow import Schema, fields, validate

from estate_platform.consultants.services import NotYetApplied
from estate_platform.db import db, utcnow
from estate_platform.deals import requests as deal_requests
from estate_platform.deals import services as deals
from estate_platform.deals import views
from estate_platform.deals.models import DEAL_REQUEST_STATUSES, DEAL_STAGES
from estate_platform.errors import ValidationFailed
from estate_platform.referrals import reports
from estate_platform.referrals import services as referrals
from web_common.api import InputSchema, PlatformBlueprint, QuerySchema

from . import callers

blp = PlatformBlueprint("deals", __name__, description="成交、我的佣金明细、收益与团队；购房者老带新推荐码")


class DealListArgs(QuerySchema):
    stage = fields.String(validate=validate.OneOf(DEAL_STAGES))
    page = fields.Integer(load_default=1, validate=validate.Range(min=1))
    per_page = fields.Integer(load_default=20, validate=validate.Range(min=1, max=100))


class DealSchema(Schema):
    """The serving consultant's view of his deal."""
    id = fields.Integer()
    project_id = fields.Integer()
    project_name = fields.Function(lambda d: d.project.name)
    buyer_name = fields.Function(lambda d: d.registration.buyer_name)
    unit = fields.String(metadata={"description": "房号"})
    price_cents = fields.Integer()
    subscribed_on = fields.Date(metadata={"description": "认购日期"})
    stage = fields.String()
    stage_label = fields.Function(lambda d: deals.STAGE_LABELS[d.stage])
    signed_on = fields.Date(allow_none=True)
    completed_on = fields.Date(allow_none=True)
    due_on = fields.Date(allow_none=True, metadata={"description": "开发商预计回款日"})
    commission_recognised = fields.Boolean(attribute="recognised")
    cancel_reason = fields.String(allow_none=True)


class DealPageSchema(Schema):
    items = fields.List(fields.Nested(DealSchema))
    total = fields.Integer()
    page = fields.Integer()
    per_page = fields.Integer()


class OwnLineSchema(Schema):
    id = fields.Integer(allow_none=True, metadata={"description": "佣金明细 id（申请垫付时使用；预计佣金为空）"})
    role = fields.String(metadata={"description": "serving 成交 / referral 转介 / upline 上级"})
    role_label = fields.String()
    level = fields.Integer(allow_none=True)
    amount_cents = fields.Integer()
    reason = fields.String(metadata={"description": "这条佣金为什么属于您"})
    status = fields.String(metadata={"description": "recognised 已确认 / reversed 已冲回 / expected 预计（未到结佣节点）"})


class OwnCommissionSchema(Schema):
    deal_id = fields.Integer()
    project_name = fields.String()
    unit = fields.String()
    stage = fields.String()
    subscribed_on = fields.Date()
    due_on = fields.Date(allow_none=True)
    recognised = fields.Boolean()
    lines = fields.List(fields.Nested(OwnLineSchema))
    total_cents = fields.Integer()


class EarningsArgs(QuerySchema):
    page = fields.Integer(load_default=1, validate=validate.Range(min=1))
    per_page = fields.Integer(load_default=20, validate=validate.Range(min=1, max=100))


class HistoryItemSchema(Schema):
    at = fields.DateTime()
    kind = fields.String()
    description = fields.String()
    account = fields.String(metadata={"description": "pending 待回款 / available 可提现 / owes 欠款"})
    amount_cents = fields.Integer(metadata={"description": "正数对您有利，负数为冲回或扣减"})
    deal_id = fields.Integer(allow_none=True)


class EarningsSchema(Schema):
    pending_cents = fields.Integer(metadata={"description": "已确认、待开发商回款"})
    available_cents = fields.Integer(metadata={"description": "可提现"})
    paid_cents = fields.Integer(metadata={"description": "已发放"})
    owed_cents = fields.Integer(metadata={"description": "您欠平台的金额（退房冲回、违约金）"})
    history = fields.List(fields.Nested(HistoryItemSchema))
    total = fields.Integer()
    page = fields.Integer()
    per_page = fields.Integer()


class TeamSchema(Schema):
    consultant_id = fields.Integer()
    size = fields.Integer(metadata={"description": "邀请关系下的团队人数（不含本人）"})
    direct = fields.Integer(metadata={"description": "直接邀请人数"})
    deals = fields.Integer(metadata={"description": "团队（含本人）有效成交套数"})
    gmv_cents = fields.Integer(metadata={"description": "团队成交额"})


class ReferralCodeSchema(Schema):
    code = fields.String(metadata={"description": "分享给朋友的老带新推荐码"})
    share_url = fields.Function(lambda c: url_for("h5.referral_landing", code=c.code, _external=True),
                                metadata={"description": "老带新分享页（朋友用短信验证码接受推荐）"})


class ClaimReferralSchema(InputSchema):
    code = fields.String(required=True, validate=validate.Length(min=4, max=16))


class ReferralClaimedSchema(Schema):
    referred_at = fields.DateTime(attribute="valid_from")


class OwnDealRequestSchema(Schema):
    """A change the developer's site staff asked for on one of the consultant's buyers."""
    id = fields.Integer()
    kind = fields.String(metadata={"description": "cancel 退房 / backdate 补录成交"})
    kind_label = fields.Function(lambda r: deal_requests.KIND_LABELS[r.kind])
    status = fields.String(metadata={"description": "pending 待审核 / approved 已批准 / rejected 已驳回 / withdrawn 已撤回"})
    status_label = fields.Function(lambda r: deal_requests.STATUS_LABELS[r.status])
    deal_id = fields.Integer(allow_none=True)
    project_name = fields.Function(lambda r: r.project.name)
    buyer_name = fields.Function(lambda r: r.registration.buyer_name)
    unit = fields.String(allow_none=True)
    subscribed_on = fields.Date(allow_none=True)
    price_cents = fields.Integer(allow_none=True)
    reason = fields.String(metadata={"description": "案场填写的原因"})
    objection = fields.String(allow_none=True, metadata={"description": "您的异议"})
    objected_at = fields.DateTime(allow_none=True)
    decided_at = fields.DateTime(allow_none=True)
    decision_note = fields.String(allow_none=True, metadata={"description": "平台的审核意见"})
    created_at = fields.DateTime()


class OwnDealRequestPageSchema(Schema):
    items = fields.List(fields.Nested(OwnDealRequestSchema))
    total = fields.Integer()
    page = fields.Integer()
    per_page = fields.Integer()


class DealRequestListArgs(QuerySchema):
    status = fields.String(validate=validate.OneOf(DEAL_REQUEST_STATUSES))
    page = fields.Integer(load_default=1, validate=validate.Range(min=1))
    per_page = fields.Integer(load_default=20, validate=validate.Range(min=1, max=100))


class ObjectionSchema(InputSchema):
    text = fields.String(required=True, validate=validate.Length(min=1, max=1000), metadata={"multiline": True})


class BuyerRewardSchema(Schema):
    at = fields.DateTime()
    description = fields.String()
    account = fields.String(metadata={"description": "pending 待发放 / available 可发放 / owes 冲回"})
    amount_cents = fields.Integer(metadata={"description": "正数为奖励，负数为退房冲回或发放"})
    deal_id = fields.Integer(allow_none=True)


class BuyerRewardsSchema(Schema):
    """A referring buyer's 老带新 rewards, from the ledger (party type buyer)."""
    pending_cents = fields.Integer(metadata={"description": "朋友已成交、待开发商结佣后发放"})
    available_cents = fields.Integer(metadata={"description": "可发放：随平台结算批次发放"})
    paid_cents = fields.Integer(metadata={"description": "已发放"})
    history = fields.List(fields.Nested(BuyerRewardSchema))
    total = fields.Integer()
    page = fields.Integer()
    per_page = fields.Integer()


@blp.route("/deals")
class Deals(MethodView):
    @blp.authenticated(callers.consultant, NotYetApplied)
    @blp.arguments(DealListArgs, location="query")
    @blp.response(200, DealPageSchema)
    def get(self, args):
        """我的成交（按阶段筛选，分页）"""
        items, total = deals.own_deals(db.session, g.consultant.id, stage=args.get("stage"), page=args["page"],
                                       per_page=args["per_page"])
        return {"items": items, "total": total, "page": args["page"], "per_page": args["per_page"]}


@blp.route("/deals/<int:deal_id>")
class DealDetail(MethodView):
    @blp.authenticated(callers.consultant, NotYetApplied, deals.DealNotFound)
    @blp.response(200, DealSchema)
    def get(self, deal_id):
        """成交详情（只能查看自己成交的）"""
        return deals.own_deal(db.session, g.consultant.id, deal_id)


@blp.route("/deals/<int:deal_id>/commission")
class DealCommission(MethodView):
    @blp.authenticated(callers.consultant, NotYetApplied, deals.DealNotFound)
    @blp.response(200, OwnCommissionSchema)
    def get(self, deal_id):
        """我在这笔成交中的佣金明细及原因（成交顾问、转介人或上级；不显示他人金额）"""
        return views.own_commission(db.session, g.consultant.id, deal_id)


@blp.route("/earnings")
class Earnings(MethodView):
    @blp.authenticated(callers.consultant, NotYetApplied)
    @blp.arguments(EarningsArgs, location="query")
    @blp.response(200, EarningsSchema)
    def get(self, args):
        """我的收益：待回款、可提现、已发放、欠款，以及流水（来自复式记账总账）"""
        return views.earnings(db.session, "consultant", g.consultant.id, page=args["page"], per_page=args["per_page"])


@blp.route("/team")
class MyTeam(MethodView):
    @blp.authenticated(callers.consultant, NotYetApplied)
    @blp.response(200, TeamSchema)
    def get(self):
        """我的团队：邀请关系下的人数与团队成交（只有成交才产生收益，邀请本身不产生任何收益）"""
        return reports.team(db.session, g.consultant.id)


@blp.route("/deal-requests")
class OwnDealRequests(MethodView):
    @blp.authenticated(callers.consultant, NotYetApplied)
    @blp.arguments(DealRequestListArgs, location="query")
    @blp.response(200, OwnDealRequestPageSchema)
    def get(self, args):
        """案场对我的客户的成交提出的退房、补录申请（待审核的可提出异议）"""
        items, total = deal_requests.own_requests(db.session, g.consultant.id, status=args.get("status"),
                                                  page=args["page"], per_page=args["per_page"])
        return {"items": items, "total": total, "page": args["page"], "per_page": args["per_page"]}


@blp.route("/deal-requests/<int:deal_request_id>/objection")
class DealRequestObjection(MethodView):
    @blp.authenticated(callers.consultant, NotYetApplied, deal_requests.DealRequestNotFound,
                       deal_requests.DealRequestClosed, ValidationFailed)
    @blp.arguments(ObjectionSchema)
    @blp.response(200, OwnDealRequestSchema)
    def post(self, body, deal_request_id):
        """对案场的退房或补录申请提出异议（平台审核前可提出或修改），审核人会先看到您的异议"""
        return deal_requests.object_to(db.session, g.consultant.id, deal_request_id, text=body["text"], now=utcnow())


@blp.route("/buyer/rewards")
class BuyerRewards(MethodView):
    @blp.authenticated(callers.buyer)
    @blp.arguments(EarningsArgs, location="query")
    @blp.response(200, BuyerRewardsSchema)
    def get(self, args):
        """购房者本人的老带新奖励：待发放、可发放、已发放与明细（朋友成交并结佣后计入，随平台结算批次发放）"""
        return views.earnings(db.session, "buyer", g.buyer.id, page=args["page"], per_page=args["per_page"])


@blp.route("/buyer/referral-code")
class BuyerReferralCode(MethodView):
    @blp.authenticated(callers.buyer)
    @blp.response(200, ReferralCodeSchema)
    def get(self):
        """购房者本人的老带新推荐码（朋友成交后可获得楼盘的推荐奖励）"""
        return referrals.referral_code_of(db.session, g.buyer.id, now=utcnow())


@blp.route("/buyer/referrals")
class BuyerReferrals(MethodView):
    @blp.authenticated(callers.buyer, referrals.ReferralCodeNotFound, referrals.AlreadyReferred,
                       referrals.ReferralNotAllowed, referrals.FriendAlreadyRegistered)
    @blp.arguments(ClaimReferralSchema)
    @blp.response(201, ReferralClaimedSchema)
    def post(self, body):
        """填写推荐我的老业主的推荐码（只能填写一次；已由顾问登记或经顾问链接到访的，不能再接受推荐：
        409 friend_already_registered）"""
        return referrals.claim_referral(db.session, g.buyer.id, body["code"], now=utcnow())
