"""Admin JSON API for collections from developers (回款, issue 12 §1): record a payment, see how it
was applied, undo it (a correcting transaction), apply a developer's unapplied cash, and the
developer's payable-when rule (结算条件). Finance and admins only.
"""
from __future__ import annotations

from flask import g
from flask.views import MethodView
from marshmallow import Schema, fields, validate

from estate_platform.db import db, utcnow
from estate_platform.receivables import contracts, services as collections
from estate_platform.receivables.models import PAYABLE_WHEN
from estate_platform.money import yuan
from web_common.api import InputSchema, PlatformBlueprint, QuerySchema

from .callers import api_roles

blp = PlatformBlueprint("admin_collections_api", __name__,
                        description="开发商回款：登记（按到期日先后或指定成交核销）、核销明细、撤销（冲正）、未核销款核销、结算条件")

FINANCE = ("finance", "admin")
CENTS = {"format": "int64"}


class CollectionListArgs(QuerySchema):
    developer_id = fields.Integer(validate=validate.Range(min=1))
    status = fields.String(validate=validate.OneOf(("standing", "reversed")),
                           metadata={"description": "standing 有效 / reversed 已撤销"})
    received_from = fields.Date()
    received_to = fields.Date()
    page = fields.Integer(load_default=1, validate=validate.Range(min=1))
    per_page = fields.Integer(load_default=30, validate=validate.Range(min=1, max=100))


class CollectionInputSchema(InputSchema):
    developer_id = fields.Integer(strict=True, required=True, validate=validate.Range(min=1))
    amount_cents = fields.Integer(strict=True, required=True, validate=validate.Range(min=1, max=collections.MAX_AMOUNT_CENTS),
                                  metadata=CENTS)
    received_on = fields.Date(required=True, metadata={"description": "到账日期（上海日期）"})
    bank_reference = fields.String(required=True, validate=validate.Length(min=1, max=collections.REFERENCE_MAX),
                                   metadata={"description": "银行流水号（同一开发商不可重复）"})
    invoice_id = fields.Integer(strict=True, load_default=None, allow_none=True, validate=validate.Range(min=1),
                                metadata={"description": "本次回款对应的发票"})
    deal_ids = fields.List(fields.Integer(strict=True, validate=validate.Range(min=1)), load_default=None, allow_none=True,
                           validate=validate.Length(max=500),
                           metadata={"description": "只核销这些成交（不填：按约定付款日先后核销）"})
    dispute_ids = fields.List(fields.Integer(strict=True, validate=validate.Range(min=1)), load_default=None,
                              allow_none=True, validate=validate.Length(max=500),
                              metadata={"description": "只核销这些争议裁定的开发商应付涉及佣金（可与 deal_ids 同时指定）"})
    note = fields.String(load_default=None, allow_none=True, validate=validate.Length(max=collections.NOTE_MAX),
                         metadata={"multiline": True})


class ReverseInputSchema(InputSchema):
    reason = fields.String(required=True, validate=validate.Length(min=1, max=collections.NOTE_MAX),
                           metadata={"multiline": True, "description": "撤销原因"})


class ApplyInputSchema(InputSchema):
    deal_ids = fields.List(fields.Integer(strict=True, validate=validate.Range(min=1)), load_default=None, allow_none=True,
                           validate=validate.Length(max=500))
    dispute_ids = fields.List(fields.Integer(strict=True, validate=validate.Range(min=1)), load_default=None,
                              allow_none=True, validate=validate.Length(max=500))


class ContractInputSchema(InputSchema):
    payable_when = fields.String(required=True, validate=validate.OneOf(PAYABLE_WHEN), metadata={
        "description": "pay_when_paid 开发商回款后按比例可提现 / advance 佣金确认后 advance_days 天可提现（平台垫付）"})
    advance_days = fields.Integer(strict=True, load_default=None, allow_none=True, validate=validate.Range(min=0, max=365))


class AllocationSchema(Schema):
    id = fields.Integer()
    batch = fields.Integer(metadata={"description": "0 登记时核销；1、2… 之后核销未核销部分"})
    deal_id = fields.Integer(allow_none=True)
    dispute_id = fields.Integer(allow_none=True, metadata={"description": "核销的是该争议裁定的开发商应付涉及佣金"})
    kind = fields.String(metadata={"description": "applied 核销到该应收 / returned 成交退房后转回未核销（金额为负）"})
    amount_cents = fields.Integer(metadata=CENTS)
    created_at = fields.DateTime()


class CollectionSchema(Schema):
    id = fields.Integer()
    developer_id = fields.Integer()
    developer_name = fields.Function(lambda c: c.developer.name)
    amount_cents = fields.Integer(metadata=CENTS)
    amount = fields.Function(lambda c: yuan(c.amount_cents))
    applied_cents = fields.Function(collections.applied_cents, metadata={"type": "integer", **CENTS})
    unapplied_cents = fields.Function(lambda c: 0 if c.reversed_at else c.amount_cents - collections.applied_cents(c),
                                      metadata={"type": "integer", **CENTS})
    received_on = fields.Date()
    bank_reference = fields.String()
    invoice_id = fields.Integer(allow_none=True)
    source = fields.String(metadata={"description": "manual 财务登记 / stripe Stripe 回调"})
    note = fields.String(allow_none=True)
    created_at = fields.DateTime()
    reversed_at = fields.DateTime(allow_none=True)
    reverse_reason = fields.String(allow_none=True)


class CollectionDetailSchema(CollectionSchema):
    allocations = fields.List(fields.Nested(AllocationSchema))


class CollectionPageSchema(Schema):
    items = fields.List(fields.Nested(CollectionSchema))
    total = fields.Integer()
    page = fields.Integer()
    per_page = fields.Integer()


class UnappliedSchema(Schema):
    developer_id = fields.Integer()
    unapplied_cents = fields.Integer(metadata=CENTS)


class OpenReceivableSchema(Schema):
    source = fields.Function(lambda r: r.source.kind, metadata={"description": "deal 成交佣金 / dispute 争议裁定的涉及佣金"})
    deal_id = fields.Integer(allow_none=True)
    dispute_id = fields.Integer(allow_none=True)
    due_on = fields.Date()
    outstanding_cents = fields.Integer(metadata=CENTS)


class ApplyResultSchema(Schema):
    applied_parts = fields.Integer(metadata={"description": "本次核销的成交笔数"})
    unapplied_cents = fields.Integer(metadata=CENTS)


class ContractSchema(Schema):
    developer_id = fields.Integer()
    payable_when = fields.String()
    advance_days = fields.Integer(allow_none=True)


@blp.route("/collections")
class Collections(MethodView):
    @api_roles(blp, *FINANCE)
    @blp.arguments(CollectionListArgs, location="query")
    @blp.response(200, CollectionPageSchema)
    def get(self, args):
        """回款列表（按开发商、状态、到账日期筛选）"""
        page, per_page = args.pop("page"), args.pop("per_page")
        items, total = collections.list_collections(db.session, page=page, per_page=per_page, **args)
        return {"items": items, "total": total, "page": page, "per_page": per_page}

    @api_roles(blp, *FINANCE)
    @blp.arguments(CollectionInputSchema)
    @blp.response(201, CollectionDetailSchema)
    @blp.refuses(collections.DeveloperNotFound, collections.DuplicateBankReference, 422)
    def post(self, body):
        """登记开发商回款：按约定付款日先后（或指定成交）核销应收，多余部分记为未核销款"""
        return collections.record_collection(db.session, g.staff, now=utcnow(), **body)


@blp.route("/collections/<int:collection_id>")
class CollectionDetail(MethodView):
    @api_roles(blp, *FINANCE)
    @blp.response(200, CollectionDetailSchema)
    @blp.refuses(collections.CollectionNotFound)
    def get(self, collection_id):
        """回款详情与核销明细"""
        return collections.get_collection(db.session, collection_id)


@blp.route("/collections/<int:collection_id>/reverse")
class ReverseCollection(MethodView):
    @api_roles(blp, *FINANCE)
    @blp.arguments(ReverseInputSchema)
    @blp.response(200, CollectionDetailSchema)
    @blp.refuses(collections.CollectionNotFound, collections.CollectionReversed, 422)
    def post(self, body, collection_id):
        """撤销回款：记一笔冲正交易（不修改原记录），已可提现的佣金按比例收回"""
        collections.reverse_collection(db.session, g.staff, collection_id, reason=body["reason"], now=utcnow())
        return collections.get_collection(db.session, collection_id)


@blp.route("/receivables/unapplied")
class Unapplied(MethodView):
    @api_roles(blp, *FINANCE)
    @blp.response(200, UnappliedSchema(many=True))
    def get(self):
        """各开发商的未核销回款"""
        rests = collections.unapplied_of(db.session)
        return [{"developer_id": d, "unapplied_cents": sum(r.values())} for d, r in sorted(rests.items())]


@blp.route("/developers/<int:developer_id>/receivables")
class DeveloperReceivables(MethodView):
    @api_roles(blp, *FINANCE)
    @blp.response(200, OpenReceivableSchema(many=True))
    def get(self, developer_id):
        """开发商尚未回款的应收（按约定付款日先后）"""
        return collections.open_receivables(db.session, developer_id)


@blp.route("/developers/<int:developer_id>/apply-unapplied")
class ApplyUnapplied(MethodView):
    @api_roles(blp, *FINANCE)
    @blp.arguments(ApplyInputSchema)
    @blp.response(200, ApplyResultSchema)
    @blp.refuses(collections.DeveloperNotFound, collections.NothingUnapplied, 422)
    def post(self, body, developer_id):
        """核销开发商的未核销回款（最早的回款先用，按约定付款日先后或指定成交）"""
        parts = collections.apply_unapplied(db.session, g.staff, developer_id, deal_ids=body["deal_ids"],
                                            dispute_ids=body["dispute_ids"], now=utcnow())
        rest = collections.unapplied_of(db.session, [developer_id]).get(developer_id, {})
        return {"applied_parts": parts, "unapplied_cents": sum(rest.values())}


@blp.route("/developers/<int:developer_id>/contract")
class Contract(MethodView):
    @api_roles(blp, *FINANCE)
    @blp.response(200, ContractSchema)
    def get(self, developer_id):
        """开发商结算条件（未设置时为回款后可提现）"""
        terms = contracts.get_contract(db.session, developer_id)
        return {"developer_id": developer_id, "payable_when": terms.payable_when, "advance_days": terms.advance_days}

    @api_roles(blp, *FINANCE)
    @blp.arguments(ContractInputSchema)
    @blp.response(200, ContractSchema)
    @blp.refuses(collections.DeveloperNotFound, 422)
    def put(self, body, developer_id):
        """设置结算条件：回款后可提现，或确认后 N 天可提现（平台垫付）"""
        terms = contracts.set_contract(db.session, g.staff, developer_id, now=utcnow(), **body)
        return {"developer_id": developer_id, "payable_when": terms.payable_when, "advance_days": terms.advance_days}
