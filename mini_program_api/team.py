"""团队与排行榜 (the team's leaderboard as a consultant sees it, DESIGN §3).

Other consultants appear with a masked name (姓 + *) and their city and deal count only:
never their id, full name or amounts. His own row is shown in full, with his rank even
when he is outside the top rows.
"""
from __future__ import annotations

from flask import g
from flask.views import MethodView
from marshmallow import Schema, fields, validate

from estate_platform.consultants.services import NotYetApplied
from estate_platform.db import db, utcnow
from estate_platform.referrals import standing
from web_common.api import PlatformBlueprint, QuerySchema

from . import callers

blp = PlatformBlueprint("team", __name__, description="团队排行榜（按有效成交套数；其他顾问只显示姓氏）")

PERIOD_LABELS = {"month": "本月", "year": "今年", "all": "累计"}


def masked_name(name: str) -> str:
    name = (name or "").strip()
    return (name[:1] + "*" * min(max(len(name) - 1, 1), 3)) if name else "顾问"


class LeaderboardArgs(QuerySchema):
    period = fields.String(load_default="month", validate=validate.OneOf(standing.PERIODS), metadata={
        "description": "month 本月 / year 今年 / all 累计（按认购日期，北京时间）"})


class LeaderRowSchema(Schema):
    rank = fields.Integer(metadata={"description": "名次（成交套数相同则名次相同）"})
    name = fields.Function(lambda s: s.name if s.consultant_id == g.consultant.id else masked_name(s.name),
                           metadata={"description": "本人显示全名，其他顾问只显示姓氏"})
    city = fields.String()
    deals = fields.Integer(metadata={"description": "有效成交套数（不含退房）"})
    me = fields.Function(lambda s: s.consultant_id == g.consultant.id)


class MyStandingSchema(Schema):
    rank = fields.Integer()
    deals = fields.Integer()
    gmv_cents = fields.Integer(metadata={"format": "int64", "description": "本人成交额（只对本人显示）"})


class LeaderboardSchema(Schema):
    period = fields.String()
    period_label = fields.Function(lambda b: PERIOD_LABELS[b.period])
    start = fields.Date(allow_none=True)
    end = fields.Date()
    items = fields.List(fields.Nested(LeaderRowSchema), attribute="rows")
    me = fields.Nested(MyStandingSchema, allow_none=True, metadata={"description": "本人名次；期间内没有成交时为 null"})


@blp.route("/team/leaderboard")
class Leaderboard(MethodView):
    @blp.authenticated(callers.consultant, NotYetApplied)
    @blp.arguments(LeaderboardArgs, location="query")
    @blp.response(200, LeaderboardSchema)
    def get(self, args):
        """成交排行榜（前 20 名）与我的名次：只有成交才计入，邀请人数不计入排名"""
        return standing.board(db.session, g.consultant.id, period=args["period"], now=utcnow())
