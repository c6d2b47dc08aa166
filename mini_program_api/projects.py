"""楼盘：列表与详情（仅在售楼盘接受报备）.

What a consultant needs before registering a buyer: where the project is, its
price range, whether it accepts registrations right now (and why not), and its
registration rules in plain Chinese.
"""
from __future__ import annotations

from flask.views import MethodView
from marshmallow import Schema, fields, validate

from estate_platform.consultants.services import NotYetApplied
from estate_platform.db import db, utcnow
from estate_platform.disputes import terms as penalty_terms
from estate_platform.projects import services as projects
from estate_platform.projects.models import PROJECT_STATUSES
from web_common.api import PlatformBlueprint, QuerySchema

from . import callers

blp = PlatformBlueprint("projects", __name__, description="楼盘：列表与详情（仅在售楼盘接受报备）")


class ConsultantProjectListArgs(QuerySchema):
    city = fields.String(validate=validate.Length(min=1, max=50))
    district = fields.String(validate=validate.Length(min=1, max=50))
    status = fields.String(validate=validate.OneOf(PROJECT_STATUSES),
                           metadata={"description": "on_sale 在售 / paused 暂停报备 / sold_out 已售罄 / ended 合作结束"})
    accepting_only = fields.Boolean(load_default=False, metadata={"description": "只看当前接受报备的楼盘"})
    q = fields.String(validate=validate.Length(min=1, max=50), metadata={"description": "楼盘名称关键字"})
    page = fields.Integer(load_default=1, validate=validate.Range(min=1))
    per_page = fields.Integer(load_default=20, validate=validate.Range(min=1, max=100))


class ProjectRulesSchema(Schema):
    """The project's registration rules (报备规则), each with its meaning."""
    protection_mode = fields.String(metadata={"description": "report_visit_deal / report_deal / visit_deal（到访为王）"})
    protection_mode_label = fields.Function(lambda p: projects.MODE_LABELS[p.protection_mode])
    summary = fields.Function(projects.protection_summary, metadata={"description": "如 报备→到访（30天内）→成交（90天内）"})
    explanation = fields.Function(projects.rule_lines, metadata={"description": "逐条中文说明"})
    visit_window_hours = fields.Integer()
    deal_window_hours = fields.Integer()
    phone_disclosure = fields.String(metadata={"description": "案场看到的客户手机号：full / first3_last4 / first4_last3"})
    phone_disclosure_label = fields.Function(lambda p: projects.DISCLOSURE_LABELS[p.phone_disclosure])
    daily_buyer_project_limit = fields.Integer(metadata={"description": "同一客户每天最多被报备的楼盘数"})
    reregister_cooldown_hours = fields.Integer(metadata={"description": "报备过期后同一顾问再次报备该客户的冷却期"})
    daily_consultant_registration_cap_low_credit = fields.Integer(
        metadata={"description": "信用分低于 60 的顾问每天在本楼盘最多报备的客户数"})
    penalty_terms = fields.Function(lambda p: _penalty_terms(p), metadata={
        "description": "现在报备适用的违约金条款（平台协议与楼盘加重条款取较严者）：penalty_fixed_cents 每宗固定金额，"
                       "penalty_multiple_bps 所涉佣金倍数（基点），违约金取两者较高者；text 为中文说明"})


def _penalty_terms(project) -> dict:
    applied = penalty_terms.terms_at(db.session, project.id, utcnow())
    return {"penalty_fixed_cents": applied.terms.fixed_cents, "penalty_multiple_bps": applied.terms.multiple_bps,
            "stricter_than_agreement": applied.project_version is not None
            and applied.terms != penalty_terms.agreement_terms(applied.agreement),
            "text": applied.terms.text()}


class ConsultantProjectSchema(Schema):
    id = fields.Integer()
    name = fields.String()
    developer_name = fields.Function(lambda p: p.developer.name)
    city = fields.String()
    district = fields.String(allow_none=True)
    price_min_cents = fields.Integer(metadata={"description": "最低总价（分）；0 表示待定"})
    price_max_cents = fields.Integer(metadata={"description": "最高总价（分）"})
    status = fields.String()
    status_label = fields.Function(lambda p: projects.STATUS_LABELS[p.status])
    accepting_registrations = fields.Boolean(metadata={"description": "现在能否报备"})
    not_accepting_reason = fields.String(allow_none=True, metadata={
        "description": "paused / sold_out / ended / cooperation_not_started / cooperation_ended"})
    not_accepting_message = fields.String(allow_none=True)
    rules_summary = fields.Function(lambda p: projects.protection_summary(p.project))


class ConsultantProjectDetailSchema(ConsultantProjectSchema):
    address = fields.String(allow_none=True)
    description = fields.String(allow_none=True)
    cooperation_start = fields.Date(allow_none=True)
    cooperation_end = fields.Date(allow_none=True)
    rules = fields.Nested(ProjectRulesSchema, attribute="project")


class ConsultantProjectPageSchema(Schema):
    items = fields.List(fields.Nested(ConsultantProjectSchema))
    total = fields.Integer()
    page = fields.Integer()
    per_page = fields.Integer()


@blp.route("")
class Projects(MethodView):
    @blp.authenticated(callers.consultant, NotYetApplied)
    @blp.arguments(ConsultantProjectListArgs, location="query")
    @blp.response(200, ConsultantProjectPageSchema)
    def get(self, args):
        """楼盘列表（按城市、区域、状态筛选，可只看接受报备的楼盘；分页）"""
        items, total = projects.list_projects(db.session, now=utcnow(), city=args.get("city"),
                                              district=args.get("district"), status=args.get("status"),
                                              accepting_only=args["accepting_only"], q=args.get("q"),
                                              page=args["page"], per_page=args["per_page"])
        return {"items": items, "total": total, "page": args["page"], "per_page": args["per_page"]}


@blp.route("/<int:project_id>")
class ProjectDetail(MethodView):
    @blp.authenticated(callers.consultant, NotYetApplied, projects.ProjectNotFound)
    @blp.response(200, ConsultantProjectDetailSchema)
    def get(self, project_id):
        """楼盘详情：报备规则说明，以及现在能否报备（不能时给出原因）"""
        return projects.project_detail(db.session, project_id, now=utcnow())
