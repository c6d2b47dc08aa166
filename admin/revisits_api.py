"""Admin JSON API for revisits (回访): the queue, claims, the logged phone reveal, outcomes
and the scheduler run on demand. Operations and admins only: finance and site staff never
see the queue nor a buyer's full number.
"""
from __future__ import annotations

from flask import current_app, g
from flask.views import MethodView
from marshmallow import Schema, fields, validate

from estate_platform.db import db, utcnow
from estate_platform.errors import ValidationFailed
from estate_platform.revisits import rules, scripts
from estate_platform.revisits import services as revisits
from estate_platform.revisits.tasks import sample_key
from web_common.api import InputSchema, PlatformBlueprint, QuerySchema

from .callers import api_roles

blp = PlatformBlueprint("admin_revisits_api", __name__,
                        description="回访：任务队列、领取（30 分钟）、话术、查看完整手机号（留痕）、记录回访结果、立即生成任务")

CALLERS = ("operations", "admin")


def _settings() -> rules.Settings:
    return rules.Settings.from_config(current_app.config)


# --- schemas -----------------------------------------------------------------------------------------

class RevisitListArgs(QuerySchema):
    project_id = fields.Integer(validate=validate.Range(min=1))
    kind = fields.String(validate=validate.OneOf(rules.KINDS))
    due = fields.String(load_default="all", validate=validate.OneOf(revisits.DUE_FILTERS),
                        metadata={"description": "today 今天及以前到期（含逾期）/ overdue 今天以前到期 / all 全部"})
    status = fields.String(validate=validate.OneOf(rules.STATUSES))
    outcome = fields.String(validate=validate.OneOf(rules.OUTCOMES))
    page = fields.Integer(load_default=1, validate=validate.Range(min=1))
    per_page = fields.Integer(load_default=30, validate=validate.Range(min=1, max=100))


class OutcomeInputSchema(InputSchema):
    outcome = fields.String(required=True, validate=validate.OneOf(rules.OUTCOMES), metadata={
        "description": "confirmed 客户确认 / denied_visit 否认顾问带看 / bought_direct 已直接向开发商购买 / "
                       "bought_other_agent 已通过其他中介购买（须填 agency）/ unreachable 未接通（次日起重试，"
                       "最多重试 3 次）/ do_not_contact 客户要求不再回访"})
    agency = fields.String(load_default=None, allow_none=True, validate=validate.Length(max=rules.AGENCY_MAX),
                           metadata={"description": "客户购房所通过的中介或经纪公司（bought_other_agent 必填）"})
    bought_on = fields.Date(load_default=None, allow_none=True, metadata={
        "description": "客户认购日期（已购买时；保护期满后的回访必填，其他默认今天），用于判断是否在保护期内成交"})
    note = fields.String(load_default=None, allow_none=True, validate=validate.Length(max=rules.NOTE_MAX),
                         metadata={"multiline": True, "description": "回访备注"})


class RevisitNamedSchema(Schema):
    id = fields.Integer()
    name = fields.String()


class RevisitStaffSchema(Schema):
    id = fields.Integer()
    display_name = fields.String()


class RevisitCallSchema(Schema):
    id = fields.Integer()
    outcome = fields.String()
    outcome_label = fields.Function(lambda c: rules.OUTCOME_LABELS[c.outcome])
    attempt = fields.Integer(allow_none=True, metadata={"description": "第几次未接通"})
    agency = fields.String(allow_none=True)
    bought_on = fields.Date(allow_none=True)
    note = fields.String(allow_none=True)
    staff = fields.Nested(RevisitStaffSchema)
    created_at = fields.DateTime()


class RevisitSchema(Schema):
    """What operations see of a task: the buyer's phone masked (前三后四)."""
    id = fields.Integer()
    kind = fields.String()
    kind_label = fields.Function(lambda r: rules.KIND_LABELS[r.kind])
    status = fields.String()
    status_label = fields.Function(lambda r: rules.STATUS_LABELS[r.status])
    project = fields.Nested(RevisitNamedSchema)
    consultant = fields.Nested(RevisitNamedSchema)
    buyer_name = fields.Function(lambda r: r.registration.buyer_name)
    buyer_phone = fields.Function(revisits.masked_phone, metadata={
        "description": "前三后四；完整号码须领取任务后调用 reveal-phone（留痕）"})
    registration_id = fields.Integer()
    visit_id = fields.Integer(allow_none=True)
    deal_id = fields.Integer(allow_none=True)
    due_at = fields.DateTime()
    attempts = fields.Integer(metadata={"description": "未接通次数"})
    claimed_by = fields.Function(
        lambda r: RevisitStaffSchema().dump(r.claimed_by) if revisits.claim_active(r, utcnow()) else None,
        allow_none=True, metadata={"description": "领取人（领取已过期时为空）"})
    claimed_until = fields.Function(
        lambda r: r.claimed_until.isoformat() if revisits.claim_active(r, utcnow()) else None,
        allow_none=True, metadata={"type": "string", "format": "date-time"})
    outcome = fields.String(allow_none=True)
    outcome_label = fields.Function(lambda r: rules.OUTCOME_LABELS.get(r.outcome), allow_none=True)
    agency = fields.String(allow_none=True)
    bought_on = fields.Date(allow_none=True)
    dispute_id = fields.Integer(allow_none=True, metadata={"description": "回访结果与平台记录矛盾时立案的争议"})
    closed_at = fields.DateTime(allow_none=True)
    created_at = fields.DateTime()


class RevisitDetailSchema(RevisitSchema):
    script = fields.Function(scripts.script_for, metadata={"description": "回访话术（逐句）"})
    calls = fields.Function(lambda r: RevisitCallSchema(many=True).dump(revisits.calls_of(db.session, r.id)),
                            metadata={"description": "已记录的每次回访"})


class RevisitPageSchema(Schema):
    items = fields.List(fields.Nested(RevisitSchema))
    total = fields.Integer()
    page = fields.Integer()
    per_page = fields.Integer()


class RevealedPhoneSchema(Schema):
    revisit_id = fields.Integer()
    phone = fields.String(metadata={"description": "客户完整手机号（本次查看已记录）"})


class ScheduleResultSchema(Schema):
    created = fields.Dict(keys=fields.String(), values=fields.Integer(),
                          metadata={"description": "按回访类型新建的任务数（已存在的不会重复创建）"})
    total = fields.Integer()


# --- endpoints ----------------------------------------------------------------------------------------

@blp.route("")
class Revisits(MethodView):
    @api_roles(blp, *CALLERS)
    @blp.arguments(RevisitListArgs, location="query")
    @blp.response(200, RevisitPageSchema)
    def get(self, args):
        """回访任务队列（按楼盘、类型、到期、状态、结果筛选；待回访的按到期时间先后）"""
        items, total = revisits.list_revisits(db.session, now=utcnow(), project_id=args.get("project_id"),
                                              kind=args.get("kind"), due=args["due"], status=args.get("status"),
                                              outcome=args.get("outcome"), page=args["page"],
                                              per_page=args["per_page"])
        return {"items": items, "total": total, "page": args["page"], "per_page": args["per_page"]}


@blp.route("/schedule")
class ScheduleNow(MethodView):
    @api_roles(blp, *CALLERS)
    @blp.response(200, ScheduleResultSchema)
    def post(self):
        """立即生成到期的回访任务（与每小时的定时任务相同；重复运行不会重复创建）"""
        config = current_app.config
        created = revisits.schedule(db.session, now=utcnow(), settings=_settings(), sample_key=sample_key(config))
        return {"created": created, "total": sum(created.values())}


@blp.route("/<int:revisit_id>")
class RevisitDetail(MethodView):
    @api_roles(blp, *CALLERS)
    @blp.response(200, RevisitDetailSchema)
    @blp.refuses(revisits.RevisitNotFound)
    def get(self, revisit_id):
        """回访任务详情：话术、脱敏手机号、历次回访记录"""
        return revisits.get_revisit(db.session, revisit_id)


@blp.route("/<int:revisit_id>/claim")
class Claim(MethodView):
    @api_roles(blp, *CALLERS)
    @blp.response(200, RevisitDetailSchema)
    @blp.refuses(revisits.RevisitNotFound, revisits.RevisitClaimed, revisits.RevisitClosed, revisits.RevisitNotDue)
    def post(self, revisit_id):
        """领取任务（30 分钟内有效，本人可续期）；他人领取中 → 409 revisit_claimed"""
        return revisits.claim(db.session, g.staff, revisit_id, now=utcnow(), settings=_settings())


@blp.route("/<int:revisit_id>/release")
class Release(MethodView):
    @api_roles(blp, *CALLERS)
    @blp.response(200, RevisitDetailSchema)
    @blp.refuses(revisits.RevisitNotFound, revisits.RevisitNotClaimed, revisits.RevisitClosed)
    def post(self, revisit_id):
        """放弃本人领取的任务，退回队列"""
        return revisits.release(db.session, g.staff, revisit_id, now=utcnow())


@blp.route("/<int:revisit_id>/reveal-phone")
class RevealPhone(MethodView):
    @api_roles(blp, *CALLERS)
    @blp.response(200, RevealedPhoneSchema)
    @blp.refuses(revisits.RevisitNotFound, revisits.RevisitNotClaimed, revisits.RevisitClosed,
                 revisits.RevealForbidden)
    def post(self, revisit_id):
        """查看客户完整手机号以便拨打：须本人领取中；每次查看都记录在手机号查看日志"""
        phone = revisits.reveal_phone(db.session, g.staff, revisit_id, now=utcnow())
        return {"revisit_id": revisit_id, "phone": phone}


@blp.route("/<int:revisit_id>/outcome")
class Outcome(MethodView):
    @api_roles(blp, *CALLERS)
    @blp.arguments(OutcomeInputSchema)
    @blp.response(200, RevisitDetailSchema)
    @blp.refuses(revisits.RevisitNotFound, revisits.RevisitNotClaimed, revisits.RevisitClosed,
                 ValidationFailed)
    def post(self, body, revisit_id):
        """记录回访结果（须本人领取中，记录后释放）；与平台记录矛盾的结果自动立案争议；
        未接通次日起重试，最多重试 3 次后结束；客户要求不再回访后不再为其生成任务"""
        return revisits.record_outcome(db.session, g.staff, revisit_id, revisits.Answer(**body), now=utcnow(),
                                       settings=_settings())
