"""The Stripe webhook (issue 12 §1): ``invoice.paid`` for the platform's invoice to a developer
records a collection; the signature is checked on the raw body; a forged, replayed or
reordered delivery posts nothing."""
from __future__ import annotations

import hashlib
import hmac
import json
import time

import pytest
from sqlalchemy import func, select

from estate_platform.db import db
from estate_platform.ledger.models import LedgerTransaction
from estate_platform.receivables.models import Collection, DeveloperInvoice, StripeEvent
from tests.conftest import now

SECRET = "whsec_test_secret"
COMMISSION = 6_000_000


def sign(payload: bytes, secret: str = SECRET, at: int | None = None) -> str:
    at = int(time.time()) if at is None else at
    mac = hmac.new(secret.encode(), f"{at}.".encode() + payload, hashlib.sha256).hexdigest()
    return f"t={at},v1={mac}"


def event(event_id: str, kind: str, stripe_invoice: str, amount: int = COMMISSION, **metadata) -> bytes:
    return json.dumps({"id": event_id, "object": "event", "type": kind, "created": int(time.time()),
                       "data": {"object": {"id": stripe_invoice, "object": "invoice", "amount_paid": amount,
                                           "metadata": metadata}}}).encode()


@pytest.fixture
def hook(app, client, world):
    app.config["STRIPE_WEBHOOK_SECRET"] = SECRET
    project = world.project()
    world.commission_rule(project)
    world.split_policy()
    with app.app_context():
        from estate_platform.projects.models import Project
        developer_id = db.session.get(Project, project).developer_id
        invoice = DeveloperInvoice(developer_id=developer_id, number="FP-001", issued_on=now().date(),
                                   amount_cents=COMMISSION, tax_rate_bps=600, stripe_invoice_id="in_001",
                                   created_at=now())
        db.session.add(invoice)
        db.session.add(DeveloperInvoice(developer_id=developer_id, number="FP-002", issued_on=now().date(),
                                        amount_cents=COMMISSION, tax_rate_bps=600, created_at=now()))
        db.session.commit()

    class Hook:
        def post(self, payload: bytes, signature: str | None = None):
            headers = {"Stripe-Signature": sign(payload) if signature is None else signature}
            return client.post("/webhooks/stripe", data=payload, headers=headers, content_type="application/json")

        def money(self):
            with app.app_context():
                return (db.session.scalar(select(func.count()).select_from(Collection)),
                        db.session.scalar(select(func.count()).select_from(LedgerTransaction)))

        def invoice(self, number):
            with app.app_context():
                return db.session.scalar(select(DeveloperInvoice).where(DeveloperInvoice.number == number))
    return Hook()


def test_invoice_paid_records_one_collection_and_a_replay_changes_nothing(hook, counts):
    payload = event("evt_1", "invoice.paid", "in_001")
    first = hook.post(payload)
    assert first.status_code == 200 and first.get_json()["outcome"] == "collected"
    assert hook.money() == (1, 1)
    before = counts()
    replay = hook.post(payload)
    assert replay.status_code == 200 and replay.get_json()["outcome"] == "duplicate"
    assert counts() == before


def test_a_second_paid_event_for_the_same_invoice_posts_nothing(hook):
    hook.post(event("evt_1", "invoice.paid", "in_001"))
    second = hook.post(event("evt_2", "invoice.paid", "in_001"))
    assert second.status_code == 200 and second.get_json()["outcome"] == "duplicate_invoice"
    assert hook.money() == (1, 1)


def test_metadata_matches_an_invoice_not_yet_linked_to_stripe(hook):
    response = hook.post(event("evt_m", "invoice.paid", "in_777", platform_invoice_number="FP-002"))
    assert response.get_json()["outcome"] == "collected"
    assert hook.invoice("FP-002").stripe_invoice_id == "in_777"


# Signatures that hold a timestamp are made when the test runs, not at collection: xdist
# workers must collect the same test ids.
FORGERIES = {"missing": lambda: "", "stale_fake": lambda: "t=1,v1=deadbeef", "other_body": lambda: sign(b"{}"),
             "other_secret": lambda: sign(b"x", secret="whsec_other"), "garbage": lambda: "garbage"}


@pytest.mark.parametrize("forgery", sorted(FORGERIES))
def test_forged_or_missing_signatures_are_refused_and_post_nothing(hook, counts, forgery):
    signature = FORGERIES[forgery]()
    before = counts()
    payload = event("evt_f", "invoice.paid", "in_001")
    forged = hook.post(payload, signature=signature or sign(payload, secret="whsec_forger"))
    assert forged.status_code == 400 and forged.get_json()["error"]["code"] == "webhook_signature_invalid"
    assert counts() == before


def test_a_tampered_body_with_the_original_signature_is_refused(hook, counts):
    before = counts()
    payload = event("evt_t", "invoice.paid", "in_001")
    tampered = payload.replace(str(COMMISSION).encode(), b"999999999")
    assert hook.post(tampered, signature=sign(payload)).status_code == 400
    assert counts() == before


def test_a_stale_signature_is_refused(hook, counts):
    before = counts()
    payload = event("evt_s", "invoice.paid", "in_001")
    assert hook.post(payload, signature=sign(payload, at=int(time.time()) - 3600)).status_code == 400
    assert counts() == before


def test_paid_after_voided_records_nothing(hook):
    assert hook.post(event("evt_v", "invoice.voided", "in_001")).get_json()["outcome"] == "voided"
    late = hook.post(event("evt_p", "invoice.paid", "in_001"))
    assert late.status_code == 200 and late.get_json()["outcome"] == "ignored_voided"
    assert hook.money() == (0, 0)


def test_voided_after_paid_changes_nothing(hook):
    hook.post(event("evt_p", "invoice.paid", "in_001"))
    late = hook.post(event("evt_v", "invoice.voided", "in_001"))
    assert late.get_json()["outcome"] == "ignored_terminal"
    assert hook.invoice("FP-001").voided_at is None
    assert hook.money() == (1, 1)


def test_unknown_invoices_and_other_events_are_acknowledged_and_post_nothing(hook, app):
    assert hook.post(event("evt_u", "invoice.paid", "in_unknown")).get_json()["outcome"] == "unmatched"
    assert hook.post(event("evt_o", "customer.created", "cus_1")).get_json()["outcome"] == "ignored"
    assert hook.money() == (0, 0)
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(StripeEvent)) == 2


def test_without_a_configured_secret_the_webhook_refuses(hook, app, counts):
    app.config["STRIPE_WEBHOOK_SECRET"] = ""
    before = counts()
    response = hook.post(event("evt_n", "invoice.paid", "in_001"))
    assert response.status_code == 503 and response.get_json()["error"]["code"] == "webhook_not_configured"
    assert counts() == before


def test_the_request_guard_lets_a_signed_event_with_line_breaks_through(hook):
    payload = event("evt_nl", "invoice.paid", "in_001", memo="第一行\n第二行\t备注")
    response = hook.post(payload)
    assert response.status_code == 200 and response.get_json()["outcome"] == "collected"
