"""Admin JSON API for receivables (应收, issue 12 §1-2): aging (账龄), the platform's invoices to
developers (发票), developer statements (对账函) and the developer's answer to them.
Finance and admins only.
"""
from __future__ import annotations

from flask import g
from flask.views import MethodView
from marshmallow import Schema, fields, validate

from estate_platform.clock import local_date
from estate_platform.db import db, utcnow
from estate_platform.receivables import invoices, services as collections, statements
from estate_platform.receivables.models import STATEMENT_RESPONSES
from web_common.api import InputSchema, PlatformBlueprint, QuerySchema

from .callers import api_roles

blp = PlatformBlueprint("admin_receivables_api", __name__,
                        description="应收：账龄（按开发商、楼盘）、开给开发商的发票、对账函及开发商确认或异议")

FINANCE = ("finance", "admin")
CENTS = {"format": "int64"}


class AgingArgs(QuerySchema):
    developer_id = fields.Integer(validate=validate.Range(min=1))


class BucketsSchema(Schema):
    current = fields.Integer(metadata={"description": "未逾期", **CENTS})
    d1_30 = fields.Integer(metadata={"description": "逾期 1–30 天", **CENTS})
    d31_60 = fields.Integer(metadata={"description": "逾期 31–60 天", **CENTS})
    d61_90 = fields.Integer(metadata={"description": "逾期 61–90 天", **CENTS})
    d90_plus = fields.Integer(metadata={"description": "逾期 90 天以上", **CENTS})


class AgingRowSchema(Schema):
    developer_id = fields.Integer()
    developer_name = fields.String()
    project_id = fields.Integer()
    project_name = fields.String()
    buckets = fields.Nested(BucketsSchema)
    total_cents = fields.Integer(metadata=CENTS)


class AgingUnappliedSchema(Schema):
    developer_id = fields.Integer()
    developer_name = fields.String()
    unapplied_cents = fields.Integer(metadata=CENTS)


class AgingSchema(Schema):
    as_of = fields.Date(metadata={"description": "按上海日期计算逾期天数"})
    rows = fields.List(fields.Nested(AgingRowSchema))
    totals = fields.Nested(BucketsSchema)
    unapplied = fields.List(fields.Nested(AgingUnappliedSchema),
                            metadata={"description": "各开发商未核销回款（多付、退房转回），可核销到其他应收"})


class InvoiceListArgs(QuerySchema):
    developer_id = fields.Integer(validate=validate.Range(min=1))
    page = fields.Integer(load_default=1, validate=validate.Range(min=1))
    per_page = fields.Integer(load_default=30, validate=validate.Range(min=1, max=100))


class InvoiceInputSchema(InputSchema):
    developer_id = fields.Integer(strict=True, required=True, validate=validate.Range(min=1))
    number = fields.String(required=True, validate=validate.Length(min=1, max=invoices.NUMBER_MAX),
                           metadata={"description": "发票号码（唯一）"})
    issued_on = fields.Date(required=True)
    amount_cents = fields.Integer(strict=True, required=True, validate=validate.Range(min=1, max=10**14), metadata=CENTS)
    tax_rate_bps = fields.Integer(strict=True, required=True, validate=validate.Range(min=0, max=10_000),
                                  metadata={"description": "税率（基点，600 = 6%）"})
    stripe_invoice_id = fields.String(load_default=None, allow_none=True, validate=validate.Length(max=80),
                                      metadata={"description": "通过 Stripe 开票时的发票 id（in_…）"})
    note = fields.String(load_default=None, allow_none=True, validate=validate.Length(max=500),
                         metadata={"multiline": True})


class InvoiceSchema(Schema):
    id = fields.Integer()
    developer_id = fields.Integer()
    developer_name = fields.Function(lambda i: i.developer.name)
    number = fields.String()
    issued_on = fields.Date()
    amount_cents = fields.Integer(metadata=CENTS)
    tax_rate_bps = fields.Integer()
    stripe_invoice_id = fields.String(allow_none=True)
    note = fields.String(allow_none=True)
    voided_at = fields.DateTime(allow_none=True)
    created_at = fields.DateTime()


class InvoiceRowSchema(InvoiceSchema):
    paid_cents = fields.Integer(metadata={"description": "已匹配的有效回款", **CENTS})


class InvoicePageSchema(Schema):
    items = fields.List(fields.Nested(InvoiceRowSchema))
    total = fields.Integer()
    page = fields.Integer()
    per_page = fields.Integer()


class StatementArgs(QuerySchema):
    period_from = fields.Date(required=True)
    period_to = fields.Date(required=True)


class ResponseInputSchema(InputSchema):
    period_from = fields.Date(required=True)
    period_to = fields.Date(required=True)
    response = fields.String(required=True, validate=validate.OneOf(STATEMENT_RESPONSES),
                             metadata={"description": "confirmed 已确认 / objected 有异议"})
    responded_on = fields.Date(required=True, metadata={"description": "开发商回函日期"})
    note = fields.String(load_default=None, allow_none=True, validate=validate.Length(max=1000),
                         metadata={"multiline": True, "description": "异议内容或说明"})


class ResponseSchema(Schema):
    id = fields.Integer()
    response = fields.String()
    responded_on = fields.Date()
    balance_cents = fields.Integer(metadata={"description": "回函所针对的期末余额", **CENTS})
    note = fields.String(allow_none=True)
    created_at = fields.DateTime()


class StatementDealSchema(Schema):
    deal_id = fields.Integer()
    project = fields.String()
    unit = fields.String()
    recognised_on = fields.Date()
    due_on = fields.Date(allow_none=True)
    commission_cents = fields.Integer(metadata=CENTS)
    applied_cents = fields.Integer(metadata=CENTS)


class StatementStakeSchema(Schema):
    dispute_id = fields.Integer()
    project = fields.String()
    subject = fields.String()
    recognised_on = fields.Date(metadata={"description": "裁定日（上海日期）"})
    due_on = fields.Date()
    commission_cents = fields.Integer(metadata=CENTS)
    applied_cents = fields.Integer(metadata=CENTS)


class StatementPaymentSchema(Schema):
    collection_id = fields.Integer()
    received_on = fields.Date()
    bank_reference = fields.String()
    amount_cents = fields.Integer(metadata=CENTS)
    reversed = fields.Boolean()


class StatementSchema(Schema):
    developer_id = fields.Function(lambda s: s.developer.id, metadata={"type": "integer"})
    developer_name = fields.Function(lambda s: s.developer.name)
    period_from = fields.Date()
    period_to = fields.Date()
    opening_cents = fields.Integer(metadata=CENTS)
    receivable_cents = fields.Integer(metadata=CENTS)
    paid_cents = fields.Integer(metadata=CENTS)
    closing_cents = fields.Integer(metadata=CENTS)
    unapplied_cents = fields.Integer(metadata={**CENTS, "description": "当前未核销回款（多付、退房转回），已计入期末余额"})
    deals = fields.List(fields.Nested(StatementDealSchema))
    stakes = fields.List(fields.Nested(StatementStakeSchema),
                         metadata={"description": "本期裁定的开发商应付涉及佣金（争议成立，无成交记录）"})
    payments = fields.List(fields.Nested(StatementPaymentSchema))
    responses = fields.List(fields.Nested(ResponseSchema))


@blp.route("/receivables/aging")
class Aging(MethodView):
    @api_roles(blp, *FINANCE)
    @blp.arguments(AgingArgs, location="query")
    @blp.response(200, AgingSchema)
    def get(self, args):
        """应收账龄：按开发商、楼盘，未逾期 / 逾期 1–30 / 31–60 / 61–90 / 90 天以上（上海日期）"""
        now = utcnow()
        rows = statements.aging(db.session, now=now, developer_id=args.get("developer_id"))
        return {"as_of": local_date(now), "rows": rows, "totals": statements.aging_totals(rows),
                "unapplied": statements.aging_unapplied(db.session, developer_id=args.get("developer_id"))}


@blp.route("/developer-invoices")
class Invoices(MethodView):
    @api_roles(blp, *FINANCE)
    @blp.arguments(InvoiceListArgs, location="query")
    @blp.response(200, InvoicePageSchema)
    def get(self, args):
        """开给开发商的发票（含已匹配回款）"""
        rows, total = invoices.list_invoices(db.session, developer_id=args.get("developer_id"), page=args["page"],
                                             per_page=args["per_page"])
        for invoice, paid in rows:
            invoice.paid_cents = paid  # read by InvoiceRowSchema, never stored
        return {"items": [invoice for invoice, _ in rows], "total": total, "page": args["page"], "per_page": args["per_page"]}

    @api_roles(blp, *FINANCE)
    @blp.arguments(InvoiceInputSchema)
    @blp.response(201, InvoiceSchema)
    @blp.refuses(invoices.InvoiceNumberTaken, 422)
    def post(self, body):
        """登记发票（号码唯一）"""
        return invoices.create_invoice(db.session, g.staff, now=utcnow(), **body)


@blp.route("/developers/<int:developer_id>/statement")
class DeveloperStatement(MethodView):
    @api_roles(blp, *FINANCE)
    @blp.arguments(StatementArgs, location="query")
    @blp.response(200, StatementSchema)
    @blp.refuses(collections.DeveloperNotFound, 422)
    def get(self, args, developer_id):
        """对账函：期初余额、本期确认的应收、本期回款、期末余额及开发商回函"""
        return statements.statement(db.session, developer_id, args["period_from"], args["period_to"])


@blp.route("/developers/<int:developer_id>/statement-responses")
class StatementResponses(MethodView):
    @api_roles(blp, *FINANCE)
    @blp.arguments(ResponseInputSchema)
    @blp.response(201, ResponseSchema)
    @blp.refuses(collections.DeveloperNotFound, 422)
    def post(self, body, developer_id):
        """记录开发商对对账函的确认或异议（回函日期与说明）"""
        return statements.record_response(db.session, g.staff, developer_id, now=utcnow(), **body)
