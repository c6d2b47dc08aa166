"""带看：预约、核销码、购房者确认、来访确认单."""
from __future__ import annotations

import os
from datetime import date

from flask import Response, current_app, g, request, send_file, url_for
from flask.views import MethodView
from marshmallow import Schema, fields, validate

from estate_platform.consultants.guard import ConsultantInactive, ContractUnsigned
from estate_platform.consultants.services import NotYetApplied
from estate_platform.db import db, utcnow
from estate_platform.errors import ValidationFailed
from estate_platform.registrations.services import BuyerAlreadyBound, RegistrationClosed, RegistrationNotFound
from estate_platform.visits import attachments, queries
from estate_platform.visits import services as visits
from estate_platform.visits.models import VISIT_STATUSES
from web_common.api import InputSchema, PlatformBlueprint, QuerySchema

from . import callers

blp = PlatformBlueprint("visits", __name__, description="带看：预约、核销码、购房者确认、来访确认单")

BINARY = {"type": "string", "format": "binary"}
ATTACHMENT_CONTENT = "附件内容：按上传时识别的类型返回 JPG、PNG 或 PDF（PDF 以附件形式下载）"
# The upload is multipart and read from ``request.files`` (not a schema), so its body is documented here.
UPLOAD_BODY = {"required": True, "content": {"multipart/form-data": {"schema": {
    "type": "object", "required": ["file"],
    "properties": {"file": {**BINARY, "description": "来访确认单等附件：JPG、PNG 或 PDF，不超过 5 MB"}}}}}}

CONSULTANT_REFUSALS = (NotYetApplied,)
OPERATING_REFUSALS = (NotYetApplied, ConsultantInactive, ContractUnsigned)
UPLOAD_REFUSALS = (visits.VisitNotFound, visits.VisitClosed, attachments.AttachmentLimitReached,
                   attachments.AttachmentTooLarge, attachments.AttachmentTypeNotAllowed, ValidationFailed)


def uploads_dir() -> str:
    return os.path.join(current_app.config["INSTANCE_PATH"], "uploads")


# --- schemas (the consultant's and the buyer's views) ---------------------------------------

class VisitInputSchema(InputSchema):
    scheduled_at = fields.AwareDateTime(required=True, metadata={
        "description": "预约到访时间（ISO 8601，带时区）；不早于现在，不晚于报备保护截止时间"})


class BuyerConfirmSchema(InputSchema):
    office_code = fields.String(required=True, validate=validate.Length(max=12), metadata={
        "description": "售楼处现场显示的 6 位到访确认码（每 10 分钟更换，只在售楼处可见）"})


class ProjectBriefSchema(Schema):
    id = fields.Integer()
    name = fields.String()
    city = fields.String()
    district = fields.String(allow_none=True)
    address = fields.String(allow_none=True)


class AttachmentSchema(Schema):
    id = fields.Integer()
    filename = fields.String()
    content_type = fields.String()
    size_bytes = fields.Integer()
    sha256 = fields.String()
    uploaded_by_type = fields.String(metadata={"description": "consultant（顾问）或 staff（案场）"})
    created_at = fields.DateTime()
    download_url = fields.Function(lambda a: url_for("visits.AttachmentDownload", visit_id=a.visit_id,
                                                     attachment_id=a.id))


class VisitSchema(Schema):
    """The booking consultant's view of his visit."""
    id = fields.Integer()
    registration_id = fields.Integer()
    project = fields.Function(lambda v: ProjectBriefSchema().dump(v.registration.project))
    buyer_name = fields.Function(lambda v: v.registration.buyer_name)
    scheduled_at = fields.DateTime()
    check_in_code = fields.String(metadata={"description": "6 位核销码，到访时出示给案场"})
    qr_url = fields.Function(lambda v: url_for("visits.VisitQr", visit_id=v.id),
                             metadata={"description": "核销码二维码（SVG）"})
    status = fields.String(metadata={"description": "scheduled / confirmed / invalid / cancelled"})
    status_label = fields.Function(lambda v: visits.STATUS_LABELS[v.status])
    confirmed_at = fields.DateTime(allow_none=True)
    confirmed_by_type = fields.String(allow_none=True, metadata={"description": "staff（案场）或 buyer（客户本人）"})
    invalid_reason = fields.String(allow_none=True)
    created_at = fields.DateTime()


DAYS = validate.Range(min=date(2000, 1, 1), max=date(2099, 12, 31), error="日期须在 2000-01-01 至 2099-12-31 之间")


class VisitListArgs(QuerySchema):
    status = fields.String(validate=validate.OneOf(VISIT_STATUSES), metadata={
        "description": "scheduled 待到访 / confirmed 已到访 / invalid 无效 / cancelled 已取消"})
    date_from = fields.Date(validate=DAYS, metadata={"description": "预约日期起（含，北京时间）"})
    date_to = fields.Date(validate=DAYS, metadata={"description": "预约日期止（含，北京时间）"})
    page = fields.Integer(load_default=1, validate=validate.Range(min=1, max=10_000))
    per_page = fields.Integer(load_default=20, validate=validate.Range(min=1, max=100))


class VisitPageSchema(Schema):
    items = fields.List(fields.Nested(VisitSchema))
    total = fields.Integer()
    page = fields.Integer()
    per_page = fields.Integer()


class BuyerVisitSchema(Schema):
    """What the buyer sees of a visit booked for him."""
    id = fields.Integer()
    project = fields.Function(lambda v: ProjectBriefSchema().dump(v.registration.project))
    consultant_name = fields.Function(lambda v: v.registration.consultant.name)
    scheduled_at = fields.DateTime()
    check_in_code = fields.String()
    status = fields.String()
    status_label = fields.Function(lambda v: visits.STATUS_LABELS[v.status])
    confirmed_at = fields.DateTime(allow_none=True)


# --- the consultant --------------------------------------------------------------------------

@blp.route("/registrations/<int:registration_id>/visits")
class RegistrationVisits(MethodView):
    @blp.authenticated(callers.operating_consultant, *OPERATING_REFUSALS, RegistrationNotFound, RegistrationClosed,
                       visits.VisitAlreadyScheduled, ValidationFailed)
    @blp.arguments(VisitInputSchema)
    @blp.response(201, VisitSchema)
    def post(self, body, registration_id):
        """预约带看，返回 6 位核销码和二维码地址。同一报备同时只能有一个待到访的预约（409 visit_already_scheduled，
        details 给出已有预约），改期请先取消原预约。"""
        return visits.book_visit(db.session, g.consultant, registration_id, body["scheduled_at"], now=utcnow())

    @blp.authenticated(callers.consultant, *CONSULTANT_REFUSALS, RegistrationNotFound)
    @blp.response(200, VisitSchema(many=True))
    def get(self, registration_id):
        """某条报备的全部带看（新的在前）"""
        return visits.visits_of_registration(db.session, g.consultant.id, registration_id)


@blp.route("/visits")
class OwnVisits(MethodView):
    @blp.authenticated(callers.consultant, *CONSULTANT_REFUSALS, ValidationFailed)
    @blp.arguments(VisitListArgs, location="query")
    @blp.response(200, VisitPageSchema)
    def get(self, args):
        """我的带看（只含自己报备的客户），按预约时间先后；可按状态和预约日期（北京时间）筛选，分页。
        今日待陪同：status=scheduled&date_from=今天&date_to=今天"""
        items, total = queries.own_visits(db.session, g.consultant.id, status=args.get("status"),
                                          date_from=args.get("date_from"), date_to=args.get("date_to"),
                                          page=args["page"], per_page=args["per_page"])
        return {"items": items, "total": total, "page": args["page"], "per_page": args["per_page"]}


@blp.route("/visits/<int:visit_id>")
class VisitDetail(MethodView):
    @blp.authenticated(callers.consultant, *CONSULTANT_REFUSALS, visits.VisitNotFound)
    @blp.response(200, VisitSchema)
    def get(self, visit_id):
        """带看详情（只能查看自己的带看）"""
        return visits.own_visit(db.session, g.consultant.id, visit_id)

    @blp.authenticated(callers.operating_consultant, *OPERATING_REFUSALS, visits.VisitNotFound, visits.VisitClosed)
    @blp.response(200, VisitSchema)
    def delete(self, visit_id):
        """取消待到访的预约（之后可重新预约）；已确认、已判无效的带看不能取消"""
        return visits.cancel_visit(db.session, g.consultant, visit_id, now=utcnow())


@blp.route("/visits/<int:visit_id>/qr.svg")
class VisitQr(MethodView):
    @blp.authenticated(callers.operating_consultant, *OPERATING_REFUSALS, visits.VisitNotFound)
    @blp.response(200, {"type": "string", "format": "binary"}, content_type="image/svg+xml",
                  description="核销码二维码（SVG），内容即核销码")
    def get(self, visit_id):
        """核销码二维码，案场扫码即可核销"""
        response = Response(visits.own_visit_qr(db.session, g.consultant.id, visit_id), mimetype="image/svg+xml")
        response.headers["Cache-Control"] = "private, max-age=300"
        return response


@blp.route("/visits/<int:visit_id>/attachments")
class VisitAttachments(MethodView):
    @blp.authenticated(callers.operating_consultant, *OPERATING_REFUSALS, *UPLOAD_REFUSALS, 400)
    @blp.response(201, AttachmentSchema)
    @blp.doc(requestBody=UPLOAD_BODY)
    def post(self, visit_id):
        """上传来访确认单等附件：multipart/form-data，文件字段名 `file`。仅限 JPG、PNG、PDF（按文件内容识别，
        不只看声明的类型），单个不超过 5 MB（413 attachment_too_large），每次带看最多 10 个。"""
        return attachments.attach_by_consultant(db.session, g.consultant, visit_id, uploaded_file(),
                                           storage_dir=uploads_dir(), now=utcnow())

    @blp.authenticated(callers.consultant, *CONSULTANT_REFUSALS, visits.VisitNotFound)
    @blp.response(200, AttachmentSchema(many=True))
    def get(self, visit_id):
        """某次带看的附件"""
        return attachments.own_attachments(db.session, g.consultant.id, visit_id)


@blp.route("/visits/<int:visit_id>/attachments/<int:attachment_id>")
class AttachmentDownload(MethodView):
    @blp.authenticated(callers.consultant, *CONSULTANT_REFUSALS, visits.VisitNotFound, attachments.AttachmentNotFound)
    # One 200 per type the upload accepts (storage.ALLOWED_TYPES): the file is served under the
    # type sniffed from its content, so a client checking Content-Type against the spec agrees.
    @blp.response(200, BINARY, content_type="image/jpeg", description=ATTACHMENT_CONTENT)
    @blp.alt_response(200, schema=BINARY, content_type="image/png", description=ATTACHMENT_CONTENT, success=True)
    @blp.alt_response(200, schema=BINARY, content_type="application/pdf", description=ATTACHMENT_CONTENT, success=True)
    def get(self, visit_id, attachment_id):
        """下载自己带看的附件"""
        attachment = attachments.consultant_attachment(db.session, g.consultant.id, visit_id, attachment_id,
                                                  storage_dir=uploads_dir())
        return send_attachment(attachment, uploads_dir())


# --- the buyer (H5, SMS sign-in) --------------------------------------------------------------

@blp.route("/buyer/visits")
class BuyerVisits(MethodView):
    @blp.authenticated(callers.buyer)
    @blp.response(200, BuyerVisitSchema(many=True))
    def get(self):
        """购房者：我待确认的到访预约"""
        return visits.buyer_scheduled_visits(db.session, g.buyer.id)


@blp.route("/buyer/visits/<int:visit_id>/confirm")
class BuyerConfirm(MethodView):
    @blp.authenticated(callers.buyer, visits.VisitNotFound, visits.VisitClosed, visits.VisitNotDue,
                       visits.PresenceNotProven, visits.PresenceAttemptsExhausted, RegistrationClosed,
                       BuyerAlreadyBound)
    @blp.arguments(BuyerConfirmSchema)
    @blp.response(200, BuyerVisitSchema)
    def post(self, body, visit_id):
        """购房者本人确认到访（预约当天起可确认），须输入售楼处现场显示的 6 位到访确认码（每 10 分钟更换）证明本人在场；
        错误 5 次后只能由售楼处工作人员核销。确认后按楼盘的保护模式延长报备保护。"""
        return visits.confirm_by_buyer(db.session, g.buyer, visit_id, office_code=body["office_code"],
                                       secret=current_app.config["SECRET_KEY"], now=utcnow())


# --- files ----------------------------------------------------------------------------------

def uploaded_file() -> attachments.Upload | None:
    file = request.files.get("file")
    if file is None:
        return None
    return attachments.Upload(filename=file.filename, content_type=file.mimetype, stream=file.stream)


def send_attachment(attachment, storage_dir: str):
    """The stored content under its stored (sniffed) type; never sniffed again by the browser."""
    response = send_file(attachments.attachment_path(storage_dir, attachment), mimetype=attachment.content_type,
                         as_attachment=attachment.content_type == "application/pdf",
                         download_name=attachment.filename, conditional=False, max_age=0)
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Cache-Control"] = "private, no-store"
    return response
