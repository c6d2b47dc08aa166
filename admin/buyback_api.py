"""Admin JSON API for buy-back (佣金垫付, issue 13 §1): the request queue with approval
(a second, different finance user above the set amount) and rejection, settings and developer
terms, collection packages (打包) and the book. Finance and admins only; rates in basis points.
"""
from __future__ import annotations

from flask import g
from flask.views import MethodView
from marshmallow import Schema, fields, validate

from estate_platform.buyback import packages, requests
from estate_platform.buyback import settings as buyback_settings
from estate_platform.buyback.errors import (DealNotLive, NothingToPackage, PackageNotFound, PackageNotOpen,
                                            RequestClosed, RequestNotFound, SameApprover)
from estate_platform.buyback.models import REQUEST_STATUSES
from estate_platform.clock import local_date
from estate_platform.db import db, utcnow
from estate_platform.errors import ValidationFailed
from estate_platform.projects.services import DeveloperNotFound
from web_common.api import InputSchema, PlatformBlueprint, QuerySchema
from web_common.buyback_schemas import CENTS, BuybackLineBaseSchema, BuybackRequestBaseSchema

from .callers import api_roles

blp = PlatformBlueprint("admin_buyback_api", __name__,
                        description="佣金垫付：申请审核（大额须另一位财务复核）、参数与开发商条款、回款包、垫付台账")

FINANCE = ("finance", "admin")
MONEY = validate.Range(min=0, max=10 ** 13)
BPS = validate.Range(min=0, max=10_000)


class RequestListArgs(QuerySchema):
    status = fields.String(validate=validate.OneOf(REQUEST_STATUSES))
    page = fields.Integer(load_default=1, validate=validate.Range(min=1, max=10 ** 6))
    per_page = fields.Integer(load_default=30, validate=validate.Range(min=1, max=100))


class RejectSchema(InputSchema):
    reason = fields.String(required=True, validate=validate.Length(min=1, max=500))


class LineSchema(BuybackLineBaseSchema):
    id = fields.Integer()
    developer_id = fields.Integer()
    discount_cents = fields.Integer(metadata=CENTS)
    collected_cents = fields.Integer(metadata=CENTS)
    discount_realised_cents = fields.Integer(metadata=CENTS)
    package_id = fields.Integer(allow_none=True)


class RequestSchema(BuybackRequestBaseSchema):
    consultant_id = fields.Integer()
    consultant_name = fields.Function(lambda r: r.consultant.name)
    needs_second_approval = fields.Boolean()
    first_approver_id = fields.Integer(allow_none=True)
    second_approver_id = fields.Integer(allow_none=True)
    transaction_id = fields.Integer(allow_none=True)
    lines = fields.List(fields.Nested(LineSchema))


class RequestPageSchema(Schema):
    items = fields.List(fields.Nested(RequestSchema))
    total = fields.Integer()
    page = fields.Integer()
    per_page = fields.Integer()


class SettingsSchema(Schema):
    annual_rate_bps = fields.Integer()
    risk_premium_bps = fields.Integer()
    min_fee_cents = fields.Integer(metadata=CENTS)
    advance_cap_bps = fields.Integer()
    quote_valid_minutes = fields.Integer()
    request_valid_hours = fields.Integer()
    credit_threshold = fields.Integer()
    fallback_days = fields.Integer()
    developer_limit_cents = fields.Integer(metadata=CENTS)
    consultant_limit_cents = fields.Integer(metadata=CENTS)
    book_limit_cents = fields.Integer(metadata=CENTS)
    second_approver_cents = fields.Integer(metadata=CENTS)
    updated_at = fields.DateTime()


class SettingsInputSchema(InputSchema):
    annual_rate_bps = fields.Integer(strict=True, validate=BPS)
    risk_premium_bps = fields.Integer(strict=True, validate=BPS)
    min_fee_cents = fields.Integer(strict=True, validate=validate.Range(min=0, max=10 ** 9))
    advance_cap_bps = fields.Integer(strict=True, validate=BPS)
    quote_valid_minutes = fields.Integer(strict=True, validate=validate.Range(min=1, max=1440))
    request_valid_hours = fields.Integer(strict=True, validate=validate.Range(min=1, max=720))
    credit_threshold = fields.Integer(strict=True, validate=validate.Range(min=0, max=100))
    fallback_days = fields.Integer(strict=True, validate=validate.Range(min=0, max=730))
    developer_limit_cents = fields.Integer(strict=True, validate=MONEY)
    consultant_limit_cents = fields.Integer(strict=True, validate=MONEY)
    book_limit_cents = fields.Integer(strict=True, validate=MONEY)
    second_approver_cents = fields.Integer(strict=True, validate=MONEY)


class DeveloperTermsInputSchema(InputSchema):
    risk_premium_bps = fields.Integer(load_default=None, allow_none=True, strict=True, validate=BPS,
                                      metadata={"description": "为空时用平台默认"})
    exposure_limit_cents = fields.Integer(load_default=None, allow_none=True, strict=True, validate=MONEY)


class DeveloperTermsSchema(Schema):
    developer_id = fields.Integer()
    risk_premium_bps = fields.Integer(allow_none=True)
    exposure_limit_cents = fields.Integer(allow_none=True, metadata=CENTS)
    updated_at = fields.DateTime()


class PackageCreateSchema(InputSchema):
    developer_id = fields.Integer(required=True, strict=True, validate=validate.Range(min=1, max=2 ** 31 - 1))
    note = fields.String(load_default=None, allow_none=True, validate=validate.Length(max=500))


class PackageListArgs(QuerySchema):
    developer_id = fields.Integer(validate=validate.Range(min=1, max=2 ** 31 - 1))
    page = fields.Integer(load_default=1, validate=validate.Range(min=1, max=10 ** 6))
    per_page = fields.Integer(load_default=30, validate=validate.Range(min=1, max=100))


class PackageSchema(Schema):
    id = fields.Integer()
    developer_id = fields.Integer()
    developer_name = fields.Function(lambda p: p.developer.name)
    status = fields.String()
    note = fields.String(allow_none=True)
    created_at = fields.DateTime()
    sent_at = fields.DateTime(allow_none=True)
    face_cents = fields.Function(lambda p: sum(l.face_cents for l in p.lines), metadata=CENTS)
    collected_cents = fields.Function(lambda p: sum(l.collected_cents for l in p.lines), metadata=CENTS)
    lines = fields.List(fields.Nested(LineSchema))


class PackagePageSchema(Schema):
    items = fields.List(fields.Nested(PackageSchema))
    total = fields.Integer()
    page = fields.Integer()
    per_page = fields.Integer()


class ExposureSchema(Schema):
    developer_id = fields.Integer()
    name = fields.String()
    reserved_cents = fields.Integer(metadata=CENTS)
    outstanding_cents = fields.Integer(metadata=CENTS)
    limit_cents = fields.Integer(metadata=CENTS)


class BookSchema(Schema):
    outstanding_face_cents = fields.Integer(metadata=CENTS)
    cost_cents = fields.Integer(metadata=CENTS)
    expected_yield_cents = fields.Integer(metadata=CENTS)
    realised_income_cents = fields.Integer(metadata=CENTS)
    recourse_cents = fields.Integer(metadata=CENTS)
    reserved_cents = fields.Integer(metadata=CENTS)
    developers = fields.List(fields.Nested(ExposureSchema))
    overdue = fields.List(fields.Nested(LineSchema))


@blp.route("/buyback/requests")
class Requests(MethodView):
    @api_roles(blp, *FINANCE)
    @blp.arguments(RequestListArgs, location="query")
    @blp.response(200, RequestPageSchema)
    def get(self, args):
        """垫付申请队列（按状态筛选，分页）"""
        items, total = requests.queue(db.session, status=args.get("status"), page=args["page"],
                                      per_page=args["per_page"])
        return {"items": items, "total": total, "page": args["page"], "per_page": args["per_page"]}


@blp.route("/buyback/requests/<int:buyback_request_id>")
class RequestDetail(MethodView):
    @api_roles(blp, *FINANCE)
    @blp.response(200, RequestSchema)
    @blp.refuses(RequestNotFound)
    def get(self, buyback_request_id):
        """垫付申请详情"""
        return requests.get(db.session, buyback_request_id)


@blp.route("/buyback/requests/<int:buyback_request_id>/approve")
class Approve(MethodView):
    @api_roles(blp, *FINANCE)
    @blp.response(200, RequestSchema)
    @blp.refuses(RequestNotFound, RequestClosed, SameApprover, DealNotLive)
    def post(self, buyback_request_id):
        """审核通过。达到复核金额的申请须两位不同财务审核（第一位审核后仍为待审核）；通过时记账一次（重试不重复记账）。"""
        return requests.approve(db.session, buyback_request_id, staff_id=g.staff.id, now=utcnow())


@blp.route("/buyback/requests/<int:buyback_request_id>/reject")
class Reject(MethodView):
    @api_roles(blp, *FINANCE)
    @blp.arguments(RejectSchema)
    @blp.response(200, RequestSchema)
    @blp.refuses(RequestNotFound, RequestClosed)
    def post(self, body, buyback_request_id):
        """驳回申请（须填写原因），释放额度"""
        return requests.reject(db.session, buyback_request_id, staff_id=g.staff.id, reason=body["reason"],
                               now=utcnow())


@blp.route("/buyback/settings")
class Settings(MethodView):
    @api_roles(blp, *FINANCE)
    @blp.response(200, SettingsSchema)
    def get(self):
        """垫付参数：年化费率、风险溢价、最低手续费、垫付比例上限、报价有效期、信用分门槛、额度与复核金额"""
        return buyback_settings.current(db.session, now=utcnow())

    @api_roles(blp, *FINANCE)
    @blp.arguments(SettingsInputSchema)
    @blp.response(200, SettingsSchema)
    @blp.refuses(ValidationFailed)
    def put(self, body):
        """修改垫付参数（只改提交的字段）"""
        return buyback_settings.update(db.session, body, staff_id=g.staff.id, now=utcnow())


@blp.route("/buyback/developers/<int:developer_id>/terms")
class DeveloperTerms(MethodView):
    @api_roles(blp, *FINANCE)
    @blp.arguments(DeveloperTermsInputSchema)
    @blp.response(200, DeveloperTermsSchema)
    @blp.refuses(DeveloperNotFound, ValidationFailed)
    def put(self, body, developer_id):
        """设置开发商的风险溢价与垫付额度（为空时用平台默认）"""
        return buyback_settings.set_developer_terms(db.session, developer_id, staff_id=g.staff.id, now=utcnow(),
                                                    **body)


@blp.route("/buyback/packages")
class Packages(MethodView):
    @api_roles(blp, *FINANCE)
    @blp.arguments(PackageListArgs, location="query")
    @blp.response(200, PackagePageSchema)
    def get(self, args):
        """回款包列表"""
        items, total = packages.packages(db.session, developer_id=args.get("developer_id"), page=args["page"],
                                         per_page=args["per_page"])
        return {"items": items, "total": total, "page": args["page"], "per_page": args["per_page"]}

    @api_roles(blp, *FINANCE)
    @blp.arguments(PackageCreateSchema)
    @blp.response(201, PackageSchema)
    @blp.refuses(DeveloperNotFound, NothingToPackage)
    def post(self, body):
        """把开发商名下未打包的已购应收打成回款包"""
        return packages.create_package(db.session, body["developer_id"], staff_id=g.staff.id, note=body["note"],
                                       now=utcnow())


@blp.route("/buyback/packages/<int:buyback_package_id>")
class PackageDetail(MethodView):
    @api_roles(blp, *FINANCE)
    @blp.response(200, PackageSchema)
    @blp.refuses(PackageNotFound)
    def get(self, buyback_package_id):
        """回款包详情：逐笔回款情况"""
        return packages.statement(db.session, buyback_package_id).package


@blp.route("/buyback/packages/<int:buyback_package_id>/send")
class PackageSend(MethodView):
    @api_roles(blp, *FINANCE)
    @blp.response(200, PackageSchema)
    @blp.refuses(PackageNotFound, PackageNotOpen)
    def post(self, buyback_package_id):
        """标记回款包已发送给开发商"""
        return packages.send(db.session, buyback_package_id, now=utcnow())


@blp.route("/buyback/book")
class BookView(MethodView):
    @api_roles(blp, *FINANCE)
    @blp.response(200, BookSchema)
    def get(self):
        """垫付台账：未回款面值、成本、预期收益、已实现收入、追索、各开发商敞口、逾期明细"""
        now = utcnow()
        return packages.book(db.session, today=local_date(now), now=now)
