"""Excel exports (导出 XLSX, issue 13 §3, DESIGN §5a).

``GET /admin/api/v1/exports/{kind}``: one documented operation per kind registered in
``estate_platform.exports`` (its roles, its filters as query parameters), streaming the
XLSX that ``estate_platform.exports.writer`` wrote to a temporary file in constant memory.
``GET /admin/exports/{kind}``: the same file for a signed-in page session, linked from each
admin list page with the page's current filters. Phones are masked in every export.
"""
from __future__ import annotations

import logging

from flask import Blueprint, g, request, send_file
from flask.views import MethodView
from marshmallow import fields, validate

from estate_platform import exports
from estate_platform.db import db, utcnow
from estate_platform.errors import ValidationFailed
from estate_platform.exports import writer
from web_common.api import PlatformBlueprint, QuerySchema

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


def query_schema(kind: exports.ExportKind) -> type[QuerySchema]:
    camel = "".join(part.capitalize() for part in kind.name.split("-"))
    return QuerySchema.from_dict({f.name: _field(f) for f in kind.filters}, name=f"Export{camel}Args")


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
        @blp.refuses(ValidationFailed)
        def get(self, args):
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
