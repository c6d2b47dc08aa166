"""Selling commission receivables early (佣金垫付, issue 13 §1): quotes, requests, cancellation.

Every fee is shown before the consultant accepts: face, discount, advance, remainder and the
equivalent annual rate (basis points; the mini-program shows a percentage), with the terms,
recourse included. A consultant sees only his own quotes and requests (DESIGN §7.6).
"""
from __future__ import annotations

from flask import g
from flask.views import MethodView
from marshmallow import Schema, fields, validate

from estate_platform.buyback import quotes, requests
from estate_platform.buyback.errors import (REFUSALS, QuoteExpired, QuoteNotFound, QuoteUsed, RequestClosed,
                                            RequestNotFound)
from estate_platform.consultants.services import NotYetApplied
from estate_platform.db import db, utcnow
from estate_platform.deals.views import ROLE_LABELS
from web_common.api import InputSchema, PlatformBlueprint, QuerySchema
from web_common.buyback_schemas import CENTS, BuybackLineBaseSchema, BuybackRequestBaseSchema

from . import callers

blp = PlatformBlueprint("buyback", __name__, description="佣金垫付：报价（费用全部公开）、申请、取消、我的垫付与追索欠款")

STATUS_LABELS = {"requested": "待审核", "approved": "已垫付", "rejected": "未通过", "cancelled": "已取消",
                 "expired": "已过期"}
LINE_LABELS = {"reserved": "审核中", "purchased": "平台已购，待开发商回款", "collected": "开发商已回款，尾款已付",
               "recourse": "成交退房，已转为欠款", "released": "已释放"}


class QuoteInputSchema(InputSchema):
    line_ids = fields.List(fields.Integer(strict=True, validate=validate.Range(min=1, max=2 ** 31 - 1)),
                           required=True, validate=validate.Length(min=1, max=50),
                           metadata={"description": "我的佣金明细 id（成交佣金明细中的 id）"})


class RequestInputSchema(InputSchema):
    quote_id = fields.Integer(required=True, strict=True, validate=validate.Range(min=1, max=2 ** 31 - 1))


class NoArgs(QuerySchema):
    """No parameters: an unknown one is refused rather than ignored."""


class RequestListArgs(QuerySchema):
    page = fields.Integer(load_default=1, validate=validate.Range(min=1, max=10 ** 6))
    per_page = fields.Integer(load_default=20, validate=validate.Range(min=1, max=100))


class QuoteLineSchema(Schema):
    line_id = fields.Integer(attribute="commission_line_id")
    deal_id = fields.Integer()
    face_cents = fields.Integer(metadata=CENTS)
    days = fields.Integer(metadata={"description": "距预计回款天数"})
    expected_on = fields.Date(metadata={"description": "预计回款日（开发商约定日 + 其历史平均逾期天数）"})
    risk_premium_bps = fields.Integer()
    time_discount_cents = fields.Integer(metadata=CENTS)
    premium_cents = fields.Integer(metadata=CENTS)
    discount_cents = fields.Integer(metadata=CENTS)
    advance_cents = fields.Integer(metadata=CENTS)
    remainder_cents = fields.Integer(metadata=CENTS)
    equivalent_annual_bps = fields.Integer()


class QuoteSchema(Schema):
    id = fields.Integer()
    face_cents = fields.Integer(metadata={**CENTS, "description": "面值"})
    discount_cents = fields.Integer(metadata={**CENTS, "description": "折价（手续费），平台收取"})
    advance_cents = fields.Integer(metadata={**CENTS, "description": "现在垫付的金额"})
    remainder_cents = fields.Integer(metadata={**CENTS, "description": "尾款：开发商回款后支付给您"})
    equivalent_annual_bps = fields.Integer(metadata={"description": "折价折合年化（基点，100 = 1%）"})
    annual_rate_bps = fields.Integer()
    advance_cap_bps = fields.Integer()
    min_fee_cents = fields.Integer(metadata=CENTS)
    terms = fields.String(attribute="terms_text", metadata={"description": "条款（含追索）"})
    created_at = fields.DateTime()
    expires_at = fields.DateTime()
    lines = fields.List(fields.Nested(QuoteLineSchema))


class RequestLineSchema(BuybackLineBaseSchema):
    status_label = fields.Function(lambda l: LINE_LABELS[l.status])
    recourse_cents = fields.Integer(metadata=CENTS)


class RequestSchema(BuybackRequestBaseSchema):
    quote_id = fields.Integer()
    status_label = fields.Function(lambda r: STATUS_LABELS[r.status])
    remainder_paid_cents = fields.Integer(metadata={**CENTS, "description": "已付尾款"})
    recourse_cents = fields.Integer(metadata={**CENTS, "description": "退房追索：您因此欠平台的金额"})
    lines = fields.List(fields.Nested(RequestLineSchema))


class SellableLineSchema(Schema):
    line_id = fields.Integer(attribute="line.id", metadata={"description": "佣金明细 id（获取报价时使用）"})
    deal_id = fields.Integer(attribute="deal.id")
    project_name = fields.String()
    unit = fields.String(attribute="deal.unit")
    role = fields.String(attribute="line.role")
    role_label = fields.Function(lambda i: ROLE_LABELS[i["line"].role])
    reason = fields.String(attribute="line.reason", metadata={"description": "这条佣金为什么属于您"})
    amount_cents = fields.Integer(attribute="line.amount_cents", metadata={**CENTS, "description": "面值"})
    due_on = fields.Date(attribute="deal.due_on", allow_none=True, metadata={"description": "开发商约定付款日"})


class RefusalSchema(Schema):
    code = fields.String(metadata={"description": "与获取报价时的拒绝代码相同"})
    message = fields.String()


class SellableSchema(Schema):
    items = fields.List(fields.Nested(SellableLineSchema))
    refusal = fields.Nested(RefusalSchema, allow_none=True,
                            metadata={"description": "您本人当前不能申请垫付的原因；可以申请时为空"})


class RequestPageSchema(Schema):
    items = fields.List(fields.Nested(RequestSchema))
    total = fields.Integer()
    page = fields.Integer()
    per_page = fields.Integer()


@blp.route("/lines")
class Lines(MethodView):
    @blp.authenticated(callers.consultant, NotYetApplied)
    @blp.arguments(NoArgs, location="query")
    @blp.response(200, SellableSchema)
    def get(self, _args):
        """可申请垫付的佣金明细：已确认、待回款、无未结争议、未在申请中或已售出（最新成交在前，最多 100 条）；
        若您本人当前不能申请（未在合作中、信用分不足、有针对您的未结争议），refusal 给出原因。"""
        found = quotes.sellable_lines(db.session, g.consultant, now=utcnow())
        return {"items": [{"line": e.line, "deal": e.deal, "project_name": found.project_names[e.deal.project_id]}
                          for e in found.lines],
                "refusal": found.refusal}


@blp.route("/quotes")
class Quotes(MethodView):
    @blp.authenticated(callers.consultant, NotYetApplied, *REFUSALS)
    @blp.arguments(QuoteInputSchema)
    @blp.response(201, QuoteSchema)
    def post(self, body):
        """获取垫付报价：面值、折价、垫付金额、尾款、折合年化与条款（含追索）；不符合条件时返回对应拒绝代码。"""
        return quotes.create_quote(db.session, g.consultant, body["line_ids"], now=utcnow())


@blp.route("/requests")
class Requests(MethodView):
    @blp.authenticated(callers.consultant, NotYetApplied, QuoteNotFound, QuoteExpired, QuoteUsed, *REFUSALS)
    @blp.arguments(RequestInputSchema)
    @blp.response(201, RequestSchema)
    def post(self, body):
        """按报价提交垫付申请（报价过期前）；提交即占用额度，财务审核前可取消。"""
        return requests.create_request(db.session, g.consultant, body["quote_id"], now=utcnow())

    @blp.authenticated(callers.consultant, NotYetApplied)
    @blp.arguments(RequestListArgs, location="query")
    @blp.response(200, RequestPageSchema)
    def get(self, args):
        """我的垫付申请（含已付尾款与退房追索欠款），最新在前。"""
        items, total = requests.own_requests(db.session, g.consultant.id, page=args["page"],
                                             per_page=args["per_page"])
        return {"items": items, "total": total, "page": args["page"], "per_page": args["per_page"]}


@blp.route("/requests/<int:buyback_request_id>/cancel")
class CancelRequest(MethodView):
    @blp.authenticated(callers.consultant, NotYetApplied, RequestNotFound, RequestClosed)
    @blp.response(200, RequestSchema)
    def post(self, buyback_request_id):
        """财务审核前取消垫付申请，释放额度。"""
        return requests.cancel(db.session, g.consultant.id, buyback_request_id, now=utcnow())
