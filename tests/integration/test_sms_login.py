"""Buyers sign in on H5 pages with SMS codes: expiry, attempts, rate limits."""
from __future__ import annotations

from datetime import timedelta

import pytest

from estate_platform.db import db
from estate_platform.identity import services as identity
from estate_platform.identity.models import Buyer, SmsCode
from tests.conftest import now


def sms_outbox(app):
    return app.extensions["adapters"].sms


def send(client, phone="13912345678", ip="10.0.0.1"):
    return client.post("/api/mp/v1/auth/sms/send", json={"phone": phone}, environ_base={"REMOTE_ADDR": ip})


def test_buyer_signs_in_with_the_code_and_is_created_once(app, client):
    assert send(client, "139 1234 5678").status_code == 200
    code = sms_outbox(app).last_code("+8613912345678")
    assert code and len(code) == 6
    response = client.post("/api/mp/v1/auth/sms/verify", json={"phone": "13912345678", "code": code})
    assert response.status_code == 200, response.get_json()
    body = response.get_json()
    assert body["buyer"]["phone"] == "13912345678" and body["token"]
    # the code is single-use
    again = client.post("/api/mp/v1/auth/sms/verify", json={"phone": "13912345678", "code": code})
    assert again.status_code == 400 and again.get_json()["error"]["code"] == "sms_code_expired"
    with app.app_context():
        assert db.session.query(Buyer).filter_by(phone="+8613912345678").count() == 1
        assert db.session.query(SmsCode).one().code_hash != code  # only a hash is stored


def test_brute_forcing_a_code_is_stopped_with_429(app, client):
    send(client)
    real = sms_outbox(app).last_code("+8613912345678")
    wrong = "000000" if real != "000000" else "111111"
    statuses = []
    for _ in range(5):
        response = client.post("/api/mp/v1/auth/sms/verify", json={"phone": "13912345678", "code": wrong})
        statuses.append((response.status_code, response.get_json()["error"]["code"]))
    assert statuses[:4] == [(400, "sms_code_invalid")] * 4
    assert statuses[4] == (429, "sms_too_many_attempts")
    # even the right code no longer works: a new code must be requested
    response = client.post("/api/mp/v1/auth/sms/verify", json={"phone": "13912345678", "code": real})
    assert response.status_code == 429
    assert response.get_json()["error"]["code"] == "sms_too_many_attempts"


def test_sending_is_rate_limited_per_phone_with_a_retry_time(client):
    assert send(client).status_code == 200
    response = send(client)
    assert response.status_code == 429
    error = response.get_json()["error"]
    assert error["code"] == "sms_rate_limited"
    assert 0 < error["details"]["retry_after_seconds"] <= 60
    assert int(response.headers["Retry-After"]) == error["details"]["retry_after_seconds"]


def test_sending_is_rate_limited_per_ip(app, client):
    app.config["SMS_IP_HOURLY_LIMIT"] = 3
    for i in range(3):
        assert send(client, f"1391234560{i}", ip="10.9.9.9").status_code == 200
    response = send(client, "13912345609", ip="10.9.9.9")
    assert response.status_code == 429 and response.get_json()["error"]["code"] == "sms_rate_limited"
    assert send(client, "13912345609", ip="10.9.9.8").status_code == 200


def test_hourly_limit_per_phone(app, session):
    config = dict(app.config)
    sms = sms_outbox(app)
    start = now()
    for i in range(5):
        identity.send_sms_code(session, sms, "13912345678", ip="1.1.1.1", secret="s", now=start + timedelta(minutes=2 * i),
                               config=config)
    with pytest.raises(identity.SmsRateLimited) as refused:
        identity.send_sms_code(session, sms, "13912345678", ip="1.1.1.1", secret="s",
                               now=start + timedelta(minutes=11), config=config)
    assert refused.value.retry_after > 40 * 60


def test_codes_expire_after_five_minutes(app, session):
    config = dict(app.config)
    sms = sms_outbox(app)
    sent_at = now()
    identity.send_sms_code(session, sms, "13912345678", ip="1.1.1.1", secret="s", now=sent_at, config=config)
    code = sms.last_code("+8613912345678")
    with pytest.raises(identity.SmsCodeExpired):
        identity.verify_sms_code(session, "13912345678", code, secret="s", now=sent_at + timedelta(seconds=301),
                                 config=config)
    signed = identity.verify_sms_code(session, "13912345678", code, secret="s",
                                      now=sent_at + timedelta(seconds=299), config=config)
    assert signed.subject.phone == "+8613912345678"


def test_invalid_phone_is_refused_and_nothing_is_sent(app, client, counts):
    before = counts()
    response = send(client, "12345678901")
    assert response.status_code == 422
    assert response.get_json()["error"]["details"]["fields"]["phone"]
    assert counts() == before
    assert sms_outbox(app).outbox == []


def test_purging_removes_only_long_expired_codes(app, session):
    sms = sms_outbox(app)
    config = dict(app.config)
    identity.send_sms_code(session, sms, "13912345678", ip="1.1.1.1", secret="s", now=now() - timedelta(days=3),
                           config=config)
    identity.send_sms_code(session, sms, "13912345679", ip="1.1.1.1", secret="s", now=now(), config=config)
    assert identity.purge_expired_sms_codes(session, now=now()) == 1
    assert identity.purge_expired_sms_codes(session, now=now()) == 0
    assert [c.phone for c in session.query(SmsCode)] == ["+8613912345679"]
