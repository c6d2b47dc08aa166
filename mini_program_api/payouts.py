"""收款账户与发票：顾问添加或更换收款账户（短信验证，24 小时后方可付款）、上传发票（公司/门店顾问）；
购房者（老带新奖励）也可通过接口添加收款账户。

Numbers are shown masked; the consultant never reads his full numbers back through the API
(he typed them; finance reads them, logged). Issue 12 §2-3.
"""
from __future__ import annotations

import os

from flask import current_app, g, request
from flask.views import MethodView
from flask_smorest.fields import Upload
from marshmallow import Schema, fields, validate

from estate_platform.adapters.sms import SmsUnavailable
from estate_platform.consultants.phone import PhoneUnverified
from estate_platform.consultants.services import NotYetApplied
from estate_platform.db import db, utcnow
from estate_platform.errors import ValidationFailed
from estate_platform.identity import services as identity
from estate_platform.settlement import accounts, invoices, secrets
from estate_platform.settlement.statements import StatementNotFound
from estate_platform.visits import attachments
from web_common.api import InputSchema, PlatformBlueprint, client_ip

from . import callers
from .schemas import SmsSendResultSchema

blp = PlatformBlueprint("payouts", __name__, description="收款账户（短信验证、24 小时等待期）与结算发票上传")

CENTS = {"format": "int64"}
STATUS_LABELS = {"pending_verification": "待短信验证", "verified": "已验证", "replaced": "已更换", "abandoned": "已放弃"}


class PayoutAccountSchema(Schema):
    id = fields.Integer()
    kind = fields.String(metadata={"description": "personal 个人账户 / corporate 对公账户"})
    holder_name = fields.String()
    bank_name = fields.String()
    account_number_masked = fields.Function(lambda a: secrets.mask(a.account_last4))
    id_number_masked = fields.Function(lambda a: secrets.mask_id_number(a.id_last4), allow_none=True)
    status = fields.String(metadata={"description": "pending_verification / verified / replaced / abandoned"})
    status_label = fields.Function(lambda a: STATUS_LABELS[a.status])
    created_at = fields.DateTime()
    verified_at = fields.DateTime(allow_none=True)
    payable_from = fields.DateTime(allow_none=True, metadata={"description": "最早可付款时间（验证后 24 小时）"})


class PayoutAccountListSchema(Schema):
    items = fields.List(fields.Nested(PayoutAccountSchema))


class PayoutAccountCreateSchema(InputSchema):
    holder_name = fields.String(required=True, validate=validate.Length(min=1, max=100),
                                metadata={"description": "户名：独立顾问为本人姓名，公司/门店顾问为公司名称"})
    bank_name = fields.String(required=True, validate=validate.Length(min=1, max=100), metadata={
        "description": "开户银行（含支行）"})
    account_number = fields.String(required=True, validate=validate.Length(min=8, max=40))
    id_number = fields.String(load_default=None, allow_none=True, validate=validate.Length(min=15, max=20),
                              metadata={"description": "身份证号（个人账户必填，18 位，校验位须正确）"})


class AccountCodeSchema(InputSchema):
    code = fields.String(required=True, validate=validate.Length(min=1, max=10),
                         metadata={"description": "发到本人已验证手机号的 6 位短信验证码"})


class InvoiceFormSchema(InputSchema):
    # Checked by the service after the statement is found to be his (another's is 404, whatever the form says).
    invoice_number = fields.String(load_default="", validate=validate.Length(max=50))
    amount_cents = fields.Integer(load_default=None, validate=validate.Range(min=1, max=10 ** 13),
                                  metadata={**CENTS, "description": "发票金额（分），须等于本次结算实发金额"})
    file = Upload(metadata={"description": "发票：PDF 或 JPG、PNG 图片（按内容识别），不超过 5 MB"})


class InvoiceSchema(Schema):
    id = fields.Integer()
    item_id = fields.Integer()
    invoice_number = fields.String()
    amount_cents = fields.Integer(metadata=CENTS)
    filename = fields.String()
    content_type = fields.String()
    size_bytes = fields.Integer()
    created_at = fields.DateTime()


def _party() -> accounts.Party:
    return accounts.Party.of_consultant(g.consultant)


def _key() -> str:
    return current_app.config["PAYOUT_ENCRYPTION_KEY"]


REFUSALS = (NotYetApplied,)
CODE_REFUSALS = (accounts.PayoutAccountNotFound, accounts.PayoutAccountNotPending, PhoneUnverified)


@blp.route("/payout-accounts")
class PayoutAccounts(MethodView):
    @blp.authenticated(callers.consultant, *REFUSALS)
    @blp.response(200, PayoutAccountListSchema)
    def get(self):
        """我的收款账户（当前、待验证与历史），账号与身份证号只显示后四位"""
        return {"items": accounts.accounts_of(db.session, _party())}

    @blp.authenticated(callers.consultant, *REFUSALS, ValidationFailed)
    @blp.arguments(PayoutAccountCreateSchema)
    @blp.response(201, PayoutAccountSchema)
    def post(self, body):
        """添加或更换收款账户：独立顾问为本人名下个人账户并填写完整身份证号；公司/门店顾问为公司对公账户。
        新账户须用短信验证码确认（先调 /send-code，再调 /verify），验证后 24 小时才能用于付款"""
        return accounts.add_account(db.session, _party(), encryption_key=_key(), now=utcnow(), **body)


@blp.route("/payout-accounts/<int:account_id>")
class PayoutAccountDetail(MethodView):
    @blp.authenticated(callers.consultant, *REFUSALS, accounts.PayoutAccountNotFound)
    @blp.response(200, PayoutAccountSchema)
    def get(self, account_id):
        """一个收款账户（只能查看自己的）"""
        return accounts.own_account(db.session, _party(), account_id)


@blp.route("/payout-accounts/<int:account_id>/send-code")
class PayoutAccountSendCode(MethodView):
    @blp.authenticated(callers.consultant, *REFUSALS, *CODE_REFUSALS, identity.SmsRateLimited, SmsUnavailable)
    @blp.response(200, SmsSendResultSchema)
    def post(self, account_id):
        """向本人已验证的手机号发送验证码，用于确认新的收款账户（手机号未验证 → 403 phone_unverified）"""
        ttl = accounts.send_code(db.session, current_app.extensions["adapters"].sms, _party(), account_id,
                                 ip=client_ip(), secret=current_app.config["SECRET_KEY"], now=utcnow(),
                                 config=current_app.config)
        return {"sent": True, "expires_in_seconds": ttl}


@blp.route("/payout-accounts/<int:account_id>/verify")
class PayoutAccountVerify(MethodView):
    @blp.authenticated(callers.consultant, *REFUSALS, *CODE_REFUSALS, identity.SmsCodeWrong,
                       identity.SmsCodeExpired, identity.SmsTooManyAttempts)
    @blp.arguments(AccountCodeSchema)
    @blp.response(200, PayoutAccountSchema)
    def post(self, body, account_id):
        """用短信验证码确认收款账户：它取代原账户，24 小时后才可用于付款（防账户被盗后改卡）"""
        return accounts.verify(db.session, _party(), account_id, body["code"], secret=current_app.config["SECRET_KEY"],
                               now=utcnow(), config=current_app.config,
                               wait_hours=current_app.config["PAYOUT_ACCOUNT_WAIT_HOURS"])


@blp.route("/statements/<int:item_id>/invoice")
class StatementInvoice(MethodView):
    @blp.authenticated(callers.consultant, *REFUSALS, StatementNotFound, invoices.InvoiceNotExpected,
                       attachments.AttachmentTooLarge, attachments.AttachmentTypeNotAllowed, ValidationFailed, 413)
    @blp.arguments(InvoiceFormSchema, location="form", content_type="multipart/form-data")
    @blp.response(201, InvoiceSchema)
    def post(self, form, item_id):
        """公司/门店顾问为一笔待付款结算上传发票（金额须等于实发金额），上传后该笔结算才能付款。
        multipart/form-data：invoice_number、amount_cents、file"""
        upload = request.files.get("file")
        file = attachments.Upload(filename=upload.filename, content_type=upload.mimetype,
                                  stream=upload.stream) if upload else None
        return invoices.upload(db.session, g.consultant, item_id, invoice_number=form["invoice_number"],
                               amount_cents=form["amount_cents"], file=file,
                               storage_dir=os.path.join(current_app.config["INSTANCE_PATH"], "uploads"), now=utcnow())


# --- buyers (老带新 rewards) ---------------------------------------------------------------------

def _buyer_party() -> accounts.Party:
    return accounts.Party.of_buyer(g.buyer)


@blp.route("/buyer/payout-accounts")
class BuyerPayoutAccounts(MethodView):
    @blp.authenticated(callers.buyer)
    @blp.response(200, PayoutAccountListSchema)
    def get(self):
        """购房者（老带新奖励）的收款账户"""
        return {"items": accounts.accounts_of(db.session, _buyer_party())}

    @blp.authenticated(callers.buyer, ValidationFailed)
    @blp.arguments(PayoutAccountCreateSchema)
    @blp.response(201, PayoutAccountSchema)
    def post(self, body):
        """购房者添加本人名下的个人收款账户（含身份证号），再用短信验证码确认；24 小时后随结算批次支付老带新奖励"""
        return accounts.add_account(db.session, _buyer_party(), encryption_key=_key(), now=utcnow(), **body)


@blp.route("/buyer/payout-accounts/<int:buyer_account_id>/verify")
class BuyerPayoutAccountVerify(MethodView):
    @blp.authenticated(callers.buyer, accounts.PayoutAccountNotFound, accounts.PayoutAccountNotPending,
                       identity.SmsCodeWrong, identity.SmsCodeExpired, identity.SmsTooManyAttempts)
    @blp.arguments(AccountCodeSchema)
    @blp.response(200, PayoutAccountSchema)
    def post(self, body, buyer_account_id):
        """用发到本人手机号的短信验证码（/auth/sms/send）确认收款账户"""
        return accounts.verify(db.session, _buyer_party(), buyer_account_id, body["code"],
                               secret=current_app.config["SECRET_KEY"], now=utcnow(), config=current_app.config,
                               wait_hours=current_app.config["PAYOUT_ACCOUNT_WAIT_HOURS"])
