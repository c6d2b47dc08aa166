"""The platform agreement: read the current version, sign it, list my signatures."""
from __future__ import annotations

from flask import g
from flask.views import MethodView

from estate_platform.consultants.services import NotYetApplied
from estate_platform.contracts import services as contracts
from estate_platform.db import db, utcnow
from web_common.api import PlatformBlueprint, client_ip, user_agent

from . import callers
from .schemas import AgreementSchema, SignatureSchema, SignSchema

blp = PlatformBlueprint("agreement", __name__, description="平台合作协议：阅读、签署")


@blp.route("")
class Current(MethodView):
    @blp.authenticated(callers.consultant, NotYetApplied, contracts.AgreementNotPublished)
    @blp.response(200, AgreementSchema)
    def get(self):
        """当前版本的协议全文及其 SHA-256"""
        agreement = contracts.current_agreement(db.session)
        signature = contracts.signature_of_current(db.session, g.consultant.id)
        return {"version": agreement.version, "title": agreement.title, "text": agreement.text,
                "sha256": agreement.sha256, "published_at": agreement.published_at,
                "signed": signature is not None}


@blp.route("/sign")
class Sign(MethodView):
    @blp.authenticated(callers.consultant, NotYetApplied, contracts.SigningNotAllowed,
                       contracts.AgreementNotPublished, contracts.AgreementOutdated)
    @blp.arguments(SignSchema)
    @blp.response(201, SignatureSchema)
    def post(self, body):
        """签署当前版本（回传所阅读版本的 version 与 sha256；签名不可修改或删除）"""
        return contracts.sign_agreement(db.session, g.consultant, version=body["version"],
                                        sha256=body["sha256"], ip=client_ip(), user_agent=user_agent(),
                                        now=utcnow())


@blp.route("/signatures")
class Signatures(MethodView):
    @blp.authenticated(callers.consultant, NotYetApplied)
    @blp.response(200, SignatureSchema(many=True))
    def get(self):
        """我签署过的所有版本"""
        return contracts.signatures_of(db.session, g.consultant.id)
