"""Schemas of the admin JSON API (the staff's view: full phone numbers)."""
from __future__ import annotations

from marshmallow import Schema, fields, validate

from estate_platform.consultants.models import CONSULTANT_STATUSES
from estate_platform.consultants.services import KIND_LABELS, STATUS_LABELS
from estate_platform.phones import national
from web_common.api import InputSchema, QuerySchema

from .roles import ROLE_LABELS


class StaffLoginSchema(InputSchema):
    username = fields.String(required=True, validate=validate.Length(min=1, max=50))
    password = fields.String(required=True, validate=validate.Length(min=1, max=200))


class StaffSchema(Schema):
    id = fields.Integer()
    username = fields.String()
    display_name = fields.String()
    role = fields.String()
    role_label = fields.Function(lambda s: ROLE_LABELS[s.role])


class StaffTokenSchema(Schema):
    token = fields.String()
    expires_at = fields.DateTime()
    staff = fields.Nested(StaffSchema)


class ConsultantListArgs(QuerySchema):
    status = fields.String(validate=validate.OneOf(CONSULTANT_STATUSES))
    q = fields.String(validate=validate.Length(max=50))
    page = fields.Integer(load_default=1, validate=validate.Range(min=1))
    per_page = fields.Integer(load_default=20, validate=validate.Range(min=1, max=100))


class InviterSchema(Schema):
    consultant_id = fields.Integer(attribute="inviter_id")
    name = fields.Function(lambda e: e.inviter.name)
    invited_at = fields.DateTime(attribute="valid_from")


class AdminConsultantSchema(Schema):
    id = fields.Integer()
    name = fields.String()
    phone = fields.Function(lambda c: national(c.phone))
    city = fields.String()
    kind = fields.String()
    kind_label = fields.Function(lambda c: KIND_LABELS[c.kind])
    company_name = fields.String(allow_none=True)
    status = fields.String()
    status_label = fields.Function(lambda c: STATUS_LABELS[c.status])
    status_reason = fields.String(allow_none=True)
    invite_code = fields.String()
    inviter = fields.Nested(InviterSchema, attribute="invited_by", allow_none=True)
    created_at = fields.DateTime()
    approved_at = fields.DateTime(allow_none=True)


class ConsultantPageSchema(Schema):
    items = fields.List(fields.Nested(AdminConsultantSchema))
    total = fields.Integer()
    page = fields.Integer()
    per_page = fields.Integer()


class ReasonSchema(InputSchema):
    reason = fields.String(load_default=None, allow_none=True, validate=validate.Length(max=500), metadata={"multiline": True})


class AgreementInputSchema(InputSchema):
    title = fields.String(required=True, validate=validate.Length(min=1, max=200))
    text = fields.String(required=True, validate=validate.Length(min=20, max=100_000), metadata={"multiline": True})


class AgreementSchema(Schema):
    id = fields.Integer()
    version = fields.Integer()
    title = fields.String()
    text = fields.String()
    sha256 = fields.String()
    published_at = fields.DateTime()
