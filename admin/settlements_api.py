"""Admin JSON API for settlement (结算): batches prepared by one finance user and approved by
another (maker-checker), items, the flexible-employment provider file and its results, the
failures queue, and payout accounts (masked; a full read is logged). Issue 12 §3.
"""
from __future__ import annotations

import uuid
from io import BytesIO

from flask import current_app, g, request, send_file
from flask.views import MethodView
from marshmallow import Schema, fields, validate

from estate_platform.db import after_commit, db, utcnow
from estate_platform.errors import ValidationFailed
from estate_platform.settlement import accounts, batches, limits, payouts, secrets
from estate_platform.settlement.models import ACCOUNT_STATUSES, BATCH_STATUSES, CHANNELS, ITEM_STATUSES
from estate_platform.settlement.statements import STATUS_LABELS, WITHHELD_LABELS
from web_common.api import InputSchema, PlatformBlueprint, QuerySchema, client_ip

from .callers import api_roles

blp = PlatformBlueprint("admin_settlements_api", __name__,
                        description="结算：制单与另一位财务审批（制单人不能审批）、付款明细、灵活用工付款文件与结果导入、失败队列、收款账户")

FINANCE = ("finance", "admin")  # admins may do what finance does; the maker is never the checker
READERS = ("finance", "admin")
CENTS = {"format": "int64"}
BINARY = {"type": "string", "format": "binary"}
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
RESULTS_BODY = {"required": True, "content": {"multipart/form-data": {"schema": {
    "type": "object", "required": ["file"],
    "properties": {"file": {**BINARY, "description": "灵活用工平台回传的结果 XLSX：明细编号、结果（成功/失败）、失败原因、代征税额（元）"}}}}}}


class StaffBriefSchema(Schema):
    id = fields.Integer()
    display_name = fields.String()


class BatchSchema(Schema):
    id = fields.Integer()
    key = fields.String()
    status = fields.String(metadata={"description": "prepared 待审批 / approved 已审批 / completed 已完成"})
    channel = fields.String(metadata={"description": "gateway 支付通道（Stripe Connect） / provider 灵活用工平台文件"})
    note = fields.String(allow_none=True)
    transfer_group = fields.String()
    item_count = fields.Integer()
    gross_cents = fields.Integer(metadata=CENTS)
    tax_cents = fields.Integer(metadata=CENTS)
    net_cents = fields.Integer(metadata=CENTS)
    prepared_by = fields.Nested(StaffBriefSchema, allow_none=True, metadata={"description": "制单人（空：每月自动结算）"})
    prepared_at = fields.DateTime()
    approved_by = fields.Nested(StaffBriefSchema, allow_none=True)
    approved_at = fields.DateTime(allow_none=True)
    second_approved_by = fields.Nested(StaffBriefSchema, allow_none=True,
                                       metadata={"description": "首次付款到新账户的复核人"})
    second_approved_at = fields.DateTime(allow_none=True)


class BatchPageSchema(Schema):
    items = fields.List(fields.Nested(BatchSchema))
    total = fields.Integer()
    page = fields.Integer()
    per_page = fields.Integer()


class ItemSchema(Schema):
    id = fields.Integer()
    batch_id = fields.Integer()
    party_type = fields.String()
    party_id = fields.Integer()
    payout_account_id = fields.Integer()
    status = fields.String()
    status_label = fields.Function(lambda i: STATUS_LABELS[i.status])
    gross_cents = fields.Integer(metadata=CENTS)
    owes_netted_cents = fields.Integer(metadata=CENTS)
    tax_cents = fields.Integer(metadata=CENTS)
    net_cents = fields.Integer(metadata=CENTS)
    withheld_by = fields.String()
    withheld_by_label = fields.Function(lambda i: WITHHELD_LABELS[i.withheld_by])
    provider_tax_cents = fields.Integer(allow_none=True, metadata=CENTS)
    tax_month = fields.String()
    first_to_account = fields.Boolean()
    idempotency_key = fields.String()
    gateway_ref = fields.String(allow_none=True)
    failure_reason = fields.String(allow_none=True)
    hold_reason = fields.String(allow_none=True)
    sent_at = fields.DateTime(allow_none=True)
    settled_at = fields.DateTime(allow_none=True)


class ItemPageSchema(Schema):
    items = fields.List(fields.Nested(ItemSchema))
    total = fields.Integer()
    page = fields.Integer()
    per_page = fields.Integer()


class BatchListArgs(QuerySchema):
    status = fields.String(validate=validate.OneOf(BATCH_STATUSES))
    page = fields.Integer(load_default=1, validate=validate.Range(min=1))
    per_page = fields.Integer(load_default=30, validate=validate.Range(min=1, max=100))


class ItemListArgs(QuerySchema):
    status = fields.String(validate=validate.OneOf(ITEM_STATUSES))
    page = fields.Integer(load_default=1, validate=validate.Range(min=1))
    per_page = fields.Integer(load_default=50, validate=validate.Range(min=1, max=500))


class PageArgs(QuerySchema):
    page = fields.Integer(load_default=1, validate=validate.Range(min=1))
    per_page = fields.Integer(load_default=50, validate=validate.Range(min=1, max=500))


class PrepareSchema(InputSchema):
    channel = fields.String(load_default="gateway", validate=validate.OneOf(CHANNELS))
    note = fields.String(load_default=None, allow_none=True, validate=validate.Length(max=500))
    idempotency_key = fields.String(load_default=None, allow_none=True, validate=validate.Length(min=8, max=64),
                                    metadata={"description": "重试同一请求时带同一个键，不会重复制单"})


class ResultsSchema(Schema):
    paid = fields.Integer()
    failed = fields.Integer()
    skipped = fields.Integer()


class PayoutAccountAdminSchema(Schema):
    id = fields.Integer()
    party_type = fields.String()
    party_id = fields.Integer()
    kind = fields.String()
    holder_name = fields.String()
    bank_name = fields.String()
    account_number_masked = fields.Function(lambda a: secrets.mask(a.account_last4))
    id_number_masked = fields.Function(lambda a: secrets.mask_id_number(a.id_last4), allow_none=True)
    status = fields.String()
    created_at = fields.DateTime()
    verified_at = fields.DateTime(allow_none=True)
    payable_from = fields.DateTime(allow_none=True)


class PayoutAccountPageSchema(Schema):
    items = fields.List(fields.Nested(PayoutAccountAdminSchema))
    total = fields.Integer()
    page = fields.Integer()
    per_page = fields.Integer()


class PayoutAccountArgs(QuerySchema):
    party_type = fields.String(validate=validate.OneOf(("consultant", "buyer")))
    status = fields.String(validate=validate.OneOf(ACCOUNT_STATUSES))
    page = fields.Integer(load_default=1, validate=validate.Range(min=1))
    per_page = fields.Integer(load_default=50, validate=validate.Range(min=1, max=100))


class RevealSchema(Schema):
    account_number = fields.String()
    id_number = fields.String(allow_none=True)


def _limits() -> batches.Limits:
    return limits.current(db.session, current_app.config)


class LimitsSchema(Schema):
    min_cents = fields.Integer(metadata={**CENTS, "description": "最低付款额（分）"})
    max_cents = fields.Integer(metadata={**CENTS, "description": "单笔付款上限（分）"})
    daily_max_cents = fields.Integer(metadata={**CENTS, "description": "平台单日付款上限（分）"})


class LimitChangeSchema(Schema):
    id = fields.Integer()
    min_cents = fields.Integer(metadata=CENTS)
    max_cents = fields.Integer(metadata=CENTS)
    daily_max_cents = fields.Integer(metadata=CENTS)
    previous_min_cents = fields.Integer(metadata=CENTS)
    previous_max_cents = fields.Integer(metadata=CENTS)
    previous_daily_max_cents = fields.Integer(metadata=CENTS)
    note = fields.String(allow_none=True)
    changed_by = fields.Nested(StaffBriefSchema)
    changed_at = fields.DateTime()


class LimitsViewSchema(Schema):
    current = fields.Nested(LimitsSchema, metadata={"description": "现行限额"})
    defaults = fields.Nested(LimitsSchema, metadata={"description": "配置文件中的默认值（未修改过时生效）"})
    changes = fields.List(fields.Nested(LimitChangeSchema), metadata={"description": "修改记录（新的在前，最多 50 条）"})


class LimitsInputSchema(InputSchema):
    min_cents = fields.Integer(required=True, strict=True, validate=validate.Range(min=1, max=limits.MAX_LIMIT_CENTS),
                               metadata=CENTS)
    max_cents = fields.Integer(required=True, strict=True, validate=validate.Range(min=1, max=limits.MAX_LIMIT_CENTS),
                               metadata=CENTS)
    daily_max_cents = fields.Integer(required=True, strict=True,
                                     validate=validate.Range(min=1, max=limits.MAX_LIMIT_CENTS), metadata=CENTS)
    note = fields.String(load_default=None, allow_none=True, validate=validate.Length(max=limits.NOTE_MAX))


def _limits_view() -> dict:
    changes, _ = limits.history(db.session, per_page=50)
    return {"current": _limits(), "defaults": limits.defaults(current_app.config), "changes": changes}


@blp.route("/settlements/limits")
class SettlementLimits(MethodView):
    @api_roles(blp, *READERS)
    @blp.response(200, LimitsViewSchema)
    def get(self):
        """付款限额：现行值、默认值与修改记录"""
        return _limits_view()

    @api_roles(blp, *FINANCE)
    @blp.arguments(LimitsInputSchema)
    @blp.response(200, LimitsViewSchema)
    def put(self, body):
        """修改付款限额（最低付款额 ≤ 单笔上限 ≤ 单日上限）；每次修改记录修改人、时间、原值与新值。
        与现行值相同时不记录"""
        limits.change(db.session, g.staff, current_app.config, min_cents=body["min_cents"],
                      max_cents=body["max_cents"], daily_max_cents=body["daily_max_cents"], note=body.get("note"),
                      now=utcnow())
        return _limits_view()


def queue_send(batch) -> None:
    """After the commit, send the gateway batch's items in the background."""
    if batch.channel == "gateway":
        from estate_platform.settlement.tasks import send_batch_task
        batch_id = batch.id
        after_commit(db.session, lambda: send_batch_task.delay(batch_id))


@blp.route("/settlements")
class Settlements(MethodView):
    @api_roles(blp, *READERS)
    @blp.arguments(BatchListArgs, location="query")
    @blp.response(200, BatchPageSchema)
    def get(self, args):
        """结算批次（新的在前）"""
        items, total = batches.list_batches(db.session, status=args.get("status"), page=args["page"],
                                            per_page=args["per_page"])
        return {"items": items, "total": total, "page": args["page"], "per_page": args["per_page"]}

    @api_roles(blp, *FINANCE)
    @blp.arguments(PrepareSchema)
    @blp.response(201, BatchSchema)
    @blp.alt_response(200, schema=BatchSchema, success=True, description="同一 idempotency_key 已制单：返回已有批次")
    def post(self, body):
        """制单：选出可提现余额减欠款达到最低付款额、收款账户已验证满 24 小时的顾问与购房者，抵扣欠款、计算代扣税款，
        生成付款明细（每人每批一条）。须由另一位财务人员审批后才付款"""
        batch, created = batches.prepare(db.session, key=body.get("idempotency_key") or uuid.uuid4().hex,
                                         channel=body["channel"], staff=g.staff, limits=_limits(), now=utcnow(),
                                         note=body.get("note"))
        return batch, 201 if created else 200


@blp.route("/settlements/<int:batch_id>")
class SettlementDetail(MethodView):
    @api_roles(blp, *READERS)
    @blp.response(200, BatchSchema)
    @blp.refuses(batches.BatchNotFound)
    def get(self, batch_id):
        """一个结算批次"""
        return batches.get_batch(db.session, batch_id)


@blp.route("/settlements/<int:batch_id>/items")
class SettlementItems(MethodView):
    @api_roles(blp, *READERS)
    @blp.arguments(ItemListArgs, location="query")
    @blp.response(200, ItemPageSchema)
    @blp.refuses(batches.BatchNotFound)
    def get(self, args, batch_id):
        """批次的付款明细"""
        batches.get_batch(db.session, batch_id)
        items, total = batches.items_of(db.session, batch_id, status=args.get("status"), page=args["page"],
                                        per_page=args["per_page"])
        return {"items": items, "total": total, "page": args["page"], "per_page": args["per_page"]}


@blp.route("/settlements/<int:batch_id>/approve")
class SettlementApprove(MethodView):
    @api_roles(blp, *FINANCE)
    @blp.response(200, BatchSchema)
    @blp.refuses(batches.BatchNotFound, batches.SelfApproval, batches.BatchNotApprovable,
                 batches.DailyLimitExceeded)
    def post(self, batch_id):
        """审批（制单人以外的财务人员）：记账并付款；未上传发票或账户已变更的明细本期暂缓；首次付款到新账户的明细
        须第三位财务人员再次调用本接口复核。制单人审批 → 403 self_approval"""
        batch = batches.approve(db.session, batch_id, g.staff, limits=_limits(), now=utcnow())
        queue_send(batch)
        return batch


@blp.route("/settlements/<int:batch_id>/provider-file")
class SettlementProviderFile(MethodView):
    @api_roles(blp, *FINANCE)
    @blp.response(200, BINARY, content_type=XLSX, description="灵活用工付款文件（含完整身份证号与银行账号）")
    @blp.refuses(batches.BatchNotFound, payouts.NotAProviderBatch, payouts.BatchNotApproved)
    def get(self, batch_id):
        """下载灵活用工平台付款文件（仅财务；每次下载都被记录）"""
        content = payouts.provider_file(db.session, batch_id, encryption_key=current_app.config["PAYOUT_ENCRYPTION_KEY"],
                                        staff_id=g.staff.id, now=utcnow(), ip=client_ip())
        return send_file(BytesIO(content), mimetype=XLSX, as_attachment=True,
                         download_name=f"provider-batch-{batch_id}.xlsx")


@blp.route("/settlements/<int:batch_id>/provider-results")
class SettlementProviderResults(MethodView):
    @api_roles(blp, *FINANCE)
    @blp.doc(requestBody=RESULTS_BODY)
    @blp.response(200, ResultsSchema)
    @blp.refuses(batches.BatchNotFound, payouts.NotAProviderBatch, ValidationFailed, 400, 413)
    def post(self, batch_id):
        """导入灵活用工平台的逐行结果（成功 / 失败及原因 / 代征税额）；失败的金额退回可提现余额；重复导入不重复记账"""
        file = request.files.get("file")
        if file is None:
            raise ValidationFailed({"file": ["请选择结果文件"]})
        return payouts.import_results(db.session, batch_id, file.read(), staff_id=g.staff.id, now=utcnow())


@blp.route("/settlement-failures")
class SettlementFailures(MethodView):
    @api_roles(blp, *READERS)
    @blp.arguments(PageArgs, location="query")
    @blp.response(200, ItemPageSchema)
    def get(self, args):
        """付款失败队列：失败的明细（金额已退回可提现余额，下次结算重新付款）"""
        items, total = batches.failures(db.session, page=args["page"], per_page=args["per_page"])
        return {"items": items, "total": total, "page": args["page"], "per_page": args["per_page"]}


@blp.route("/payout-accounts")
class PayoutAccounts(MethodView):
    @api_roles(blp, *FINANCE)
    @blp.arguments(PayoutAccountArgs, location="query")
    @blp.response(200, PayoutAccountPageSchema)
    def get(self, args):
        """收款账户（账号与身份证号只显示后四位）"""
        items, total = accounts.list_accounts(db.session, party_type=args.get("party_type"),
                                              status=args.get("status"), page=args["page"], per_page=args["per_page"])
        return {"items": items, "total": total, "page": args["page"], "per_page": args["per_page"]}


@blp.route("/payout-accounts/<int:account_id>/reveal")
class PayoutAccountReveal(MethodView):
    @api_roles(blp, *FINANCE)
    @blp.response(200, RevealSchema)
    @blp.refuses(accounts.PayoutAccountNotFound)
    def post(self, account_id):
        """查看完整账号与身份证号（仅财务；每次查看都被记录）"""
        account = accounts.staff_account(db.session, account_id)
        return accounts.reveal(db.session, account, encryption_key=current_app.config["PAYOUT_ENCRYPTION_KEY"],
                               actor_type="staff", actor_id=g.staff.id, now=utcnow(), ip=client_ip())
