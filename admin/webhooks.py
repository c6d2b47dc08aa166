"""Payment provider webhooks: ``POST /webhooks/stripe`` (issue 12 §1).

Stripe signs each delivery; the signature is checked on the raw body (cached by the request
guard, which parses it strictly but never changes it) with ``stripe.Webhook.construct_event``
and ``STRIPE_WEBHOOK_SECRET``. A verified event is handled once per event id
(``receivables.invoices.handle_stripe_event``): a replay, a reordered or late event answers 200
and changes nothing, so Stripe stops retrying. A forged or stale signature is 400 and posts
nothing. Only Stripe calls this, so it is not in the admin API's OpenAPI document.
"""
from __future__ import annotations

import json

import stripe
from flask import Blueprint, current_app, jsonify, request

from estate_platform.db import db, utcnow
from estate_platform.errors import DomainError
from estate_platform.receivables import invoices

bp = Blueprint("webhooks", __name__, url_prefix="/webhooks")

TOLERANCE_SECONDS = 300


class WebhookSignatureInvalid(DomainError):
    code, status, message = "webhook_signature_invalid", 400, "回调签名无效"


class WebhookNotConfigured(DomainError):
    code, status, message = "webhook_not_configured", 503, "未配置 Stripe 回调密钥"


@bp.post("/stripe")
def stripe_webhook():
    secret = current_app.config.get("STRIPE_WEBHOOK_SECRET") or ""
    if not secret:
        raise WebhookNotConfigured()
    payload = request.get_data(cache=True)
    signature = request.headers.get("Stripe-Signature", "")
    try:
        stripe.Webhook.construct_event(payload, signature, secret, tolerance=TOLERANCE_SECONDS)
        event = json.loads(payload)
    except (ValueError, stripe.SignatureVerificationError):
        raise WebhookSignatureInvalid() from None
    if not isinstance(event, dict):
        raise WebhookSignatureInvalid()
    outcome = invoices.handle_stripe_event(db.session, event, now=utcnow())
    return jsonify({"received": True, "outcome": outcome})
