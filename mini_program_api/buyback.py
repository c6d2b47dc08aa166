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
from web_common.api import InputSchema, PlatformBlueprint, QuerySchema

from . import callers

blp = PlatformBlueprint("buyback", __name__, description="佣金垫付：报价（费用全部公开）、申请、取消、我的垫付与追索欠款")

STATUS_LABELS = {"requested": "待审核", "approved": "已垫付", "rejected": "未通过", "cancelled": "已取消",
                 "expired": "已过期"}
LINE_LABELS = {"reserved": "审核中", "purchased": "平台已购，待开发商回款", "collected": "开发商已回款，尾款已付",
               "recourse": "成交退房，已转为欠款", "released": "已释放"}
CENTS = {"format": "int64"}


class QuoteInputSchema(InputSchema):
    line_ids = fields.List(fields.Integer(strict=True, validate=validate.Range(min=1, max=2 ** 31 - 1)),
                           required=True, validate=validate.Length(min=1, max=50),
                           metadata={"description": "我的佣金明细 id（成交佣金明细中的 id）"})


class RequestInputSchema(InputSchema):
    quote_id = fields.Integer(required=True, strict=True, validate=validate.Range(min=1, max=2 ** 31 - 1))


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


class RequestLineSchema(Schema):
    line_id = fields.Integer(attribute="commission_line_id")
    deal_id = fields.Integer()
    status = fields.String()
    status_label = fields.Function(lambda l: LINE_LABELS[l.status])
    face_cents = fields.Integer(metadata=CENTS)
    advance_cents = fields.Integer(metadata=CENTS)
    remainder_cents = fields.Integer(metadata=CENTS)
    remainder_paid_cents = fields.Integer(metadata=CENTS)
    recourse_cents = fields.Integer(metadata=CENTS)
    expected_on = fields.Date()


class RequestSchema(Schema):
    id = fields.Integer()
    quote_id = fields.Integer()
    status = fields.String()
    status_label = fields.Function(lambda r: STATUS_LABELS[r.status])
    face_cents = fields.Integer(metadata=CENTS)
    discount_cents = fields.Integer(metadata=CENTS)
    advance_cents = fields.Integer(metadata=CENTS)
    remainder_cents = fields.Integer(metadata=CENTS)
    remainder_paid_cents = fields.Integer(metadata={**CENTS, "description": "已付尾款"})
    recourse_cents = fields.Integer(metadata={**CENTS, "description": "退房追索：您因此欠平台的金额"})
    equivalent_annual_bps = fields.Integer()
    reject_reason = fields.String(allow_none=True)
    created_at = fields.DateTime()
    expires_at = fields.DateTime(metadata={"description": "财务未在此前审核则自动过期"})
    decided_at = fields.DateTime(allow_none=True)
    lines = fields.List(fields.Nested(RequestLineSchema))


class RequestPageSchema(Schema):
    items = fields.List(fields.Nested(RequestSchema))
    total = fields.Integer()
    page = fields.Integer()
    per_page = fields.Integer()


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
