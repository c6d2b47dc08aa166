"""Dashboards (看板, issue 13 §2): the platform funnel (业绩漏斗) by city, project or month with
its conversion rates, the consultant leaderboard (顾问排行榜) and a consultant's team (团队).
Every chart (server-rendered SVG, ``admin.charts``) has its table beneath it. Operations,
finance and admins read them; the same numbers are in ``dashboards_api``."""
from __future__ import annotations

from datetime import date

from flask import Blueprint, abort, render_template, request

from estate_platform.clock import local_date
from estate_platform.db import db, utcnow
from estate_platform.referrals import reports as referral_reports
from estate_platform.reports import filters as dashboard_filters
from estate_platform.reports.funnel import STEP_LABELS, funnel, steps
from estate_platform.reports.payouts import payouts_by_month, payouts_by_status
from estate_platform.reports.teams import team_view

from .charts import Series, bar_chart, stacked_bar_chart
from .forms import bps_text
from .pages import staff_page

bp = Blueprint("admin_dashboards", __name__, url_prefix="/admin/dashboards", template_folder="templates")

ANALYSTS = ("admin", "finance", "operations")
FINANCE = ("admin", "finance")
BY_LABELS = {"city": "城市", "project": "楼盘", "month": "月份"}
LEADERBOARD_LIMIT = 50
CHART_GROUPS = 12  # the breakdown chart shows the first groups; the table lists all


def rate_text(bps: int | None) -> str:
    return "—" if bps is None else f"{bps_text(bps) or '0'}%"


def _periods() -> dict[str, tuple[date, date]]:
    today = local_date(utcnow())
    return {"本月": (today.replace(day=1), today), "近 30 天": (date.fromordinal(today.toordinal() - 29), today),
            "今年": (today.replace(month=1, day=1), today)}


def _filters(allowed: tuple[str, ...]) -> dashboard_filters.DashboardFilters:
    return dashboard_filters.parse(request.args.to_dict(), allowed=allowed)


def _common() -> dict:
    return {"rate_text": rate_text, "periods": _periods(), "STEP_LABELS": STEP_LABELS, "BY_LABELS": BY_LABELS}


@bp.route("/")
@staff_page(*ANALYSTS)
def funnel_page():
    f = _filters(("start", "end", "city", "project_id", "team_of", "by"))
    result = funnel(db.session, start=f.start, end=f.end, city=f.city, project_id=f.project_id, team_of=f.team_of,
                    by=f.by)
    total_steps = steps(result.total)
    step_chart = bar_chart([label for _, label, _ in total_steps], [Series("人次", [v for _, _, v in total_steps])],
                           title="业绩漏斗", desc="邀请打开、留资注册、报备、到访、成交各环节的数量")
    shown = result.rows[:CHART_GROUPS]
    groups = [r.label for r in shown]
    group_chart = bar_chart(groups, [Series("报备", [r.registrations for r in shown]),
                                     Series("到访", [r.visits for r in shown]),
                                     Series("成交", [r.deals for r in shown])],
                            title=f"按{BY_LABELS[f.by]}：报备、到访、成交")
    gmv_chart = bar_chart(groups, [Series("成交额", [r.gmv_cents for r in shown]),
                                   Series("佣金", [r.commission_cents for r in shown])],
                          value_format="cents", title=f"按{BY_LABELS[f.by]}：成交额与佣金")
    return render_template("admin/dashboards/funnel.html", f=f, result=result, total_steps=total_steps,
                           step_chart=step_chart, group_chart=group_chart, gmv_chart=gmv_chart,
                           more_groups=len(result.rows) - len(shown), **_common())


@bp.route("/leaderboard")
@staff_page(*ANALYSTS)
def leaderboard_page():
    f = _filters(("start", "end", "city", "by"))
    by = request.args.get("rank_by") or "gmv"
    if by not in ("gmv", "deals"):
        abort(400)
    ranks = referral_reports.leaderboard(db.session, start=f.start, end=f.end, by=by, limit=LEADERBOARD_LIMIT,
                                         city=f.city)
    top = ranks[:15]
    if by == "gmv":
        chart = bar_chart([r.name for r in top], [Series("成交额", [r.gmv_cents for r in top])], value_format="cents",
                          title="顾问排行榜（成交额）")
    else:
        chart = bar_chart([r.name for r in top], [Series("成交套数", [r.deals for r in top])],
                          title="顾问排行榜（成交套数）")
    return render_template("admin/dashboards/leaderboard.html", f=f, ranks=ranks, chart=chart, rank_by=by,
                           **_common())


@bp.route("/teams/<int:consultant_id>")
@staff_page(*ANALYSTS)
def team_page(consultant_id):
    f = _filters(("start", "end"))
    view = team_view(db.session, consultant_id, start=f.start, end=f.end)
    result = funnel(db.session, start=f.start, end=f.end, team_of=consultant_id, by="month")
    total_steps = steps(result.total)
    step_chart = bar_chart([label for _, label, _ in total_steps], [Series("人次", [v for _, _, v in total_steps])],
                           title=f"{view.leader.name} 团队的业绩漏斗")
    top = view.members[:15]
    member_chart = bar_chart([m.name for m in top], [Series("成交额", [m.gmv_cents for m in top])],
                             value_format="cents", title="团队成员成交额")
    month_chart = bar_chart([r.label for r in result.rows], [Series("成交额", [r.gmv_cents for r in result.rows])],
                            value_format="cents", title="团队每月成交额")
    return render_template("admin/dashboards/team.html", f=f, view=view, result=result, total_steps=total_steps,
                           step_chart=step_chart, member_chart=member_chart, month_chart=month_chart, **_common())


@bp.route("/payouts")
@staff_page(*FINANCE)
def payouts_page():
    """Payouts per month (每月打款), with links to the other finance boards (aging, the buy-back book)."""
    f = _filters(("start", "end"))
    months = payouts_by_month(db.session, start=f.start, end=f.end)
    chart = stacked_bar_chart([m.month for m in months],
                              [Series("实付金额", [m.net_cents for m in months]),
                               Series("代扣个税", [m.tax_cents for m in months]),
                               Series("抵扣欠款", [m.owes_netted_cents for m in months])],
                              value_format="cents", title="每月打款（按到账月份）",
                              desc="每月已到账的结算明细：实付、代扣个税与抵扣欠款之和为应付收入")
    return render_template("admin/dashboards/payouts.html", f=f, months=months, chart=chart,
                           statuses=payouts_by_status(db.session), **_common())
