"""The buyer's own privacy pages (个人信息, issue 15 §1), on the H5 blueprint.

* ``/p/``: signed in by a fresh SMS code to his own phone, the buyer downloads what the
  platform holds about him (JSON, exactly his data; logged) or asks for it to be erased
  (a request operations decide; holds are explained on the page).
* ``/p/o/<token>``: the link in the registration SMS; he says he never asked to be
  registered (recorded once, shown to operations). The signed token is the proof that he
  received the SMS.

No separate CSRF token: /p/ acts only with a fresh SMS code, which a foreign page cannot
know, and /p/o/ only with the signed token from the SMS.
"""
from __future__ import annotations

import json

from flask import Response, current_app, g, render_template, request, url_for

from estate_platform.clock import SHANGHAI
from estate_platform.db import db, utcnow
from estate_platform.errors import DomainError, ValidationFailed
from estate_platform.identity.services import verify_sms_code
from estate_platform.privacy import access, notices
from estate_platform.privacy import services as privacy

from .h5 import _sent_by_this_site, bp

ACTIONS = ("export", "erase")


def _page(*, form: dict | None = None, errors: dict | None = None, message: str | None = None, status: int = 200):
    return render_template("h5/privacy.html", form=form or {}, errors=errors or {}, message=message,
                           sms_send_url=url_for("auth.SmsSend"),
                           sms_interval=current_app.config["SMS_PHONE_INTERVAL_SECONDS"]), status


@bp.get("/p/")
def privacy_form():
    return _page()


@bp.post("/p/")
def privacy_request():
    form = {"phone": request.form.get("phone", "")[:30], "sms_code": request.form.get("sms_code", "")[:10],
            "action": request.form.get("action", "")[:10]}
    if form["action"] not in ACTIONS:
        return _page(form=form, errors={"action": ["请选择要办理的事项"]}, message="请选择要办理的事项", status=422)
    now = utcnow()
    try:
        signed = verify_sms_code(db.session, form["phone"], form["sms_code"], secret=current_app.config["SECRET_KEY"],
                                 now=now, config=current_app.config)
        buyer = signed.subject
        if form["action"] == "export":
            privacy.log_export(db.session, buyer.id, actor_type="buyer", actor_id=buyer.id, now=now)
            body = json.dumps(access.export(db.session, buyer, now=now), ensure_ascii=False, indent=2)
            return Response(body, mimetype="application/json",
                            headers={"Content-Disposition": "attachment; filename=my-data.json"})
        made = privacy.request_erasure(db.session, buyer, channel="h5", now=now)
        holds = privacy.holds(db.session, buyer.id, now=now,
                              settings=privacy.Settings.from_config(current_app.config))
    except DomainError as exc:
        if exc.keep_changes:
            g.keep_changes = True  # a wrong SMS code still counts toward the attempt limit
        else:
            db.session.rollback()
        errors = exc.details.get("fields") if isinstance(exc, ValidationFailed) else None
        return _page(form=form, errors=errors or {}, message=exc.message, status=exc.status)
    return render_template("h5/privacy_done.html", request_id=made.id,
                           holds=[privacy.HOLD_LABELS[h] for h in holds])


def _objection_page(token: str, registration, *, message: str | None = None, status: int = 200):
    return render_template("h5/objection.html", token=token, registration=registration,
                           registered_on=registration.created_at.astimezone(SHANGHAI).strftime("%Y-%m-%d"),
                           consultant=notices.notice_params(registration, "")["consultant"],
                           message=message), status


@bp.get("/p/o/<token>")
def objection_form(token: str):
    registration = notices.registration_for_token(db.session, current_app.config["SECRET_KEY"], token[:200])
    return _objection_page(token, registration)


@bp.post("/p/o/<token>")
def objection(token: str):
    registration = notices.registration_for_token(db.session, current_app.config["SECRET_KEY"], token[:200])
    if not _sent_by_this_site():
        return _objection_page(token, registration, message="请在本页面提交", status=403)
    try:
        notices.object_to_registration(db.session, registration, reason=request.form.get("reason", "")[:1000],
                                       now=utcnow())
    except notices.AlreadyObjected as exc:
        db.session.rollback()
        return _objection_page(token, registration, message=exc.message, status=exc.status)
    return render_template("h5/objection_done.html", project=registration.project)
