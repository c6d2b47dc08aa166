"""Admin JSON API for reconciling a developer's sales list (销售台账对账, DESIGN §4, §5a):
upload (multipart), the mapping preview, the result with progress, the rows, the XLSX
export and the original file. Operations' work (and admins')."""
from __future__ import annotations

import json

from flask import g, request, send_file
from flask.views import MethodView
from marshmallow import Schema, ValidationError, fields, validate

from estate_platform.db import after_commit, db, utcnow
from estate_platform.errors import ValidationFailed
from estate_platform.projects.services import ProjectNotFound
from estate_platform.reconciliation import SalesListUnreadable
from estate_platform.reconciliation import services as reconciliation
from estate_platform.reconciliation.models import CATEGORIES, CATEGORY_LABELS, MATCH_LABELS, STATUS_LABELS
from estate_platform.reconciliation.tasks import storage_dir
from web_common.api import InputSchema, PlatformBlueprint, QuerySchema

from .callers import api_roles

blp = PlatformBlueprint("admin_reconciliations_api", __name__,
                        description="销售台账对账：上传（列对应）、进度与结果、逐行明细、导出 XLSX、下载原始文件")

WORKERS = ("admin", "operations")
XLSX_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
BINARY = {"type": "string", "format": "binary"}
CENTS = {"format": "int64"}
MAPPING_TEXT = ("列对应关系（JSON）：{\"columns\": {\"phone\": \"联系电话\", \"buyer_name\": \"客户姓名\", …}, "
                "\"price_unit\": \"yuan\"|\"wan\"|null, \"direct_channels\": [\"自然来电\"]}；字段："
                + "、".join(f"{k}" for k in ("buyer_name", "phone", "unit", "price", "sale_date", "channel", "project"))
                + "；不填则用该开发商上次确认的对应关系，否则按表头自动识别")
# The upload is multipart and read from the form and ``request.files``, so its body is documented here.
UPLOAD_BODY = {"required": True, "content": {"multipart/form-data": {"schema": {
    "type": "object", "required": ["file", "project_id", "period_from", "period_to"],
    "properties": {
        "file": {**BINARY, "description": "销售台账：.xlsx 或 .csv（UTF-8、带 BOM 或 GB18030），按内容识别"},
        "project_id": {"type": "integer", "minimum": 1, "maximum": 2 ** 31 - 1},
        "period_from": {"type": "string", "format": "date", "description": "对账期间开始日"},
        "period_to": {"type": "string", "format": "date", "description": "对账期间结束日"},
        "mapping": {"type": "string", "description": MAPPING_TEXT}}}}}}
PREVIEW_BODY = {"required": True, "content": {"multipart/form-data": {"schema": {
    "type": "object", "required": ["file", "project_id"],
    "properties": {"file": UPLOAD_BODY["content"]["multipart/form-data"]["schema"]["properties"]["file"],
                   "project_id": {"type": "integer", "minimum": 1, "maximum": 2 ** 31 - 1}}}}}}
FILE_REFUSALS = (reconciliation.SalesListTypeNotAllowed, SalesListUnreadable, ValidationFailed, 400, 413)


# --- schemas -----------------------------------------------------------------------------------------

class PreviewFormSchema(InputSchema):
    project_id = fields.Integer(required=True, validate=validate.Range(min=1))


class UploadFormSchema(PreviewFormSchema):
    period_from = fields.Date(required=True)
    period_to = fields.Date(required=True)
    mapping = fields.String(load_default=None, validate=validate.Length(max=5000))


class UploadListArgs(QuerySchema):
    project_id = fields.Integer(validate=validate.Range(min=1))
    page = fields.Integer(load_default=1, validate=validate.Range(min=1))
    per_page = fields.Integer(load_default=20, validate=validate.Range(min=1, max=100))


class RowArgs(QuerySchema):
    category = fields.String(validate=validate.OneOf(CATEGORIES))
    page = fields.Integer(load_default=1, validate=validate.Range(min=1))
    per_page = fields.Integer(load_default=50, validate=validate.Range(min=1, max=500))


class ExportArgs(QuerySchema):
    category = fields.String(validate=validate.OneOf(CATEGORIES))


class MappingSchema(Schema):
    columns = fields.Dict(keys=fields.String(), values=fields.String())
    price_unit = fields.String(allow_none=True)
    direct_channels = fields.List(fields.String())
    sheet = fields.String(allow_none=True)


class UploadSchema(Schema):
    id = fields.Integer()
    project_id = fields.Integer()
    project_name = fields.Function(lambda u: u.project.name)
    developer_id = fields.Integer()
    developer_name = fields.Function(lambda u: u.developer.name)
    period_from = fields.Date()
    period_to = fields.Date()
    filename = fields.String()
    file_format = fields.String()
    size_bytes = fields.Integer()
    content_sha256 = fields.String()
    mapping = fields.Nested(MappingSchema)
    status = fields.String(metadata={"description": "queued 排队中 / running 处理中 / done 已完成 / failed 失败"})
    status_label = fields.Function(lambda u: STATUS_LABELS[u.status])
    rows_done = fields.Integer()
    rows_total = fields.Integer(allow_none=True)
    percent = fields.Function(lambda u: reconciliation.status_of(u)["percent"])
    counts = fields.Dict(keys=fields.String(), values=fields.Integer(), allow_none=True,
                         metadata={"description": "各类行数：" + "、".join(f"{k} {v}" for k, v in CATEGORY_LABELS.items())})
    disputes_opened = fields.Integer(metadata={"description": "本次对账新立案的争议数（重复的跑单/撬单不再立案）"})
    error = fields.String(allow_none=True)
    uploaded_by_id = fields.Integer(allow_none=True)
    created_at = fields.DateTime()
    started_at = fields.DateTime(allow_none=True)
    finished_at = fields.DateTime(allow_none=True)


class UploadResultSchema(UploadSchema):
    duplicate = fields.Boolean(metadata={"description": "同一楼盘已上传过内容相同的文件：返回原记录（200），不会重复处理或立案"})


class UploadPageSchema(Schema):
    items = fields.List(fields.Nested(UploadSchema))
    total = fields.Integer()
    page = fields.Integer()
    per_page = fields.Integer()


class RowSchema(Schema):
    line = fields.Integer(metadata={"description": "文件中的行号（CSV 表头为第 1 行；XLSX 为工作表行号）"})
    category = fields.String()
    category_label = fields.Function(lambda r: CATEGORY_LABELS[r.category])
    match_kind = fields.String()
    match_label = fields.Function(lambda r: MATCH_LABELS[r.match_kind])
    phone_masked = fields.String(allow_none=True, metadata={"description": "脱敏号码（前三后四或台账原样的打码号码）"})
    buyer_name = fields.String(allow_none=True)
    unit = fields.String(allow_none=True)
    price_cents = fields.Integer(allow_none=True, metadata=CENTS)
    sale_date = fields.Date(allow_none=True)
    channel = fields.String(allow_none=True, metadata={"description": "direct 无经纪公司 / agency 经纪公司"})
    agency = fields.String(allow_none=True)
    stake_cents = fields.Integer(allow_none=True, metadata={**CENTS, "description": "跑单/撬单：签约日生效的佣金规则按台账成交价计得的佣金"})
    reason = fields.String()
    raw = fields.List(fields.String(), attribute="raw_cells", allow_none=True,
                      metadata={"description": "无法读取的行的原始内容（号码已脱敏）"})
    buyer_id = fields.Integer(allow_none=True)
    registration_id = fields.Integer(allow_none=True)
    deal_id = fields.Integer(allow_none=True)
    dispute_id = fields.Integer(allow_none=True)


class RowPageSchema(Schema):
    items = fields.List(fields.Nested(RowSchema))
    total = fields.Integer()
    page = fields.Integer()
    per_page = fields.Integer()


class SampleSchema(Schema):
    line = fields.Integer()
    cells = fields.List(fields.String())


class PreviewSchema(Schema):
    format = fields.String()
    sheet = fields.String(allow_none=True)
    sheets = fields.List(fields.String())
    header_line = fields.Integer(allow_none=True)
    headers = fields.List(fields.String())
    samples = fields.List(fields.Nested(SampleSchema))
    suggested = fields.Nested(MappingSchema)
    missing = fields.List(fields.String(), metadata={"description": "表头中找不到的必填字段"})
    fields_ = fields.Dict(data_key="fields", attribute="fields", keys=fields.String(), values=fields.String(),
                          metadata={"description": "字段 → 中文名"})
    remembered = fields.Nested(MappingSchema, allow_none=True, metadata={"description": "该开发商上次确认的对应关系（与本文件表头相符时）"})
    proposed = fields.Nested(MappingSchema, allow_none=True, metadata={"description": "不指定 mapping 上传时将使用的对应关系"})


# --- the multipart form ------------------------------------------------------------------------------

def _form(schema: Schema) -> dict:
    try:
        return schema.load(request.form.to_dict())
    except ValidationError as problem:
        raise ValidationFailed({k: v if isinstance(v, list) else [str(v)] for k, v in problem.messages.items()}) \
            from None


def _file() -> tuple[str, bytes]:
    file = request.files.get("file")
    if file is None:
        raise ValidationFailed({"file": ["请选择要上传的销售台账文件"]})
    return file.filename or "", file.read()


def _mapping(text: str | None) -> dict | None:
    if text is None or not text.strip():
        return None
    try:
        value = json.loads(text)
    except ValueError:
        raise ValidationFailed({"mapping": ["列对应关系不是有效的 JSON"]}) from None
    if not isinstance(value, dict):
        raise ValidationFailed({"mapping": ["列对应关系须为 JSON 对象"]})
    return value


# --- endpoints -----------------------------------------------------------------------------------

@blp.route("/reconciliations")
class Reconciliations(MethodView):
    @api_roles(blp, *WORKERS)
    @blp.doc(requestBody=UPLOAD_BODY)
    @blp.response(201, UploadResultSchema)
    @blp.alt_response(200, schema=UploadResultSchema, description="同一楼盘已上传过这个文件（duplicate: true），什么也不会重复发生",
                      success=True)
    @blp.refuses(ProjectNotFound, reconciliation.MappingRequired, *FILE_REFUSALS)
    def post(self):
        """上传销售台账（multipart/form-data）：文件、楼盘、对账期间，可选列对应关系。保存原始文件并在后台核对；
        进度与结果见 GET /reconciliations/{id}。无法自动识别列时返回 422 mapping_required，details 含表头、样例行与建议的对应关系。"""
        form = _form(UploadFormSchema())
        filename, content = _file()
        upload, created = reconciliation.create_upload(
            db.session, g.staff, project_id=form["project_id"], period_from=form["period_from"],
            period_to=form["period_to"], filename=filename, content=content, mapping=_mapping(form.get("mapping")),
            storage_dir=storage_dir(), now=utcnow())
        if created:
            from estate_platform.reconciliation.tasks import run_reconciliation_task
            upload_id = upload.id
            after_commit(db.session, lambda: run_reconciliation_task.delay(upload_id))
        upload.duplicate = not created
        return upload, 201 if created else 200

    @api_roles(blp, *WORKERS)
    @blp.arguments(UploadListArgs, location="query")
    @blp.response(200, UploadPageSchema)
    def get(self, args):
        """对账记录（新的在前）"""
        items, total = reconciliation.list_uploads(db.session, project_id=args.get("project_id"), page=args["page"],
                                                   per_page=args["per_page"])
        return {"items": items, "total": total, "page": args["page"], "per_page": args["per_page"]}


@blp.route("/reconciliations/preview")
class ReconciliationPreview(MethodView):
    @api_roles(blp, *WORKERS)
    @blp.doc(requestBody=PREVIEW_BODY)
    @blp.response(200, PreviewSchema)
    @blp.refuses(ProjectNotFound, *FILE_REFUSALS)
    def post(self):
        """预览（不保存）：识别表头、样例行和建议的列对应关系，以及该开发商上次确认的对应关系"""
        form = _form(PreviewFormSchema())
        filename, content = _file()
        found = reconciliation.preview(db.session, form["project_id"], content, filename)
        return {**reconciliation.preview_details(found.sheet), "remembered": found.remembered,
                "proposed": found.proposed}


@blp.route("/reconciliations/<int:upload_id>")
class ReconciliationDetail(MethodView):
    @api_roles(blp, *WORKERS)
    @blp.response(200, UploadSchema)
    @blp.refuses(reconciliation.UploadNotFound)
    def get(self, upload_id):
        """对账进度与结果：状态、已处理行数、各类行数、新立案的争议数"""
        return reconciliation.get_upload(db.session, upload_id)


@blp.route("/reconciliations/<int:upload_id>/rows")
class ReconciliationRows(MethodView):
    @api_roles(blp, *WORKERS)
    @blp.arguments(RowArgs, location="query")
    @blp.response(200, RowPageSchema)
    @blp.refuses(reconciliation.UploadNotFound)
    def get(self, args, upload_id):
        """逐行结果（按文件行号），可按类别筛选"""
        items, total = reconciliation.list_rows(db.session, upload_id, category=args.get("category"),
                                                page=args["page"], per_page=args["per_page"])
        return {"items": items, "total": total, "page": args["page"], "per_page": args["per_page"]}


@blp.route("/reconciliations/<int:upload_id>/export")
class ReconciliationExport(MethodView):
    @api_roles(blp, *WORKERS)
    @blp.arguments(ExportArgs, location="query")
    @blp.response(200, BINARY, content_type=XLSX_TYPE, description="对账结果 XLSX（中文表头，号码已脱敏）")
    @blp.refuses(reconciliation.UploadNotFound)
    def get(self, args, upload_id):
        """导出对账结果（XLSX，中文表头），可按类别筛选"""
        upload, handle = reconciliation.export_rows(db.session, upload_id, category=args.get("category"))
        return _download(handle, XLSX_TYPE, f"对账结果-{upload.id}.xlsx")


@blp.route("/reconciliations/<int:upload_id>/file")
class ReconciliationFile(MethodView):
    @api_roles(blp, *WORKERS)
    @blp.response(200, BINARY, content_type=XLSX_TYPE, description="上传的原始文件")
    @blp.alt_response(200, schema=BINARY, content_type="text/csv", description="上传的原始文件", success=True)
    @blp.refuses(reconciliation.UploadNotFound)
    def get(self, upload_id):
        """下载上传的原始文件"""
        upload, path = reconciliation.original_file(db.session, upload_id, storage_dir())
        return _download(open(path, "rb"), XLSX_TYPE if upload.file_format == "xlsx" else "text/csv", upload.filename)


def _download(handle, mimetype: str, name: str):
    response = send_file(handle, mimetype=mimetype, as_attachment=True, download_name=name, conditional=False,
                         max_age=0)
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Cache-Control"] = "private, no-store"
    return response
