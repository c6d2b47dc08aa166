"""Admin JSON API for a project's penalty terms (违约金条款) and what developers owe
after upheld disputes (开发商争议应收). Operations and admins set terms; finance reads.
"""
from __future__ import annotations

from flask import g
from flask.views import MethodView
from marshmallow import Schema, fields, validate

from estate_platform.db import db, utcnow
from estate_platform.disputes import decisions
from estate_platform.disputes import terms as penalty_terms
from estate_platform.errors import ValidationFailed
from estate_platform.projects.developers import get_developer
from estate_platform.projects.services import DeveloperNotFound, ProjectNotFound
from web_common.api import InputSchema, PlatformBlueprint

from .callers import api_roles
from .disputes_api import CENTS, READERS, WORKERS, DisputeNamedSchema, _buyer_name

blp = PlatformBlueprint("admin_penalties_api", __name__, description="楼盘违约金条款；开发商争议应收")


# --- schemas ---------------------------------------------------------------------------------------------

class PenaltyTermsInputSchema(InputSchema):
    penalty_fixed_cents = fields.Integer(required=True, strict=True, validate=validate.Range(min=0, max=10 ** 12),
                                         metadata={"description": "每宗固定违约金（分）"})
    penalty_multiple_bps = fields.Integer(required=True, strict=True, validate=validate.Range(min=0, max=1_000_000),
                                          metadata={"description": "所涉佣金倍数（基点，20000 = 2 倍）"})


class PenaltyTermsVersionSchema(Schema):
    id = fields.Integer()
    effective_at = fields.DateTime()
    penalty_fixed_cents = fields.Integer(metadata=CENTS)
    penalty_multiple_bps = fields.Integer()
    created_by_id = fields.Integer(allow_none=True)


class ProjectPenaltyTermsSchema(Schema):
    project_id = fields.Function(lambda v: v.project.id)
    current = fields.Nested(PenaltyTermsVersionSchema, allow_none=True,
                            metadata={"description": "楼盘现行加重条款（无则仅适用平台协议）"})
    agreement_version = fields.Function(lambda v: v.agreement.version if v.agreement else None, allow_none=True)
    agreement_penalty_fixed_cents = fields.Function(
        lambda v: v.agreement.penalty_fixed_cents if v.agreement else 0, metadata=CENTS)
    agreement_penalty_multiple_bps = fields.Function(lambda v: v.agreement.penalty_multiple_bps if v.agreement else 0)
    effective_penalty_fixed_cents = fields.Function(lambda v: v.effective.fixed_cents, metadata=CENTS)
    effective_penalty_multiple_bps = fields.Function(lambda v: v.effective.multiple_bps)
    text = fields.String(metadata={"description": "现在报备适用的条款（协议与楼盘条款逐项取较严者）"})
    history = fields.List(fields.Nested(PenaltyTermsVersionSchema))


class DeveloperReceivableSchema(Schema):
    dispute_id = fields.Function(lambda r: r.dispute.id)
    subject = fields.Function(lambda r: r.dispute.subject)
    project = fields.Function(lambda r: DisputeNamedSchema().dump(r.dispute.project))
    buyer_name = fields.Function(lambda r: _buyer_name(r.dispute))
    stake_cents = fields.Function(lambda r: r.decision.stake_cents, metadata=CENTS)
    decided_at = fields.Function(lambda r: r.decision.approved_at.isoformat())
    transaction_id = fields.Function(lambda r: r.decision.stake_transaction_id, allow_none=True)


class DeveloperReceivablesSchema(Schema):
    developer = fields.Nested(DisputeNamedSchema)
    total_cents = fields.Integer(metadata=CENTS)
    items = fields.List(fields.Nested(DeveloperReceivableSchema))


# --- penalty terms of a project, and developers' receivables ---------------------------------------------

@blp.route("/projects/<int:project_id>/penalty-terms")
class ProjectPenaltyTerms(MethodView):
    @api_roles(blp, *READERS)
    @blp.response(200, ProjectPenaltyTermsSchema)
    @blp.refuses(ProjectNotFound)
    def get(self, project_id):
        """楼盘违约金条款：现行加重条款、平台协议条款、现在报备适用的条款（逐项取较严者）及历史版本"""
        return penalty_terms.project_terms_view(db.session, project_id, now=utcnow())

    @api_roles(blp, *WORKERS)
    @blp.arguments(PenaltyTermsInputSchema)
    @blp.response(200, ProjectPenaltyTermsSchema)
    @blp.refuses(ProjectNotFound, penalty_terms.TermsVersionExists, ValidationFailed)
    def put(self, body, project_id):
        """设置楼盘加重条款（自现在起适用于新报备；已有报备仍按报备时生效的条款）。楼盘条款只能加重：违约金按协议与楼盘
        条款逐项取较严者；均为 0 即仅适用平台协议"""
        now = utcnow()
        penalty_terms.set_project_terms(db.session, project_id, staff_id=g.staff.id, now=now, **body)
        return penalty_terms.project_terms_view(db.session, project_id, now=now)


@blp.route("/developers/<int:developer_id>/dispute-receivables")
class DeveloperDisputeReceivables(MethodView):
    @api_roles(blp, *READERS)
    @blp.response(200, DeveloperReceivablesSchema)
    @blp.refuses(DeveloperNotFound)
    def get(self, developer_id):
        """开发商因争议成立（跑单、撬单）应付的涉及佣金（回款记录的一部分）"""
        developer = get_developer(db.session, developer_id)
        items = decisions.developer_receivables(db.session, developer.id)
        return {"developer": developer, "items": items,
                "total_cents": sum(item.decision.stake_cents for item in items)}
