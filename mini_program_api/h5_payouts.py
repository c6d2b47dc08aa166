"""The buyer's payout account on his H5 page (/r/payout-account): a buyer owed 老带新 rewards
adds a personal account in his own name with his ID number, proving his phone with a fresh
SMS code in the same form (the code both signs him in and confirms the account). The account
is paid with the platform's settlement batches from 24 hours later (issue 12 §3)."""
from __future__ import annotations

from flask import Blueprint, current_app, g, render_template, request, url_for

from estate_platform.db import db, utcnow
from estate_platform.errors import DomainError, ValidationFailed
from estate_platform.identity.services import verify_sms_code
from estate_platform.settlement import accounts, secrets

bp = Blueprint("h5_payouts", __name__, template_folder="templates")

FIELDS = ("phone", "sms_code", "holder_name", "id_number", "bank_name", "account_number")


def _page(*, form=None, errors=None, message=None, status=200):
    return render_template("h5/payout_account.html", form=form or {}, errors=errors or {}, message=message,
                           sms_send_url=url_for("auth.SmsSend"),
                           sms_interval=current_app.config["SMS_PHONE_INTERVAL_SECONDS"]), status


@bp.get("/r/payout-account")
def payout_account_form():
    return _page()


@bp.post("/r/payout-account")
def payout_account():
    form = {name: request.form.get(name, "")[:100] for name in FIELDS}
    now = utcnow()
    config = current_app.config
    try:
        signed = verify_sms_code(db.session, form["phone"], form["sms_code"], secret=config["SECRET_KEY"], now=now,
                                 config=config)
    except DomainError as exc:
        if exc.keep_changes:
            g.keep_changes = True
        errors = exc.details.get("fields") if isinstance(exc, ValidationFailed) else None
        return _page(form=form, errors=errors or {}, message=exc.message, status=exc.status)
    party = accounts.Party.of_buyer(signed.subject)
    try:
        account = accounts.add_account(db.session, party, holder_name=form["holder_name"], bank_name=form["bank_name"],
                                       account_number=form["account_number"], id_number=form["id_number"],
                                       encryption_key=config["PAYOUT_ENCRYPTION_KEY"], now=now)
        accounts.activate(db.session, party, account, now=now, wait_hours=config["PAYOUT_ACCOUNT_WAIT_HOURS"])
    except ValidationFailed as exc:
        g.keep_changes = True  # the SMS code is used up all the same
        return _page(form={**form, "sms_code": ""}, errors=exc.details.get("fields") or {},
                     message="请检查填写的信息后重新获取验证码提交", status=422)
    return render_template("h5/payout_account_done.html", account=account,
                           masked=secrets.mask(account.account_last4))
