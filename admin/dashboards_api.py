"""Admin JSON API for the dashboards (看板数据, issue 13 §2): the same numbers as the pages.
Money in cents, rates in basis points (floored; null when the earlier step is zero)."""
from __future__ import annotations

from flask.views import MethodView
from marshmallow import Schema, fields, validate

from estate_platform.db import db
from estate_platform.errors import ValidationFailed
from estate_platform.referrals import reports as referral_reports
from estate_platform.reports import filters as dashboard_filters
from estate_platform.reports.funnel import BREAKDOWNS, funnel
from estate_platform.reports.payouts import payouts_by_month, payouts_by_status
from estate_platform.reports.teams import TeamLeaderNotFound, team_view
from web_common.api import PlatformBlueprint, QuerySchema

from .callers import api_roles

blp = PlatformBlueprint("admin_dashboards_api", __name__,
                        description="看板数据：业绩漏斗（邀请打开→留资注册→报备→到访→成交→成交额→佣金，含转化率）、"
                                    "顾问排行榜、顾问团队；金额单位分，比率单位基点")

ANALYSTS = ("admin", "finance", "operations")
FINANCE = ("admin", "finance")
CENTS = {"format": "int64"}
ID = validate.Range(min=1, max=2 ** 31 - 1)


DAYS = validate.Range(min=dashboard_filters.FIRST_DAY, max=dashboard_filters.LAST_DAY)


class DashboardPeriodArgs(QuerySchema):
    start = fields.Date(validate=DAYS, metadata={"description": "开始日（上海时间，含）"})
    end = fields.Date(validate=DAYS, metadata={"description": "结束日（上海时间，含）"})


class DashboardFunnelArgs(DashboardPeriodArgs):
    city = fields.String(validate=validate.Length(min=1, max=50), metadata={"description": "楼盘所在城市"})
    project_id = fields.Integer(validate=ID)
    team_of = fields.Integer(validate=ID, metadata={"description": "只看该顾问及其团队（邀请树）"})
    by = fields.String(load_default="city", validate=validate.OneOf(BREAKDOWNS),
                       metadata={"description": "分组：city 城市 / project 楼盘 / month 月份"})


class DashboardLeaderboardArgs(DashboardPeriodArgs):
    city = fields.String(validate=validate.Length(min=1, max=50), metadata={"description": "顾问所在城市"})
    rank_by = fields.String(load_default="gmv", validate=validate.OneOf(("gmv", "deals")))
    limit = fields.Integer(load_default=20, validate=validate.Range(min=1, max=100))


class DashboardTeamArgs(DashboardPeriodArgs):
    consultant_id = fields.Integer(required=True, validate=ID, metadata={"description": "团队负责人（顾问编号）"})


class DashboardFunnelRowSchema(Schema):
    key = fields.String(metadata={"description": "分组键：城市、楼盘编号或月份（YYYY-MM）；空为未知"})
    label = fields.String()
    opens = fields.Integer()
    signups = fields.Integer()
    registrations = fields.Integer()
    visits = fields.Integer()
    deals = fields.Integer()
    gmv_cents = fields.Integer(metadata=CENTS)
    commission_cents = fields.Integer(metadata=CENTS)
    average_price_cents = fields.Integer(allow_none=True, metadata=CENTS)
    signup_rate_bps = fields.Integer(allow_none=True)
    registration_rate_bps = fields.Integer(allow_none=True)
    visit_rate_bps = fields.Integer(allow_none=True)
    deal_rate_bps = fields.Integer(allow_none=True)
    commission_rate_bps = fields.Integer(allow_none=True)


def _row(row) -> dict:
    return {"key": row.key, "label": row.label, "opens": row.opens, "signups": row.signups,
            "registrations": row.registrations, "visits": row.visits, "deals": row.deals,
            "gmv_cents": row.gmv_cents, "commission_cents": row.commission_cents,
            "average_price_cents": row.average_price_cents, **row.rates}


class DashboardFunnelSchema(Schema):
    by = fields.String()
    team_size = fields.Integer(allow_none=True, metadata={"description": "按团队筛选时，团队人数（不含本人）"})
    total = fields.Nested(DashboardFunnelRowSchema)
    rows = fields.List(fields.Nested(DashboardFunnelRowSchema))


class DashboardRankSchema(Schema):
    rank = fields.Integer()
    consultant_id = fields.Integer()
    name = fields.String()
    city = fields.String()
    deals = fields.Integer()
    gmv_cents = fields.Integer(metadata=CENTS)
    team_size = fields.Integer()


class DashboardLeaderboardSchema(Schema):
    items = fields.List(fields.Nested(DashboardRankSchema))


class DashboardMemberSchema(Schema):
    consultant_id = fields.Integer()
    name = fields.String()
    city = fields.String()
    depth = fields.Integer(metadata={"description": "0 为本人，1 为其直接邀请，依此类推"})
    registrations = fields.Integer()
    deals = fields.Integer()
    gmv_cents = fields.Integer(metadata=CENTS)


class DashboardTeamSchema(Schema):
    leader = fields.Nested(DashboardMemberSchema)
    size = fields.Integer()
    direct = fields.Integer()
    registrations = fields.Integer()
    deals = fields.Integer()
    gmv_cents = fields.Integer(metadata=CENTS)
    members = fields.List(fields.Nested(DashboardMemberSchema))


class PayoutMonthSchema(Schema):
    month = fields.String(metadata={"description": "到账月份 YYYY-MM（上海时间）"})
    items = fields.Integer()
    gross_cents = fields.Integer(metadata=CENTS)
    owes_netted_cents = fields.Integer(metadata=CENTS)
    tax_cents = fields.Integer(metadata=CENTS)
    net_cents = fields.Integer(metadata=CENTS)


class PayoutStatusSchema(Schema):
    status = fields.String()
    label = fields.String()
    items = fields.Integer()
    net_cents = fields.Integer(metadata=CENTS)


class DashboardPayoutsSchema(Schema):
    months = fields.List(fields.Nested(PayoutMonthSchema))
    statuses = fields.List(fields.Nested(PayoutStatusSchema))


def _check_period(args: dict) -> None:
    dashboard_filters.parse({k: args.get(k) for k in ("start", "end")})


@blp.route("/funnel")
class FunnelView(MethodView):
    @api_roles(blp, *ANALYSTS)
    @blp.arguments(DashboardFunnelArgs, location="query")
    @blp.response(200, DashboardFunnelSchema)
    @blp.refuses(ValidationFailed)
    def get(self, args):
        """业绩漏斗：各环节数量、转化率（基点），按城市、楼盘或月份分组"""
        f = dashboard_filters.parse(args)
        result = funnel(db.session, start=f.start, end=f.end, city=f.city, project_id=f.project_id,
                        team_of=f.team_of, by=f.by)
        return {"by": result.by, "team_size": result.team_size, "total": _row(result.total),
                "rows": [_row(r) for r in result.rows]}


@blp.route("/leaderboard")
class LeaderboardView(MethodView):
    @api_roles(blp, *ANALYSTS)
    @blp.arguments(DashboardLeaderboardArgs, location="query")
    @blp.response(200, DashboardLeaderboardSchema)
    @blp.refuses(ValidationFailed)
    def get(self, args):
        """顾问排行榜（按认购日统计的有效成交，不含退房）"""
        _check_period(args)
        return {"items": referral_reports.leaderboard(db.session, start=args.get("start"), end=args.get("end"),
                                                      by=args["rank_by"], limit=args["limit"], city=args.get("city"))}


@blp.route("/team")
class TeamView(MethodView):
    @api_roles(blp, *ANALYSTS)
    @blp.arguments(DashboardTeamArgs, location="query")
    @blp.response(200, DashboardTeamSchema)
    @blp.refuses(ValidationFailed, TeamLeaderNotFound)
    def get(self, args):
        """顾问团队：邀请树下的成员及其报备、成交、成交额"""
        _check_period(args)
        return team_view(db.session, args["consultant_id"], start=args.get("start"), end=args.get("end"))


@blp.route("/payouts")
class PayoutsView(MethodView):
    @api_roles(blp, *FINANCE)
    @blp.arguments(DashboardPeriodArgs, location="query")
    @blp.response(200, DashboardPayoutsSchema)
    @blp.refuses(ValidationFailed)
    def get(self, args):
        """每月打款：已到账的结算明细按到账月份汇总，及各状态的笔数与金额"""
        _check_period(args)
        return {"months": payouts_by_month(db.session, start=args.get("start"), end=args.get("end")),
                "statuses": payouts_by_status(db.session)}
