"""Output fields of a buy-back request and its lines (佣金垫付, issue 13 §1) that the consultant's
API (``mini_program_api.buyback``) and finance's (``admin.buyback_api``) both show. Each layer
extends these with what its audience may see (STYLE 11: output schemas per audience): finance
adds the consultant, the approvers and the ledger transaction; the consultant adds labels in
Chinese and what he owes after a cancellation. Money in cents, rates in basis points."""
from __future__ import annotations

from marshmallow import Schema, fields

CENTS = {"format": "int64"}


class BuybackLineBaseSchema(Schema):
    """One commission line in a request: its face and the parts it was priced into."""
    line_id = fields.Integer(attribute="commission_line_id", metadata={"description": "佣金明细 id"})
    deal_id = fields.Integer()
    status = fields.String()
    face_cents = fields.Integer(metadata=CENTS)
    advance_cents = fields.Integer(metadata=CENTS)
    remainder_cents = fields.Integer(metadata=CENTS)
    remainder_paid_cents = fields.Integer(metadata=CENTS)
    expected_on = fields.Date(metadata={"description": "预计回款日"})


class BuybackRequestBaseSchema(Schema):
    """A request made from a quote: its totals and where it stands."""
    id = fields.Integer()
    status = fields.String()
    face_cents = fields.Integer(metadata={**CENTS, "description": "面值"})
    discount_cents = fields.Integer(metadata={**CENTS, "description": "折价（手续费），平台收取"})
    advance_cents = fields.Integer(metadata={**CENTS, "description": "垫付金额"})
    remainder_cents = fields.Integer(metadata={**CENTS, "description": "尾款：开发商回款后支付给顾问"})
    equivalent_annual_bps = fields.Integer(metadata={"description": "折价折合年化（基点，100 = 1%）"})
    reject_reason = fields.String(allow_none=True)
    created_at = fields.DateTime()
    expires_at = fields.DateTime(metadata={"description": "财务未在此前审核则自动过期"})
    decided_at = fields.DateTime(allow_none=True)
