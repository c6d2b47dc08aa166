"""`make run` pieces: migrations by CLI, demo data loaded once, health check."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from sqlalchemy import func, select

from estate_platform.consultants.models import Consultant, ConsultantInvite
from estate_platform.db import db, utcnow
from estate_platform.demo import load_demo
from estate_platform.identity.models import Buyer, StaffUser
from estate_platform.projects.models import Project

ROOT = Path(__file__).resolve().parents[2]


def test_demo_data_is_loaded_once_and_never_duplicated(app):
    with app.app_context():
        first = load_demo(db.session, now=utcnow())
        db.session.commit()
        second = load_demo(db.session, now=utcnow())
        db.session.commit()
        assert first.created and not second.created
        assert db.session.scalar(select(func.count()).select_from(StaffUser)) == 4
        assert {s.role for s in db.session.scalars(select(StaffUser))} == {"admin", "finance", "operations", "site_staff"}
        assert db.session.scalar(select(func.count()).select_from(Project)) == 3
        assert db.session.scalar(select(func.count()).select_from(Consultant)) == 6
        assert db.session.scalar(select(func.count()).select_from(ConsultantInvite)) == 5
        assert db.session.scalar(select(func.count()).select_from(Buyer)) == 8  # 3 buyers + 3 of the consultant app's day
        # + the sales office's existing customer 冯先生 (his evidence is hashed under his own buyer key)
        # + 李强's buyer whose commission can be sold early (/m/buyback)


def test_demo_consultant_can_drive_the_api_with_the_printed_code(app, client):
    with app.app_context():
        load_demo(db.session, now=utcnow())
        db.session.commit()
    login = client.post("/api/mp/v1/auth/wechat", json={"code": "dev:demo-consultant-1"}).get_json()
    headers = {"Authorization": f"Bearer {login['token']}"}
    assert login["user"]["consultant_status"] == "active"
    assert client.get("/api/mp/v1/consultants/me/invite-card", headers=headers).status_code == 200
    staff = client.post("/admin/api/v1/auth/login", json={"username": "ops", "password": "ops-demo-123"})
    assert staff.status_code == 200


def test_cli_applies_migrations_and_loads_demo_twice_without_duplicates(tmp_path):
    env = {**os.environ, "DATABASE_URL": f"sqlite:///{tmp_path / 'cli.db'}", "INSTANCE_PATH": str(tmp_path)}
    env.pop("APP_ENV", None)
    flask = [sys.executable, "-m", "flask", "--app", "wsgi"]
    for args in (["db", "upgrade"], ["demo", "load"], ["demo", "load"]):
        result = subprocess.run(flask + args, cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
        assert result.returncode == 0, result.stderr
    assert "already present" in result.stdout and "dev:demo-consultant-1" in result.stdout


def test_health_check(client):
    assert client.get("/healthz").get_json() == {"status": "ok"}
