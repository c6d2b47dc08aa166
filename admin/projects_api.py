"""Admin JSON API: developers (开发商), projects (楼盘) with their registration rules,
and the sales offices' existing customers (案场老客户).

Operations and admins manage; finance reads; site staff read their own
developer's projects and mark existing customers.
"""
from __future__ import annotations

from flask import g
from flask.views import MethodView
from marshmallow import Schema, fields, validate

from estate_platform.db import db, utcnow
from estate_platform.errors import ValidationFailed
from estate_platform.phones import PHONE_INPUT_MAX_LENGTH, mask_phone, national
from estate_platform.privacy import reveals
from estate_platform.projects import developers as developer_book, existing_customers, services as projects
from estate_platform.projects.models import PHONE_DISCLOSURES, PROJECT_STATUSES, PROTECTION_MODES, RISK_THRESHOLD_RANGES
from web_common.api import InputSchema, PlatformBlueprint, QuerySchema

from .callers import api_roles

blp = PlatformBlueprint("admin_projects_api", __name__,
                        description="开发商与楼盘：报备规则（保护模式、期限、号码显示、报备限制）、状态、案场老客户")

MANAGERS = ("admin", "operations")
READERS = ("admin", "operations", "finance")
PROJECT_READERS = ("admin", "operations", "finance", "site_staff")
CUSTOMER_KEEPERS = ("admin", "operations", "site_staff")

MAX_HOURS = projects.MAX_WINDOW_HOURS


# --- schemas -------------------------------------------------------------------------------------

class DeveloperInputSchema(InputSchema):
    name = fields.String(required=True, validate=validate.Length(min=1, max=100))
    contact_name = fields.String(allow_none=True, validate=validate.Length(max=50))
    contact_phone = fields.String(allow_none=True, validate=validate.Length(max=PHONE_INPUT_MAX_LENGTH),
                                  metadata={"description": "手机号或座机（如 025-12345678）"})


class DeveloperPatchSchema(DeveloperInputSchema):
    name = fields.String(validate=validate.Length(min=1, max=100))


class DeveloperSchema(Schema):
    id = fields.Integer()
    name = fields.String()
    contact_name = fields.String(allow_none=True)
    contact_phone = fields.Function(lambda d: national(d.contact_phone) if d.contact_phone else None, allow_none=True)
    project_count = fields.Function(lambda d: len(d.projects), metadata={"description": "楼盘数"})
    created_at = fields.DateTime()


class DeveloperListArgs(QuerySchema):
    q = fields.String(validate=validate.Length(min=1, max=50))
    page = fields.Integer(load_default=1, validate=validate.Range(min=1))
    per_page = fields.Integer(load_default=50, validate=validate.Range(min=1, max=100))


class DeveloperPageSchema(Schema):
    items = fields.List(fields.Nested(DeveloperSchema))
    total = fields.Integer()
    page = fields.Integer()
    per_page = fields.Integer()


def _hours(required_min: int, description: str):
    return fields.Integer(strict=True, validate=validate.Range(min=required_min, max=MAX_HOURS),
                          metadata={"description": description})


def _threshold(name: str, default_text: str):
    low, high = RISK_THRESHOLD_RANGES[name]
    return fields.Integer(strict=True, validate=validate.Range(min=low, max=high),
                          metadata={"description": projects.RISK_THRESHOLD_LABELS[name] + default_text})


class AdminProjectPatchSchema(InputSchema):
    """Types and bounds only; the service checks the whole project and reports every bad field at once."""
    developer_id = fields.Integer(strict=True, validate=validate.Range(min=1))
    name = fields.String(validate=validate.Length(min=1, max=100))
    city = fields.String(validate=validate.Length(min=1, max=50))
    district = fields.String(allow_none=True, validate=validate.Length(max=50))
    address = fields.String(allow_none=True, validate=validate.Length(max=200))
    description = fields.String(allow_none=True, validate=validate.Length(max=2000), metadata={"multiline": True})
    price_min_cents = fields.Integer(strict=True, validate=validate.Range(min=0, max=projects.MAX_PRICE_CENTS),
                                     metadata={"description": "最低总价（分）"})
    price_max_cents = fields.Integer(strict=True, validate=validate.Range(min=0, max=projects.MAX_PRICE_CENTS),
                                     metadata={"description": "最高总价（分），不低于最低总价"})
    status = fields.String(validate=validate.OneOf(PROJECT_STATUSES),
                           metadata={"description": "on_sale 在售 / paused 暂停报备 / sold_out 已售罄 / ended 合作结束"})
    cooperation_start = fields.Date(allow_none=True, metadata={"description": "合作开始日期（上海时间）"})
    cooperation_end = fields.Date(allow_none=True, metadata={"description": "合作结束日期（含当天），不早于开始日期"})
    protection_mode = fields.String(validate=validate.OneOf(PROTECTION_MODES), metadata={
        "description": "report_visit_deal 报备→到访→成交 / report_deal 报备→成交 / visit_deal 到访为王"})
    visit_window_hours = _hours(1, "到访期限（小时）：报备后须在此期限内到访")
    deal_window_hours = _hours(1, "成交期限（小时）：到访确认（或报备）后的成交保护期")
    phone_disclosure = fields.String(validate=validate.OneOf(PHONE_DISCLOSURES), metadata={
        "description": "案场看到的客户手机号：full 完整 / first3_last4 前三后四 / first4_last3 前四后三"})
    notify_buyer_on_registration = fields.Boolean(metadata={
        "description": "顾问报备客户时短信告知客户（楼盘、顾问称呼、异议链接），默认开启"})
    daily_buyer_project_limit = fields.Integer(
        strict=True, validate=validate.Range(min=1, max=projects.MAX_DAILY_LIMIT),
        metadata={"description": "同一客户每天最多被报备的楼盘数"})
    reregister_cooldown_hours = _hours(0, "报备过期后同一顾问再次报备该客户前的冷却期（小时）")
    remind_before_hours = _hours(0, "保护期结束前多久提醒顾问（小时）")
    attribution_window_days = fields.Integer(strict=True,
                                             validate=validate.Range(min=1, max=projects.MAX_ATTRIBUTION_DAYS),
                                             metadata={"description": "邀请链接归属期（天）"})
    daily_consultant_registration_cap_low_credit = fields.Integer(
        strict=True, validate=validate.Range(min=0, max=projects.MAX_DAILY_LIMIT),
        metadata={"description": "信用分低于阈值（60）的顾问每天在本楼盘最多报备的客户数（默认 5）"})
    # Risk thresholds (风控阈值) of the nightly jobs; defaults in parentheses.
    risk_visit_within_minutes = _threshold("risk_visit_within_minutes", "（默认 10）")
    risk_deal_within_hours = _threshold("risk_deal_within_hours", "（默认 24）")
    risk_collision_consultants = _threshold("risk_collision_consultants", "（默认 3）")
    risk_collision_days = _threshold("risk_collision_days", "（默认 7）")
    risk_velocity_count = _threshold("risk_velocity_count", "（默认 20）")
    risk_velocity_minutes = _threshold("risk_velocity_minutes", "（默认 60）")
    risk_fishing_refusals = _threshold("risk_fishing_refusals", "（默认 3）")
    risk_fishing_days = _threshold("risk_fishing_days", "（默认 7）")
    risk_price_drop_bps = _threshold("risk_price_drop_bps", "（默认 500，即 5%）")
    risk_rerecord_days = _threshold("risk_rerecord_days", "（默认 7）")


class AdminProjectInputSchema(AdminProjectPatchSchema):
    developer_id = fields.Integer(required=True, strict=True, validate=validate.Range(min=1))
    name = fields.String(required=True, validate=validate.Length(min=1, max=100))
    city = fields.String(required=True, validate=validate.Length(min=1, max=50))


class DeveloperBriefSchema(Schema):
    id = fields.Integer()
    name = fields.String()


class ProjectRulesSchema(Schema):
    """The registration rules, with their meaning in Chinese."""
    protection_mode = fields.String()
    protection_mode_label = fields.Function(lambda p: projects.MODE_LABELS[p.protection_mode])
    summary = fields.Function(projects.protection_summary, metadata={"description": "如 报备→到访（30天内）→成交（90天内）"})
    explanation = fields.Function(projects.rule_lines, metadata={"description": "逐条中文说明"})
    visit_window_hours = fields.Integer()
    deal_window_hours = fields.Integer()
    phone_disclosure = fields.String()
    notify_buyer_on_registration = fields.Boolean()
    phone_disclosure_label = fields.Function(lambda p: projects.DISCLOSURE_LABELS[p.phone_disclosure])
    daily_buyer_project_limit = fields.Integer()
    reregister_cooldown_hours = fields.Integer()
    remind_before_hours = fields.Integer()
    daily_consultant_registration_cap_low_credit = fields.Integer()
    # The nightly risk jobs' thresholds (风控阈值).
    risk_visit_within_minutes = fields.Integer()
    risk_deal_within_hours = fields.Integer()
    risk_collision_consultants = fields.Integer()
    risk_collision_days = fields.Integer()
    risk_velocity_count = fields.Integer()
    risk_velocity_minutes = fields.Integer()
    risk_fishing_refusals = fields.Integer()
    risk_fishing_days = fields.Integer()
    risk_price_drop_bps = fields.Integer()
    risk_rerecord_days = fields.Integer()


class AdminProjectSchema(Schema):
    id = fields.Integer()
    developer = fields.Nested(DeveloperBriefSchema)
    name = fields.String()
    city = fields.String()
    district = fields.String(allow_none=True)
    address = fields.String(allow_none=True)
    description = fields.String(allow_none=True, metadata={"multiline": True})
    price_min_cents = fields.Integer()
    price_max_cents = fields.Integer()
    status = fields.String()
    status_label = fields.Function(lambda p: projects.STATUS_LABELS[p.status])
    cooperation_start = fields.Date(allow_none=True)
    cooperation_end = fields.Date(allow_none=True)
    accepting_registrations = fields.Boolean()
    not_accepting_reason = fields.String(allow_none=True, metadata={
        "description": "paused / sold_out / ended / cooperation_not_started / cooperation_ended"})
    not_accepting_message = fields.String(allow_none=True)
    rules = fields.Nested(ProjectRulesSchema, attribute="project")
    attribution_window_days = fields.Integer()
    created_at = fields.DateTime()
    updated_at = fields.DateTime()


class AdminProjectListArgs(QuerySchema):
    city = fields.String(validate=validate.Length(min=1, max=50))
    district = fields.String(validate=validate.Length(min=1, max=50))
    status = fields.String(validate=validate.OneOf(PROJECT_STATUSES))
    developer_id = fields.Integer(validate=validate.Range(min=1))
    accepting_only = fields.Boolean(load_default=False, metadata={"description": "只看当前接受报备的楼盘"})
    q = fields.String(validate=validate.Length(min=1, max=50), metadata={"description": "楼盘名称关键字"})
    page = fields.Integer(load_default=1, validate=validate.Range(min=1))
    per_page = fields.Integer(load_default=20, validate=validate.Range(min=1, max=100))


class AdminProjectPageSchema(Schema):
    items = fields.List(fields.Nested(AdminProjectSchema))
    total = fields.Integer()
    page = fields.Integer()
    per_page = fields.Integer()


class ExistingCustomerInputSchema(InputSchema):
    phone = fields.String(required=True, validate=validate.Length(max=PHONE_INPUT_MAX_LENGTH),
                          metadata={"description": "客户手机号（中国大陆）"})
    name = fields.String(allow_none=True, validate=validate.Length(max=50))


class ExistingCustomerSchema(Schema):
    """Masked numbers (前三后四); the full one is a logged reveal with a purpose (issue 15 §1)."""
    id = fields.Integer()
    project_id = fields.Integer()
    phone = fields.Function(lambda c: mask_phone(c.phone),
                            metadata={"description": "脱敏显示；完整号码须调用 reveal-phone（留痕）"})
    name = fields.String(allow_none=True)
    marked_by = fields.Function(lambda c: c.marked_by.display_name if c.marked_by else None, allow_none=True)
    created_at = fields.DateTime()


class ExistingCustomerRevealInputSchema(InputSchema):
    purpose = fields.String(required=True, validate=validate.Length(min=1, max=reveals.PURPOSE_MAX_LENGTH),
                            metadata={"description": "查看完整号码的用途（记录在手机号查看日志）"})


class RevealedCustomerPhoneSchema(Schema):
    existing_customer_id = fields.Integer()
    phone = fields.String(metadata={"description": "完整手机号（本次查看已留痕）"})


class ExistingCustomerListArgs(QuerySchema):
    page = fields.Integer(load_default=1, validate=validate.Range(min=1))
    per_page = fields.Integer(load_default=50, validate=validate.Range(min=1, max=200))


class ExistingCustomerPageSchema(Schema):
    items = fields.List(fields.Nested(ExistingCustomerSchema))
    total = fields.Integer()
    page = fields.Integer()
    per_page = fields.Integer()


def _page(items, total, args) -> dict:
    return {"items": items, "total": total, "page": args["page"], "per_page": args["per_page"]}


# --- developers -------------------------------------------------------------------------------------

@blp.route("/developers")
class Developers(MethodView):
    @api_roles(blp, *READERS)
    @blp.arguments(DeveloperListArgs, location="query")
    @blp.response(200, DeveloperPageSchema)
    def get(self, args):
        """开发商列表（按名称搜索，分页；含楼盘数）"""
        items, total = developer_book.list_developers(db.session, q=args.get("q"), page=args["page"],
                                                per_page=args["per_page"])
        return _page(items, total, args)

    @api_roles(blp, *MANAGERS)
    @blp.arguments(DeveloperInputSchema)
    @blp.response(201, DeveloperSchema)
    @blp.refuses(ValidationFailed, projects.DeveloperNameTaken)
    def post(self, body):
        """新建开发商"""
        return developer_book.create_developer(db.session, developer_book.DeveloperInput(**body), now=utcnow())


@blp.route("/developers/<int:developer_id>")
class DeveloperDetail(MethodView):
    @api_roles(blp, *READERS)
    @blp.response(200, DeveloperSchema)
    @blp.refuses(projects.DeveloperNotFound)
    def get(self, developer_id):
        """开发商详情"""
        return developer_book.get_developer(db.session, developer_id)

    @api_roles(blp, *MANAGERS)
    @blp.arguments(DeveloperPatchSchema)
    @blp.response(200, DeveloperSchema)
    @blp.refuses(projects.DeveloperNotFound, ValidationFailed, projects.DeveloperNameTaken)
    def patch(self, body, developer_id):
        """修改开发商（只改提交的字段）"""
        return developer_book.update_developer(db.session, developer_id, body, now=utcnow())


# --- projects ------------------------------------------------------------------------------------------

@blp.route("/projects")
class Projects(MethodView):
    @api_roles(blp, *PROJECT_READERS)
    @blp.arguments(AdminProjectListArgs, location="query")
    @blp.response(200, AdminProjectPageSchema)
    def get(self, args):
        """楼盘列表（按城市、区域、状态、开发商筛选，分页）；案场人员只能看到本开发商的楼盘"""
        filters = {k: args.get(k) for k in ("city", "district", "status", "developer_id", "q")}
        items, total = projects.list_projects(db.session, now=utcnow(), staff=g.staff,
                                              accepting_only=args["accepting_only"], page=args["page"],
                                              per_page=args["per_page"], **filters)
        return _page(items, total, args)

    @api_roles(blp, *MANAGERS)
    @blp.arguments(AdminProjectInputSchema)
    @blp.response(201, AdminProjectSchema)
    @blp.refuses(ValidationFailed)
    def post(self, body):
        """新建楼盘及其报备规则（价格以分计，期限以小时计；未填的规则取默认值：报备→到访 30 天→成交 90 天）"""
        return projects.create_project(db.session, body, now=utcnow())


@blp.route("/projects/<int:project_id>")
class ProjectDetail(MethodView):
    @api_roles(blp, *PROJECT_READERS)
    @blp.response(200, AdminProjectSchema)
    @blp.refuses(projects.ProjectNotFound)
    def get(self, project_id):
        """楼盘详情及报备规则说明"""
        return projects.project_detail(db.session, project_id, now=utcnow(), staff=g.staff)

    @api_roles(blp, *MANAGERS)
    @blp.arguments(AdminProjectPatchSchema)
    @blp.response(200, AdminProjectSchema)
    @blp.refuses(projects.ProjectNotFound, ValidationFailed)
    def patch(self, body, project_id):
        """修改楼盘、报备规则或状态（只改提交的字段；改后的整体须有效）"""
        return projects.update_project(db.session, project_id, body, now=utcnow())


# --- existing customers (案场老客户) -------------------------------------------------------------------------

@blp.route("/projects/<int:project_id>/existing-customers")
class ExistingCustomers(MethodView):
    @api_roles(blp, *CUSTOMER_KEEPERS)
    @blp.arguments(ExistingCustomerListArgs, location="query")
    @blp.response(200, ExistingCustomerPageSchema)
    @blp.refuses(projects.ProjectNotFound)
    def get(self, args, project_id):
        """楼盘的案场老客户（新标记的在前）"""
        items, total = existing_customers.list_existing_customers(db.session, project_id, staff=g.staff, page=args["page"],
                                                        per_page=args["per_page"])
        return _page(items, total, args)

    @api_roles(blp, *CUSTOMER_KEEPERS)
    @blp.arguments(ExistingCustomerInputSchema)
    @blp.response(201, ExistingCustomerSchema)
    @blp.refuses(projects.ProjectNotFound, ValidationFailed, projects.AlreadyExistingCustomer,
                 projects.BuyerUnderRegistration)
    def post(self, body, project_id):
        """标记案场老客户：此后顾问不能再向本楼盘报备该客户"""
        return existing_customers.mark_existing_customer(db.session, project_id, phone=body["phone"], name=body.get("name"),
                                               staff=g.staff, now=utcnow())


@blp.route("/projects/<int:project_id>/existing-customers/<int:customer_id>")
class ExistingCustomerDetail(MethodView):
    @api_roles(blp, *CUSTOMER_KEEPERS)
    @blp.response(204)
    @blp.refuses(projects.ProjectNotFound, projects.ExistingCustomerNotFound)
    def delete(self, project_id, customer_id):
        """取消老客户标记（误标时使用；记录保留在证据链中）"""
        existing_customers.unmark_existing_customer(db.session, project_id, customer_id, staff=g.staff, now=utcnow())


@blp.route("/projects/<int:project_id>/existing-customers/<int:customer_id>/reveal-phone")
class ExistingCustomerReveal(MethodView):
    @api_roles(blp, *CUSTOMER_KEEPERS)
    @blp.arguments(ExistingCustomerRevealInputSchema)
    @blp.response(200, RevealedCustomerPhoneSchema)
    @blp.refuses(ValidationFailed, projects.ProjectNotFound, projects.ExistingCustomerNotFound)
    def post(self, body, project_id, customer_id):
        """查看老客户的完整手机号（须填用途）；每次查看都记录在手机号查看日志"""
        phone = reveals.reveal_existing_customer(db.session, g.staff, project_id, customer_id,
                                                 purpose=body["purpose"], now=utcnow())
        return {"existing_customer_id": customer_id, "phone": phone}
