"""老带新: a buyer shares his own page; a friend who signs up there with an SMS code is his referral."""
from __future__ import annotations

from sqlalchemy import select

from estate_platform.db import db
from estate_platform.referrals.models import ReferralEdge

MP = "/api/mp/v1"


def buyer_token(app, client, phone: str) -> dict:
    assert client.post(f"{MP}/auth/sms/send", json={"phone": phone}).status_code == 200
    code = app.extensions["adapters"].sms.last_code("+86" + phone)
    token = client.post(f"{MP}/auth/sms/verify", json={"phone": phone, "code": code}).get_json()["token"]
    return {"Authorization": f"Bearer {token}"}


def share_page_of(app, client, phone: str, name: str = "周先生") -> str:
    owner = buyer_token(app, client, phone)
    with app.app_context():
        from estate_platform.identity.models import Buyer
        db.session.scalar(select(Buyer).where(Buyer.phone == "+86" + phone)).name = name
        db.session.commit()
    body = client.get(f"{MP}/buyer/referral-code", headers=owner).get_json()
    assert body["share_url"].endswith(f"/r/{body['code']}")
    return "/" + body["share_url"].split("/", 3)[3]


def sign_up_on(app, client, path: str, phone: str, code: str | None = None):
    assert client.post(f"{MP}/auth/sms/send", json={"phone": phone}).status_code == 200
    code = code or app.extensions["adapters"].sms.last_code("+86" + phone)
    return client.post(path, data={"name": "王女士", "phone": phone, "sms_code": code})


def test_a_friend_signing_up_on_the_share_page_becomes_the_owners_referral(app, client, world):
    owner_phone, friend_phone = world.next_buyer_phone(), world.next_buyer_phone()
    path = share_page_of(app, client, owner_phone)
    page = client.get(path)
    assert page.status_code == 200
    text = page.get_data(as_text=True)
    assert "周** 邀请您了解新房" in text and "周先生" not in text
    done = sign_up_on(app, client, path, friend_phone)
    assert done.status_code == 200 and "推荐已登记" in done.get_data(as_text=True)
    with app.app_context():
        edge = db.session.scalar(select(ReferralEdge).where(ReferralEdge.kind == "buyer_referral"))
        from estate_platform.identity.models import Buyer
        friend = db.session.scalar(select(Buyer).where(Buyer.phone == "+86" + friend_phone))
        owner = db.session.scalar(select(Buyer).where(Buyer.phone == "+86" + owner_phone))
        assert (edge.source_id, edge.target_id, friend.name) == (owner.id, friend.id, "王女士")


def test_a_wrong_sms_code_is_refused_on_the_page_and_records_no_referral(app, client, world):
    path = share_page_of(app, client, world.next_buyer_phone())
    refused = sign_up_on(app, client, path, world.next_buyer_phone(), code="000000")
    assert refused.status_code in (400, 422) and "验证码" in refused.get_data(as_text=True)
    with app.app_context():
        assert db.session.scalar(select(ReferralEdge.id)) is None


def test_the_owner_cannot_refer_himself_and_a_friend_is_referred_once(app, client, world):
    app.config["SMS_PHONE_INTERVAL_SECONDS"] = 0  # the owner asks for a second code at once
    owner_phone, friend_phone = world.next_buyer_phone(), world.next_buyer_phone()
    path = share_page_of(app, client, owner_phone)
    own = sign_up_on(app, client, path, owner_phone)
    assert own.status_code == 200 and "您已登记过" in own.get_data(as_text=True)
    sign_up_on(app, client, path, friend_phone)
    other = share_page_of(app, client, world.next_buyer_phone(), name="李女士")
    again = sign_up_on(app, client, other, friend_phone)
    assert "已有推荐人" in again.get_data(as_text=True)
    with app.app_context():
        assert len(db.session.scalars(select(ReferralEdge)).all()) == 1


def test_an_unknown_share_code_shows_a_clear_chinese_page(client):
    page = client.get("/r/NOSUCHCD")
    assert page.status_code == 404 and "推荐码不存在" in page.get_data(as_text=True)
