"""Operations see registrations with masked phones; a full-number read is logged."""
from __future__ import annotations

from sqlalchemy import select

from estate_platform.db import db
from estate_platform.registrations.models import PhoneReveal
from tests.integration.test_staff_auth import csrf_from, login_page


def test_operations_see_masked_phones_and_each_reveal_is_logged(world, client, app):
    consultant = world.operating_consultant()
    held = world.register(consultant, world.project(), phone="13812349876", name="吴女士")
    staff_id, username, password = world.staff("operations")
    login_page(client, username, password)
    listing = client.get("/admin/registrations/").get_data(as_text=True)
    assert "吴女士" in listing and "138****9876" in listing and "13812349876" not in listing
    detail = client.get(f"/admin/registrations/{held['id']}").get_data(as_text=True)
    assert "13812349876" not in detail and "校验通过" in detail
    revealed = client.post(f"/admin/registrations/{held['id']}/reveal-phone",
                           data={"csrf_token": csrf_from(detail), "purpose": "核实客户异议"})
    assert revealed.status_code == 200 and "13812349876" in revealed.get_data(as_text=True)
    with app.app_context():
        logs = db.session.scalars(select(PhoneReveal)).all()
    assert [(log.staff_user_id, log.registration_id, log.purpose) for log in logs] == [
        (staff_id, held["id"], f"报备 #{held['id']}：核实客户异议")]


def test_finance_and_site_staff_cannot_open_registrations(world, client):
    for role in ("finance", "site_staff"):
        _, username, password = world.staff(role)
        login_page(client, username, password)
        assert client.get("/admin/registrations/").status_code == 403
