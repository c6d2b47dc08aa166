"""Admin JSON API for commission rules (佣金规则), split policies (分佣方案), the
recognition batch (佣金确认), the ledger's trial balance (试算平衡) and the referral
reports (推荐网络报表). Rules and policies are finance's; analysts read them.
"""
from __future__ import annotations

from flask import g
from flask.views import MethodView
from marshmallow import Schema, fields, validate

from estate_platform.commissions import pricing
from estate_platform.commissions import services as commissions
from estate_platform.db import after_commit, db, utcnow
from estate_platform.deals import batch as recognition_batch
from estate_platform.errors import ValidationFailed
from estate_platform.ledger import services as ledger
from estate_platform.projects.services import ProjectNotFound
from estate_platform.referrals import reports
from web_common.api import InputSchema, PlatformBlueprint, QuerySchema

from .callers import api_roles
from .deals_api import ANALYSTS, FINANCE

blp = PlatformBlueprint("admin_commissions_api", __name__,
                        description="佣金规则、分佣方案、佣金确认批处理、试算平衡、推荐网络报表")


# --- schemas ---------------------------------------------------------------------------------

class TierSchema(InputSchema):
    threshold = fields.Integer(required=True, strict=True, validate=validate.Range(min=1),
                               metadata={"format": "int64",
                                         "description": "units：当月第 N 套起；amount：当月成交额达到（分）起"})
    rate_bps = fields.Integer(load_default=None, allow_none=True, strict=True)
    fixed_cents = fields.Integer(load_default=None, allow_none=True, strict=True)


class RuleInputSchema(InputSchema):
    effective_from = fields.Date(required=True, metadata={"description": "生效日期（按认购日适用）"})
    basis = fields.String(required=True, validate=validate.OneOf(pricing.BASES))
    rate_bps = fields.Integer(load_default=None, allow_none=True, strict=True)
    fixed_cents = fields.Integer(load_default=None, allow_none=True, strict=True)
    tier_metric = fields.String(load_default=None, allow_none=True, validate=validate.OneOf(pricing.TIER_METRICS))
    tiers = fields.List(fields.Nested(TierSchema), load_default=list)
    trigger = fields.String(required=True, validate=validate.OneOf(pricing.TRIGGERS))
    payment_terms_days = fields.Integer(required=True, strict=True, validate=validate.Range(min=0, max=730))
    text = fields.String(load_default=None, allow_none=True, validate=validate.Length(max=2000), metadata={"multiline": True})


class RuleSchema(Schema):
    id = fields.Integer()
    project_id = fields.Integer()
    effective_from = fields.Date()
    basis = fields.String()
    rate_bps = fields.Integer(allow_none=True)
    fixed_cents = fields.Integer(allow_none=True)
    tier_metric = fields.String(allow_none=True)
    tiers = fields.List(fields.Nested(TierSchema))
    trigger = fields.String()
    payment_terms_days = fields.Integer()
    text = fields.String(allow_none=True)
    created_at = fields.DateTime()


class PolicyInputSchema(InputSchema):
    project_id = fields.Integer(load_default=None, allow_none=True, strict=True,
                                metadata={"description": "不填为平台默认方案，填写为该楼盘的覆盖方案"})
    effective_from = fields.Date(required=True)
    platform_fee_bps = fields.Integer(required=True, strict=True)
    referral_bps = fields.Integer(load_default=0, strict=True)
    upline_bps = fields.List(fields.Integer(strict=True), load_default=list,
                             metadata={"description": "每级上级分成（基点），最多 2 级"})
    max_upline_levels = fields.Integer(load_default=2, strict=True)
    buyer_referral_reward_cents = fields.Integer(load_default=0, strict=True)


class PolicySchema(Schema):
    id = fields.Integer()
    project_id = fields.Integer(allow_none=True)
    effective_from = fields.Date()
    platform_fee_bps = fields.Integer()
    referral_bps = fields.Integer()
    max_upline_levels = fields.Integer()
    upline_bps = fields.Function(lambda p: [p.upline_l1_bps, p.upline_l2_bps][:p.max_upline_levels])
    buyer_referral_reward_cents = fields.Integer()
    created_at = fields.DateTime()


class PolicyListArgs(QuerySchema):
    project_id = fields.Integer(validate=validate.Range(min=1))


class RecogniseResultSchema(Schema):
    due = fields.Integer(metadata={"description": "排队时待确认的成交数"})
    queued = fields.Boolean()


class TrialRowSchema(Schema):
    party_type = fields.String()
    kind = fields.String()
    accounts = fields.Integer()
    balance_cents = fields.Integer(metadata={"description": "借方为正"})


class TrialBalanceSchema(Schema):
    rows = fields.List(fields.Nested(TrialRowSchema))
    total_cents = fields.Integer(metadata={"description": "全部分录之和，恒为 0"})
    unbalanced_transactions = fields.List(fields.Integer())


class PeriodArgs(QuerySchema):
    start = fields.Date()
    end = fields.Date()


class LeaderboardArgs(PeriodArgs):
    by = fields.String(load_default="gmv", validate=validate.OneOf(("gmv", "deals")))
    city = fields.String(validate=validate.Length(min=1, max=50))
    limit = fields.Integer(load_default=20, validate=validate.Range(min=1, max=200))


class RankSchema(Schema):
    rank = fields.Integer()
    consultant_id = fields.Integer()
    name = fields.String()
    city = fields.String()
    deals = fields.Integer()
    gmv_cents = fields.Integer()
    team_size = fields.Integer()


class ContributorSchema(Schema):
    party_type = fields.String()
    party_id = fields.Integer()
    name = fields.String()
    deals = fields.Integer()
    gmv_cents = fields.Integer()


class SuperUsersArgs(PeriodArgs):
    share_bps = fields.Integer(load_default=8000, validate=validate.Range(min=1, max=10000))


class SuperUsersSchema(Schema):
    total_deals = fields.Integer()
    total_gmv_cents = fields.Integer()
    share_bps = fields.Integer()
    contributors = fields.Integer()
    by_deals = fields.List(fields.Nested(ContributorSchema))
    by_gmv = fields.List(fields.Nested(ContributorSchema))
    both = fields.List(fields.Nested(ContributorSchema))


class TeamSchema(Schema):
    consultant_id = fields.Integer()
    size = fields.Integer()
    direct = fields.Integer()
    deals = fields.Integer()
    gmv_cents = fields.Integer()


# --- commission rules and split policies --------------------------------------------------------

@blp.route("/projects/<int:project_id>/commission-rules")
class CommissionRules(MethodView):
    @api_roles(blp, *ANALYSTS)
    @blp.response(200, RuleSchema(many=True))
    @blp.refuses(ProjectNotFound)
    def get(self, project_id):
        """楼盘的佣金规则各版本（新的在前）"""
        return commissions.rules_of(db.session, project_id)

    @api_roles(blp, *FINANCE)
    @blp.arguments(RuleInputSchema)
    @blp.response(201, RuleSchema)
    @blp.refuses(ProjectNotFound, commissions.RuleVersionExists, ValidationFailed)
    def post(self, body, project_id):
        """新增佣金规则版本（按认购日适用；已录入的成交保留原快照）"""
        return commissions.create_rule(db.session, project_id, commissions.RuleInput(**body), staff_id=g.staff.id,
                                       now=utcnow())


@blp.route("/split-policies")
class SplitPolicies(MethodView):
    @api_roles(blp, *ANALYSTS)
    @blp.arguments(PolicyListArgs, location="query")
    @blp.response(200, PolicySchema(many=True))
    def get(self, args):
        """分佣方案各版本：不带 project_id 为平台默认方案"""
        return commissions.list_policies(db.session, args.get("project_id"))

    @api_roles(blp, *FINANCE)
    @blp.arguments(PolicyInputSchema)
    @blp.response(201, PolicySchema)
    @blp.refuses(ProjectNotFound, commissions.RuleVersionExists, ValidationFailed)
    def post(self, body):
        """新增分佣方案版本（上级分成最多 2 级，三级及以上一律拒绝）"""
        return commissions.create_policy(db.session, commissions.PolicyInput(**body), staff_id=g.staff.id,
                                         now=utcnow())


@blp.route("/commissions/recognise")
class RecogniseNow(MethodView):
    @api_roles(blp, *FINANCE)
    @blp.response(202, RecogniseResultSchema)
    def post(self):
        """立即运行佣金确认批处理（后台任务；重复运行不会重复记账）"""
        from estate_platform.deals.tasks import recognise_due_task
        after_commit(db.session, recognise_due_task.delay)
        return {"due": recognition_batch.count_due(db.session), "queued": True}


@blp.route("/ledger/trial-balance")
class TrialBalance(MethodView):
    @api_roles(blp, *FINANCE)
    @blp.response(200, TrialBalanceSchema)
    def get(self):
        """试算平衡：按参与方类型与科目汇总（借方为正），全部分录之和恒为 0"""
        return {"rows": [{"party_type": t, "kind": k, "accounts": n, "balance_cents": b}
                         for t, k, n, b in ledger.trial_balance(db.session)],
                "total_cents": ledger.total(db.session),
                "unbalanced_transactions": ledger.unbalanced_transactions(db.session)}


# --- referral reports -----------------------------------------------------------------------------

@blp.route("/referrals/leaderboard")
class Leaderboard(MethodView):
    @api_roles(blp, *ANALYSTS)
    @blp.arguments(LeaderboardArgs, location="query")
    @blp.response(200, RankSchema(many=True))
    def get(self, args):
        """顾问排行榜（按成交额或成交套数）"""
        return reports.leaderboard(db.session, start=args.get("start"), end=args.get("end"), by=args["by"],
                                   limit=args["limit"], city=args.get("city"))


@blp.route("/referrals/super-users")
class SuperUsers(MethodView):
    @api_roles(blp, *ANALYSTS)
    @blp.arguments(SuperUsersArgs, location="query")
    @blp.response(200, SuperUsersSchema)
    def get(self, args):
        """超级用户：带来 80%（可调）成交与成交额的最少顾问与老业主"""
        return reports.super_users(db.session, start=args.get("start"), end=args.get("end"),
                                   share_bps=args["share_bps"])


@blp.route("/referrals/teams/<int:consultant_id>")
class ConsultantTeam(MethodView):
    @api_roles(blp, *ANALYSTS)
    @blp.arguments(PeriodArgs, location="query")
    @blp.response(200, TeamSchema)
    def get(self, args, consultant_id):
        """某顾问的团队人数与团队成交额"""
        return reports.team(db.session, consultant_id, start=args.get("start"), end=args.get("end"))
