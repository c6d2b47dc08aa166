"""对账单：顾问每个结算批次一份，含应发、抵扣欠款、代扣税款（及由谁代扣）与实发；可下载 XLSX 或打开可打印页面.

A consultant sees only his own statements (another's is 404). Issue 12 §3.
"""
from __future__ import annotations

from io import BytesIO
from urllib.parse import quote

from flask import Response, g, render_template, send_file
from flask.views import MethodView
from marshmallow import Schema, fields, validate

from estate_platform.consultants.services import NotYetApplied
from estate_platform.db import db
from estate_platform.settlement import statements
from estate_platform.settlement.invoices import invoice_of
from web_common.api import PlatformBlueprint, QuerySchema

from . import callers

blp = PlatformBlueprint("statements", __name__, description="对账单：每个结算批次一份，含代扣税款行与代扣方")

CENTS = {"format": "int64"}
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


class StatementLineSchema(Schema):
    label = fields.String()
    amount_cents = fields.Integer(metadata=CENTS)


class StatementSchema(Schema):
    id = fields.Integer(attribute="item.id")
    batch_id = fields.Integer(attribute="item.batch_id")
    status = fields.String(attribute="item.status", metadata={
        "description": "ready / awaiting_invoice / awaiting_second_approval / sending / paid / failed / held"})
    status_label = fields.String()
    gross_cents = fields.Integer(attribute="item.gross_cents", metadata={**CENTS, "description": "应发（计税基数）"})
    owes_netted_cents = fields.Integer(attribute="item.owes_netted_cents", metadata={**CENTS,
                                       "description": "抵扣的欠款（佣金冲回、违约金），不减少计税基数"})
    tax_cents = fields.Integer(attribute="item.tax_cents", metadata={**CENTS, "description": "平台代扣的个人所得税"})
    net_cents = fields.Integer(attribute="item.net_cents", metadata={**CENTS, "description": "实发"})
    withheld_by = fields.String(attribute="item.withheld_by", metadata={
        "description": "platform 平台代扣 / provider 灵活用工平台代征 / none 不代扣（凭发票）"})
    withholding_note = fields.String()
    tax_month = fields.String(attribute="item.tax_month")
    account = fields.String(attribute="account_masked")
    failure_reason = fields.String(attribute="item.failure_reason", allow_none=True)
    hold_reason = fields.String(attribute="item.hold_reason", allow_none=True)
    invoice_required = fields.Function(lambda s: s.item.status == "awaiting_invoice",
                                       metadata={"description": "须上传金额等于实发的发票（POST /statements/{id}/invoice）"})
    lines = fields.Function(lambda s: [{"label": label, "amount_cents": cents} for label, cents in s.lines],
                            metadata={"description": "对账单各行"})
    created_at = fields.DateTime(attribute="item.created_at")
    settled_at = fields.DateTime(attribute="item.settled_at", allow_none=True)


class StatementPageSchema(Schema):
    items = fields.List(fields.Nested(StatementSchema))
    total = fields.Integer()
    page = fields.Integer()
    per_page = fields.Integer()


class StatementListArgs(QuerySchema):
    page = fields.Integer(load_default=1, validate=validate.Range(min=1))
    per_page = fields.Integer(load_default=20, validate=validate.Range(min=1, max=100))


def _statement(item_id: int) -> statements.Statement:
    return statements.statement(db.session, "consultant", g.consultant.id, item_id)


@blp.route("/statements")
class Statements(MethodView):
    @blp.authenticated(callers.consultant, NotYetApplied)
    @blp.arguments(StatementListArgs, location="query")
    @blp.response(200, StatementPageSchema)
    def get(self, args):
        """我的对账单（每个结算批次一份），新的在前"""
        items, total = statements.list_for(db.session, "consultant", g.consultant.id, page=args["page"],
                                           per_page=args["per_page"])
        batch_ids = {i.batch_id for i in items}
        from estate_platform.settlement.models import PayoutAccount, SettlementBatch
        batches = {b.id: b for b in db.session.query(SettlementBatch).filter(SettlementBatch.id.in_(batch_ids))}
        accounts = {a.id: a for a in db.session.query(PayoutAccount).filter(
            PayoutAccount.id.in_({i.payout_account_id for i in items}))}
        return {"items": [statements.Statement(i, batches[i.batch_id], accounts[i.payout_account_id]) for i in items],
                "total": total, "page": args["page"], "per_page": args["per_page"]}


@blp.route("/statements/<int:item_id>")
class StatementDetail(MethodView):
    @blp.authenticated(callers.consultant, NotYetApplied, statements.StatementNotFound)
    @blp.response(200, StatementSchema)
    def get(self, item_id):
        """一份对账单（只能查看自己的）"""
        return _statement(item_id)


@blp.route("/statements/<int:item_id>/xlsx")
class StatementXlsx(MethodView):
    @blp.authenticated(callers.consultant, NotYetApplied, statements.StatementNotFound)
    @blp.response(200, {"type": "string", "format": "binary"}, content_type=XLSX)
    def get(self, item_id):
        """下载对账单（XLSX）"""
        statement = _statement(item_id)
        name = f"对账单-{statement.item.batch_id}-{item_id}.xlsx"
        response = send_file(BytesIO(statements.xlsx(statement, g.consultant.name)), mimetype=XLSX,
                             as_attachment=True, download_name=f"statement-{item_id}.xlsx")
        response.headers["Content-Disposition"] = (f"attachment; filename=\"statement-{item_id}.xlsx\"; "
                                                   f"filename*=UTF-8''{quote(name)}")
        return response


@blp.route("/statements/<int:item_id>/print")
class StatementPrint(MethodView):
    @blp.authenticated(callers.consultant, NotYetApplied, statements.StatementNotFound)
    @blp.response(200, {"type": "string"}, content_type="text/html")
    def get(self, item_id):
        """对账单的可打印页面（HTML）"""
        statement = _statement(item_id)
        return Response(render_template("h5/statement_print.html", s=statement, party_name=g.consultant.name,
                                        invoice=invoice_of(db.session, item_id)), mimetype="text/html")
