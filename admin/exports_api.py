"""Excel exports (导出 XLSX, issue 13 §3, DESIGN §5a).

``GET /admin/api/v1/exports/{kind}``: one documented operation per kind registered in
``estate_platform.exports`` (its roles, its filters as query parameters), streaming the
XLSX that ``estate_platform.exports.writer`` wrote to a temporary file in constant memory.
``GET /admin/exports/{kind}``: the same file for a signed-in page session, linked from each
admin list page with the page's current filters. Phones are masked in every export, except
the logged full-phone export (``full_phones=true`` with a ``purpose``, kinds holding buyers'
phones, roles allowed to call buyers: ``estate_platform.exports.phones``).

``/admin/api/v1/export-jobs``: the same exports written in the background (后台导出) with
progress, a download when done, expiry, retry (``estate_platform.exports.jobs``).
"""
from __future__ import annotations

import logging

from flask import Blueprint, g, request, send_file
from flask.views import MethodView
from marshmallow import Schema, fields, validate

from estate_platform import exports
from estate_platform.db import db, utcnow
from estate_platform.errors import ValidationFailed
from estate_platform.exports import jobs, phones, writer
from estate_platform.exports.models import STATUS_LABELS
from estate_platform.exports.tasks import send_after_commit, settings as job_settings
from web_common.api import InputSchema, PlatformBlueprint, QuerySchema

from .callers import api_roles
from .pages import staff_page
from .roles import check_role

log = logging.getLogger(__name__)

blp = PlatformBlueprint("admin_exports_api", __name__,
                        description="导出 XLSX：中文表头、首行冻结、金额单位元（两位小数）、日期为日期格式、手机号脱敏；"
                                    "筛选条件同对应的列表页")
bp = Blueprint("admin_exports", __name__, url_prefix="/admin/exports")

BINARY = {"type": "string", "format": "binary"}
PAGE_ROLES = ("admin", "finance", "operations")


def _field(flt: exports.Filter) -> fields.Field:
    if flt.type == "int":
        return fields.Integer(validate=validate.Range(min=1, max=exports.INT_MAX), metadata={"description": flt.label})
    if flt.type == "date":
        return fields.Date(validate=validate.Range(min=exports.FIRST_DAY, max=exports.LAST_DAY),
                           metadata={"description": f"{flt.label}（上海时间的日期）"})
    if flt.type == "choice":
        return fields.String(validate=validate.OneOf(flt.choices), metadata={"description": flt.label})
    return fields.String(validate=validate.Length(max=50), metadata={"description": flt.label})


FULL_PHONES_TEXT = "导出完整手机号（仅限可联系客户的角色，须填写用途，每次导出都会记录）"
PURPOSE_TEXT = "导出完整号码的用途（full_phones=true 时必填）"


def _purpose_field() -> fields.String:
    return fields.String(validate=validate.Length(min=1, max=phones.PURPOSE_MAX_LENGTH),
                         metadata={"description": PURPOSE_TEXT})


def query_schema(kind: exports.ExportKind) -> type[QuerySchema]:
    camel = "".join(part.capitalize() for part in kind.name.split("-"))
    declared = {f.name: _field(f) for f in kind.filters}
    if kind.full_phone_rows is not None:
        declared["full_phones"] = fields.Boolean(load_default=False, metadata={"description": FULL_PHONES_TEXT})
        declared["purpose"] = _purpose_field()
    return QuerySchema.from_dict(declared, name=f"Export{camel}Args")


def _download(result: writer.ExportFile):
    log.info("export %s by staff %s: %s rows", result.kind.name, g.staff.id, result.rows)
    response = send_file(result.handle, mimetype=writer.XLSX_TYPE, as_attachment=True,
                         download_name=result.ascii_filename, conditional=False, max_age=0)
    response.headers["Content-Disposition"] = result.content_disposition
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Cache-Control"] = "private, no-store"
    response.headers["X-Export-Rows"] = str(result.rows)
    return response


def _operation(kind: exports.ExportKind) -> None:
    """Register ``GET /exports/<kind>`` with the kind's roles and query schema."""
    args_schema = query_schema(kind)

    class ExportView(MethodView):
        @api_roles(blp, *kind.roles)
        @blp.arguments(args_schema, location="query")
        @blp.response(200, BINARY, content_type=writer.XLSX_TYPE,
                      description=f"{kind.title} XLSX（{kind.description or '中文表头'}）")
        @blp.refuses(ValidationFailed, *((phones.FullPhoneExportForbidden,) if kind.full_phone_rows else ()))
        def get(self, args):
            full_phones, purpose = args.pop("full_phones", False), args.pop("purpose", None)
            if full_phones:
                return _download(phones.full_phone_export(db.session, g.staff, kind.name, args, purpose=purpose,
                                                          now=utcnow()))
            return _download(writer.export(db.session, kind.name, args, now=utcnow()))

    ExportView.get.__doc__ = f"导出{kind.title}（XLSX）"
    ExportView.__name__ = f"Export{args_schema.__name__}"
    blp.route(f"/exports/{kind.name}", endpoint=f"export_{kind.name.replace('-', '_')}")(ExportView)


for _kind in exports.load_kinds().values():  # at import: the blueprint is shared by every app instance
    _operation(_kind)


@bp.route("/<kind>")
@staff_page(*PAGE_ROLES)
def download(kind):
    """The page link: the list page's filters as query parameters; the kind's own roles."""
    export_kind = exports.get_kind(kind)
    check_role(g.staff, export_kind.roles)
    return _download(writer.export(db.session, kind, request.args.to_dict(), now=utcnow()))


# --- export jobs (后台导出) -------------------------------------------------------------------------------

JOB_REFUSALS = (jobs.ExportJobNotFound,)


class ExportJobStartSchema(InputSchema):
    kind = fields.String(required=True, validate=validate.OneOf(sorted(exports.load_kinds())),
                         metadata={"description": "导出类型（同 GET /exports/{kind}）"})
    filters = fields.Dict(keys=fields.String(validate=validate.Length(min=1, max=40)), values=fields.Raw(),
                          load_default=dict, validate=validate.Length(max=20),
                          metadata={"description": "筛选条件：同该类型 GET /exports/{kind} 的查询参数（名称 → 值）"})
    full_phones = fields.Boolean(load_default=False, metadata={"description": FULL_PHONES_TEXT})
    purpose = _purpose_field()


class ExportJobListArgs(QuerySchema):
    page = fields.Integer(load_default=1, validate=validate.Range(min=1, max=10_000))
    per_page = fields.Integer(load_default=20, validate=validate.Range(min=1, max=100))


def download_url(job) -> str | None:
    from . import API_PREFIX
    return f"{API_PREFIX}/export-jobs/{job.id}/file" if job.status == "done" else None


class ExportJobSchema(Schema):
    id = fields.Integer()
    kind = fields.String()
    kind_title = fields.Function(lambda j: exports.get_kind(j.kind).title)
    filters = fields.Dict(keys=fields.String())
    full_phones = fields.Boolean(metadata={"description": "文件含完整手机号（已记录用途）"})
    purpose = fields.String(allow_none=True)
    status = fields.String(metadata={"description": "queued 排队中 / running 导出中 / done 已完成 / failed 失败 / "
                                                    "expired 文件已过期删除"})
    status_label = fields.Function(lambda j: STATUS_LABELS[j.status])
    rows_done = fields.Integer()
    rows_total = fields.Integer(allow_none=True, metadata={"description": "总行数（先计数；不能计数的类型为 null）"})
    percent = fields.Integer(allow_none=True)
    error = fields.String(allow_none=True, metadata={"description": "失败原因（中文）"})
    filename = fields.String(allow_none=True)
    download_url = fields.Function(download_url, allow_none=True)
    staff_user_id = fields.Integer()
    attempts = fields.Integer()
    created_at = fields.DateTime()
    started_at = fields.DateTime(allow_none=True)
    finished_at = fields.DateTime(allow_none=True)
    expires_at = fields.DateTime(allow_none=True, metadata={"description": "文件过期时间，过期后下载返回 410"})


class ExportJobPageSchema(Schema):
    items = fields.List(fields.Nested(ExportJobSchema))
    total = fields.Integer()
    page = fields.Integer()
    per_page = fields.Integer()


@blp.route("/export-jobs")
class ExportJobs(MethodView):
    @api_roles(blp, *PAGE_ROLES)
    @blp.arguments(ExportJobStartSchema)
    @blp.response(202, ExportJobSchema)
    @blp.refuses(ValidationFailed, jobs.ExportRoleForbidden, phones.FullPhoneExportForbidden)
    def post(self, body):
        """后台导出：排队生成 XLSX，返回任务（202）；进度见 GET /export-jobs/{id}，完成后下载 download_url。
        该类型的角色限制同直接导出；full_phones 需可联系客户的角色并填写用途，每次导出记录一条。"""
        job = jobs.start_job(db.session, g.staff, body["kind"], body["filters"], full_phones=body["full_phones"],
                             purpose=body.get("purpose"), now=utcnow())
        send_after_commit(job.id)
        return job

    @api_roles(blp, *PAGE_ROLES)
    @blp.arguments(ExportJobListArgs, location="query")
    @blp.response(200, ExportJobPageSchema)
    def get(self, args):
        """我的导出任务（新的在前；管理员可见全部）"""
        items, total = jobs.list_jobs(db.session, g.staff, page=args["page"], per_page=args["per_page"])
        return {"items": items, "total": total, "page": args["page"], "per_page": args["per_page"]}


@blp.route("/export-jobs/<int:export_job_id>")
class ExportJobDetail(MethodView):
    @api_roles(blp, *PAGE_ROLES)
    @blp.response(200, ExportJobSchema)
    @blp.refuses(*JOB_REFUSALS)
    def get(self, export_job_id):
        """导出任务的状态与进度（仅发起人和管理员可见）"""
        return jobs.visible_job(db.session, g.staff, export_job_id)


@blp.route("/export-jobs/<int:export_job_id>/retry")
class ExportJobRetry(MethodView):
    @api_roles(blp, *PAGE_ROLES)
    @blp.response(202, ExportJobSchema)
    @blp.refuses(*JOB_REFUSALS, jobs.ExportJobNotRetryable)
    def post(self, export_job_id):
        """重试失败的导出任务（重新生成整个文件）"""
        job = jobs.retry_job(db.session, g.staff, export_job_id)
        send_after_commit(job.id)
        return job


@blp.route("/export-jobs/<int:export_job_id>/file")
class ExportJobFile(MethodView):
    @api_roles(blp, *PAGE_ROLES)
    @blp.response(200, BINARY, content_type=writer.XLSX_TYPE, description="导出的 XLSX")
    @blp.refuses(*JOB_REFUSALS, jobs.ExportJobNotReady, jobs.ExportFileExpired)
    def get(self, export_job_id):
        """下载导出任务生成的文件（完成后、过期前）"""
        return job_file_response(*jobs.file_of(db.session, g.staff, export_job_id, job_settings(), now=utcnow()))


def job_file_response(job, path):
    kind = exports.get_kind(job.kind)
    ascii_name = writer.file_names(kind, job.finished_at, full_phones=job.full_phones)[1]
    response = send_file(open(path, "rb"), mimetype=writer.XLSX_TYPE, as_attachment=True, download_name=ascii_name,
                         conditional=False, max_age=0)
    response.headers["Content-Disposition"] = writer.ExportFile(kind, None, job.rows_done, job.filename,
                                                                ascii_name).content_disposition
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Cache-Control"] = "private, no-store"
    response.headers["X-Export-Rows"] = str(job.rows_done)
    return response
