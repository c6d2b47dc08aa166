"""Bearer tokens: expired, forged and revoked tokens are refused with 401."""
from __future__ import annotations

from datetime import timedelta

import pytest

from estate_platform.security import issue_token
from tests.conftest import now

SECRET = "test-secret-key-that-is-long-enough-0123456789"


def code_of(response):
    return response.get_json()["error"]["code"]


def test_wechat_login_returns_a_token_that_identifies_the_user(world, client):
    token, openid = world.wechat_login("o-zhangwei")
    again, _ = world.wechat_login("o-zhangwei")
    response = client.get("/api/mp/v1/consultants/me", headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 404
    assert code_of(response) == "consultant_not_applied"
    login = client.post("/api/mp/v1/auth/wechat", json={"code": "dev:o-zhangwei"}).get_json()
    assert login["user"]["openid"] == "o-zhangwei" and login["user"]["consultant_id"] is None
    assert token != "" and again != ""


def test_missing_token_is_refused(client):
    response = client.get("/api/mp/v1/consultants/me")
    assert response.status_code == 401
    assert code_of(response) == "token_missing"
    assert response.get_json()["error"]["message"] == "请先登录"


@pytest.mark.parametrize("header", ["Bearer not-a-token", "Bearer eyJrIjoid2VjaGF0In0.forged", "Token abc", "Bearer "])
def test_forged_or_garbled_token_is_refused(client, header):
    response = client.get("/api/mp/v1/consultants/me", headers={"Authorization": header})
    assert response.status_code == 401
    assert code_of(response) in {"token_invalid", "token_missing"}


def test_token_signed_with_another_secret_is_refused(world, client):
    consultant = world.apply()
    forged, _ = issue_token("some-other-secret", kind="wechat", subject_id=1, version=0, now=now(), ttl_seconds=3600)
    response = client.get("/api/mp/v1/consultants/me", headers={"Authorization": f"Bearer {forged}"})
    assert response.status_code == 401 and code_of(response) == "token_invalid"
    assert client.get("/api/mp/v1/consultants/me", headers=consultant.auth).status_code == 200


def test_expired_token_is_refused(world, client):
    consultant = world.apply()
    expired, _ = issue_token(SECRET, kind="wechat", subject_id=1, version=0,
                             now=now() - timedelta(days=8), ttl_seconds=7 * 24 * 3600)
    response = client.get("/api/mp/v1/consultants/me", headers={"Authorization": f"Bearer {expired}"})
    assert response.status_code == 401
    assert code_of(response) == "token_expired"
    assert client.get("/api/mp/v1/consultants/me", headers=consultant.auth).status_code == 200


def test_revoking_signs_the_user_out_everywhere(world, client):
    consultant = world.apply()
    second_device, _ = world.wechat_login(consultant.openid)
    assert client.post("/api/mp/v1/auth/revoke", headers=consultant.auth).status_code == 204
    for token in (consultant.token, second_device):
        response = client.get("/api/mp/v1/consultants/me", headers={"Authorization": f"Bearer {token}"})
        assert response.status_code == 401
        assert code_of(response) == "token_revoked"
    fresh, _ = world.wechat_login(consultant.openid)
    assert client.get("/api/mp/v1/consultants/me", headers={"Authorization": f"Bearer {fresh}"}).status_code == 200


def test_a_token_of_one_kind_does_not_open_another_kind_of_endpoint(world, client):
    staff_headers = world.staff_auth("admin")
    response = client.get("/api/mp/v1/consultants/me", headers=staff_headers)
    assert response.status_code == 401 and code_of(response) == "token_invalid"
    consultant = world.apply()
    response = client.get("/admin/api/v1/consultants", headers=consultant.auth)
    assert response.status_code == 401 and code_of(response) == "token_invalid"


def test_staff_token_revocation_and_expiry(world, client):
    headers = world.staff_auth("operations")
    assert client.get("/admin/api/v1/consultants", headers=headers).status_code == 200
    assert client.post("/admin/api/v1/auth/revoke", headers=headers).status_code == 204
    response = client.get("/admin/api/v1/consultants", headers=headers)
    assert response.status_code == 401 and code_of(response) == "token_revoked"
    expired, _ = issue_token(SECRET, kind="staff", subject_id=1, version=1,
                             now=now() - timedelta(days=2), ttl_seconds=3600)
    response = client.get("/admin/api/v1/consultants", headers={"Authorization": f"Bearer {expired}"})
    assert response.status_code == 401 and code_of(response) == "token_expired"


def test_invalid_wechat_code_is_a_clear_401(client, counts):
    before = counts()
    response = client.post("/api/mp/v1/auth/wechat", json={"code": "invalid-code"})
    assert response.status_code == 401
    assert code_of(response) == "wechat_code_invalid"
    assert counts() == before
