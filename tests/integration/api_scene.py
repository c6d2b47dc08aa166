"""Real objects for the table-driven API tests (schemathesis, the authorisation
matrix): one object of every kind a path can name, owned by one consultant (A) or
by one developer's site staff, and the people who must not reach them.

Everything is made on demand through the public APIs, as the real clients do, so a
test pays only for the objects its operations name. ``value(name)`` answers a path
parameter by its name and fails loudly for a name it does not know yet.
"""
from __future__ import annotations

import hashlib
import re
import uuid
from dataclasses import dataclass
from functools import cached_property
from io import BytesIO

from sqlalchemy import select

from estate_platform.clock import SHANGHAI
from tests.conftest import Consultant, now, timedelta

from . import openapi_helpers as oa

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00\x00\x00\rIHDR" + bytes(range(64))
STAFF_ROLES = ("admin", "finance", "operations", "site_staff")


@dataclass
class Staff:
    id: int
    username: str
    password: str
    role: str
    developer_id: int | None
    headers: dict


def csrf_from(html: str) -> str:
    match = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert match, "the page has no form with a CSRF token"
    return match.group(1)


class Scene:
    """Consultant A's world: his registration of buyer X in a project of developer DA
    (whose site staff is ``site``), its visit and attachment, his invite link, client
    card, notification, a handoff he offered to colleague C, and a deal. The others:
    consultant B, buyer Y (a stranger to A's objects), site staff of developer DB."""

    def __init__(self, world):
        self.world, self.app, self.client = world, world.app, world.client
        self._staff: dict[str, Staff] = {}
        self._ip = 0

    # --- people ---------------------------------------------------------------------------------------

    @cached_property
    def owner(self) -> Consultant:
        """Consultant A: active, signed the current agreement."""
        return self.world.operating_consultant(name="顾问甲")

    @cached_property
    def intruder(self) -> Consultant:
        """Consultant B: just as active as A, owns none of A's objects."""
        return self.world.operating_consultant(name="顾问乙")

    @cached_property
    def colleague(self) -> Consultant:
        """Consultant C: receives A's handoff."""
        return self.world.operating_consultant(name="顾问丙")

    @cached_property
    def pending_consultant(self) -> Consultant:
        """Someone who applied and waits for approval (admin actions act on him, not on A)."""
        return self.world.apply(name="待审顾问")

    def staff(self, role: str, developer_id: int | None = None) -> Staff:
        """One staff member per role, signed in to the JSON API; site staff work for developer DA."""
        key = f"{role}:{developer_id}"
        if key not in self._staff:
            from estate_platform.db import db
            from estate_platform.identity.models import StaffUser
            staff_id, username, password = self.world.staff(role)
            with self.app.app_context():
                user = db.session.get(StaffUser, staff_id)
                if role == "site_staff" and developer_id is not None:
                    user.developer_id = developer_id
                    db.session.commit()
                developer = user.developer_id
            response = self.client.post("/admin/api/v1/auth/login", json={"username": username, "password": password})
            assert response.status_code == 200, response.get_json()
            self._staff[key] = Staff(staff_id, username, password, role, developer,
                                     {"Authorization": f"Bearer {response.get_json()['token']}"})
        return self._staff[key]

    @cached_property
    def site(self) -> Staff:
        """Site staff of developer DA, whose project holds A's registration."""
        return self.staff("site_staff")

    @cached_property
    def other_site(self) -> Staff:
        """Site staff of developer DB: no business with DA's projects."""
        return self.staff("site_staff", developer_id=self._new_developer("另一开发商"))

    def role(self, role: str) -> Staff:
        """A staff member of ``role``; site staff are DA's."""
        return self.site if role == "site_staff" else self.staff(role)

    @property
    def phones(self):
        """Fresh valid mobile numbers, one per ``next()``."""
        while True:
            yield self.world.next_buyer_phone()

    @cached_property
    def buyer_phone(self) -> str:
        """Buyer X, registered by A."""
        return self.world.next_buyer_phone()

    @cached_property
    def buyer(self) -> dict:
        self.registration_id  # X exists as A's client before he signs in
        return self.buyer_sign_in(self.buyer_phone)

    @cached_property
    def stranger_buyer(self) -> dict:
        """Buyer Y: signed in with an SMS code, nobody registered him."""
        return self.buyer_sign_in(self.world.next_buyer_phone())

    def sign_in_again(self) -> None:
        """Fresh tokens for A and every staff member, after an operation signed them out."""
        self.owner.token, _ = self.world.wechat_login(self.owner.openid)
        for key, staff in self._staff.items():
            response = self.client.post("/admin/api/v1/auth/login",
                                        json={"username": staff.username, "password": staff.password})
            if response.status_code == 200:
                staff.headers["Authorization"] = f"Bearer {response.get_json()['token']}"

    def buyer_sign_in(self, phone: str) -> dict:
        self._ip += 1
        sent = self.client.post(f"{oa.MP}/auth/sms/send", json={"phone": phone},
                                environ_base={"REMOTE_ADDR": f"10.77.0.{self._ip}"})
        assert sent.status_code == 200, sent.get_json()
        code = self.app.extensions["adapters"].sms.last_code("+86" + phone)
        response = self.client.post(f"{oa.MP}/auth/sms/verify", json={"phone": phone, "code": code})
        assert response.status_code == 200, response.get_json()
        return {"Authorization": f"Bearer {response.get_json()['token']}"}

    # --- objects ----------------------------------------------------------------------------------------

    def _new_developer(self, name: str) -> int:
        from estate_platform.db import db
        from estate_platform.projects.models import Developer
        with self.app.app_context():
            developer = Developer(name=f"{name}{uuid.uuid4().hex[:6]}", created_at=now())
            db.session.add(developer)
            db.session.commit()
            return developer.id

    @cached_property
    def developer_id(self) -> int:
        return self.site.developer_id

    @cached_property
    def project_id(self) -> int:
        """DA's project on sale, with a commission rule and a split policy (so deals can be recorded)."""
        # Its rule shows buyers' phones to DA's site staff in full: they may then reveal one (logged).
        project = self.world.project(developer_id=self.developer_id, phone_disclosure="full")
        self.world.commission_rule(project)
        self.world.split_policy()
        return project

    @cached_property
    def registration(self) -> dict:
        return self.world.register(self.owner, self.project_id, phone=self.buyer_phone, name="周先生")

    @cached_property
    def registration_id(self) -> int:
        return self.registration["id"]

    @cached_property
    def visit_id(self) -> int:
        response = self.client.post(f"{oa.MP}/registrations/{self.registration_id}/visits",
                                    json={"scheduled_at": (now() + timedelta(days=1)).isoformat()},
                                    headers=self.owner.auth)
        assert response.status_code == 201, response.get_json()
        return response.get_json()["id"]

    @cached_property
    def attachment_id(self) -> int:
        response = self.client.post(f"{oa.MP}/visits/{self.visit_id}/attachments", headers=self.owner.auth,
                                    content_type="multipart/form-data",
                                    data={"file": (BytesIO(PNG), "来访确认单.png", "image/png")})
        assert response.status_code == 201, response.get_json()
        return response.get_json()["id"]

    @cached_property
    def link_id(self) -> int:
        response = self.client.post(f"{oa.MP}/invite-links", headers=self.owner.auth,
                                    json={"channel": "moments", "project_id": self.project_id})
        assert response.status_code == 201, response.get_json()
        return response.get_json()["id"]

    @cached_property
    def client_id(self) -> int:
        """X's card in A's client book (registering him made it)."""
        self.registration_id
        page = self.client.get(f"{oa.MP}/clients", headers=self.owner.auth).get_json()
        [card] = page["items"]
        return card["id"]

    @cached_property
    def notification_id(self) -> int:
        """A's notice that X's registration was accepted."""
        self.registration_id
        page = self.client.get(f"{oa.MP}/notifications", headers=self.owner.auth).get_json()
        assert page["items"], page
        return page["items"][0]["id"]

    @cached_property
    def handoff_id(self) -> int:
        """A handoff A offered to colleague C (C accepts or declines, A may cancel)."""
        response = self.client.post(f"{oa.MP}/handoffs", headers=self.owner.auth, json={
            "project_id": self.project_id, "buyer_name": "转介客户", "buyer_phone": self.world.next_buyer_phone(),
            "to_consultant_id": self.colleague.id})
        assert response.status_code == 201, response.get_json()
        return response.get_json()["id"]

    @cached_property
    def dispute_id(self) -> int:
        """A's complaint that developer DA sold buyer X without the platform (跑单): A is its claimant."""
        response = self.client.post(f"{oa.MP}/disputes", headers=self.owner.auth, json={
            "registration_id": self.registration_id, "against": "developer", "subject": "开发商跑单",
            "summary": "客户已在案场直接认购"})
        assert response.status_code == 201, response.get_json()
        return response.get_json()["id"]

    @cached_property
    def deal_id(self) -> int:
        """A deal of another buyer A registered in DA's project, recorded by DA's site staff."""
        phone = self.world.register(self.owner, self.project_id)["buyer_phone"]
        response = self.client.post("/admin/api/v1/deals", headers=self.site.headers, json={
            "project_id": self.project_id, "buyer_phone": phone, "unit": "1-1-101", "price_cents": 300_000_000,
            "subscribed_on": now().astimezone(SHANGHAI).date().isoformat()})
        assert response.status_code == 201, response.get_json()
        return response.get_json()["id"]

    @cached_property
    def deal_request_id(self) -> int:
        """DA's site staff asked to cancel another deal of A's buyers: a request platform staff decide
        and A may object to."""
        phone = self.world.register(self.owner, self.project_id)["buyer_phone"]
        deal = self.client.post("/admin/api/v1/deals", headers=self.site.headers, json={
            "project_id": self.project_id, "buyer_phone": phone, "unit": "1-1-102", "price_cents": 300_000_000,
            "subscribed_on": now().astimezone(SHANGHAI).date().isoformat()})
        assert deal.status_code == 201, deal.get_json()
        response = self.client.post(f"/admin/api/v1/deals/{deal.get_json()['id']}/cancel", headers=self.site.headers,
                                    json={"reason": "客户退房"})
        assert response.status_code == 202, response.get_json()
        return response.get_json()["id"]

    @cached_property
    def customer_id(self) -> int:
        """An existing customer (老客户) DA's site staff marked in DA's project."""
        response = self.client.post(f"/admin/api/v1/projects/{self.project_id}/existing-customers",
                                    headers=self.site.headers, json={"phone": self.world.next_buyer_phone()})
        assert response.status_code == 201, response.get_json()
        return response.get_json()["id"]

    @cached_property
    def staff_id(self) -> int:
        """A staff member other than the callers (an admin may not change himself)."""
        return self.world.staff("operations")[0]

    @cached_property
    def revisit_id(self) -> int:
        """A revisit call about A's deal (the scheduler sampled it), due now."""
        from estate_platform.db import db
        from estate_platform.revisits import rules, services as revisits
        from estate_platform.revisits.models import Revisit
        deal_id = self.deal_id
        with self.app.app_context():
            revisits.schedule(db.session, now=now(), settings=rules.Settings(deal_sample_bps=10_000), sample_key=b"scene")
            revisit = db.session.scalar(select(Revisit).where(Revisit.kind == "deal_sample", Revisit.subject_id == deal_id))
            revisit.due_at = now() - timedelta(hours=1)
            db.session.commit()
            return revisit.id

    @cached_property
    def upload_id(self) -> int:
        """A sales list of the project (销售台账对账), reconciled: X bought directly."""
        from io import BytesIO
        lines = ["客户姓名,联系电话,房号,成交总价（元）,签约日期,成交渠道",
                 f"周先生,{self.buyer_phone},1-1-901,3000000,{now().date().isoformat()},自然到访"]
        response = self.client.post("/admin/api/v1/reconciliations", headers=self.role("operations").headers,
                                    content_type="multipart/form-data", data={
                                        "project_id": str(self.project_id), "period_from": "2026-01-01",
                                        "period_to": now().date().isoformat(),
                                        "file": (BytesIO("\n".join(lines).encode()), "台账.csv")})
        assert response.status_code == 201, response.get_json()
        return response.get_json()["id"]

    @cached_property
    def risk_flag_id(self) -> int:
        """A 防截客 flag about A's registration of X, as the nightly risk job raises it."""
        from estate_platform.db import db
        from estate_platform.registrations.models import Registration
        from estate_platform.risk.models import RiskFlag
        with self.app.app_context():
            registration = db.session.get(Registration, self.registration_id)
            flag = RiskFlag(kind="anti_interception", subject_key=f"scene:{registration.id}",
                            project_id=registration.project_id, consultant_id=registration.consultant_id,
                            buyer_id=registration.buyer_id, registration_id=registration.id, score=90,
                            reason_zh="登记后 2 分钟即确认到访（阈值 10 分钟）", evidence={"registration_id": registration.id},
                            occurred_at=now(), status="open", created_at=now(), updated_at=now())
            db.session.add(flag)
            db.session.commit()
            return flag.id

    def _bought_line_request(self, unit: str) -> int:
        """A's buy-back request on his line of a new signed deal in DA's project (佣金垫付, issue 13)."""
        phone = self.world.register(self.owner, self.project_id)["buyer_phone"]
        deal = self.client.post("/admin/api/v1/deals", headers=self.site.headers, json={
            "project_id": self.project_id, "buyer_phone": phone, "unit": unit, "price_cents": 300_000_000,
            "subscribed_on": now().astimezone(SHANGHAI).date().isoformat()})
        assert deal.status_code == 201, deal.get_json()
        deal_id = deal.get_json()["id"]
        signed = self.client.post(f"/admin/api/v1/deals/{deal_id}/stage", headers=self.role("finance").headers,
                                  json={"stage": "signed"})
        assert signed.status_code == 200, signed.get_json()
        lines = self.client.get(f"{oa.MP}/deals/{deal_id}/commission", headers=self.owner.auth).get_json()["lines"]
        quote = self.client.post(f"{oa.MP}/buyback/quotes", headers=self.owner.auth,
                                 json={"line_ids": [lines[0]["id"]]})
        assert quote.status_code == 201, quote.get_json()
        request = self.client.post(f"{oa.MP}/buyback/requests", headers=self.owner.auth,
                                   json={"quote_id": quote.get_json()["id"]})
        assert request.status_code == 201, request.get_json()
        return request.get_json()["id"]

    @cached_property
    def buyback_request_id(self) -> int:
        """A's buy-back request awaiting finance."""
        return self._bought_line_request("1-1-301")

    @cached_property
    def buyback_package_id(self) -> int:
        """A collection package (打包) of DA holding A's bought line."""
        finance = self.role("finance").headers
        self.client.put("/admin/api/v1/buyback/settings", headers=finance, json={"second_approver_cents": 10 ** 12})
        request_id = self._bought_line_request("1-1-302")
        approved = self.client.post(f"/admin/api/v1/buyback/requests/{request_id}/approve", headers=finance, json={})
        assert approved.status_code == 200 and approved.get_json()["status"] == "approved", approved.get_json()
        package = self.client.post("/admin/api/v1/buyback/packages", headers=finance,
                                   json={"developer_id": self.developer_id})
        assert package.status_code == 201, package.get_json()
        return package.get_json()["id"]

    @cached_property
    def collection_id(self) -> int:
        """A payment from DA recorded by finance (回款, issue 12); DA owes nothing yet, so it is unapplied."""
        response = self.client.post("/admin/api/v1/collections", headers=self.role("finance").headers, json={
            "developer_id": self.developer_id, "amount_cents": 100_000, "bank_reference": f"SCENE-{uuid.uuid4().hex[:8]}",
            "received_on": now().astimezone(SHANGHAI).date().isoformat()})
        assert response.status_code == 201, response.get_json()
        return response.get_json()["id"]

    @cached_property
    def buyer_id(self) -> int:
        """Buyer X (registered by A)."""
        from estate_platform.db import db
        from estate_platform.identity.models import Buyer
        self.registration_id
        with self.app.app_context():
            return db.session.scalar(select(Buyer.id).where(Buyer.phone == "+86" + self.buyer_phone))

    @cached_property
    def erasure_request_id(self) -> int:
        """Another buyer of A asked to be erased (operations recorded it); still pending."""
        from estate_platform.db import db
        from estate_platform.identity.models import Buyer
        phone = self.world.register(self.owner, self.project_id)["buyer_phone"]
        with self.app.app_context():
            buyer_id = db.session.scalar(select(Buyer.id).where(Buyer.phone == "+86" + phone))
        response = self.client.post(f"/admin/api/v1/buyers/{buyer_id}/erasure", json={"note": "客户来电"},
                                    headers=self.role("operations").headers)
        assert response.status_code == 201, response.get_json()
        return response.get_json()["id"]

    @cached_property
    def account_id(self) -> int:
        """A's payout account, waiting for its SMS code (issue 12)."""
        from estate_platform.consultants.models import Consultant as ConsultantRow
        from estate_platform.db import db
        with self.app.app_context():
            name = db.session.get(ConsultantRow, self.owner.id).name
        response = self.client.post(f"{oa.MP}/payout-accounts", headers=self.owner.auth, json={
            "holder_name": name, "bank_name": "招商银行", "account_number": "6225880100001111",
            "id_number": "11010519491231002X"})
        assert response.status_code == 201, response.get_json()
        return response.get_json()["id"]

    @cached_property
    def buyer_account_id(self) -> int:
        """Buyer X's payout account for his 老带新 rewards, waiting for its SMS code."""
        response = self.client.post(f"{oa.MP}/buyer/payout-accounts", headers=self.buyer, json={
            "holder_name": "老业主", "bank_name": "农业银行", "account_number": "6228480000002222",
            "id_number": "11010519491231002X"})
        assert response.status_code == 201, response.get_json()
        return response.get_json()["id"]

    @cached_property
    def batch_id(self) -> int:
        """A settlement batch prepared by finance holding one item for A (A's statement)."""
        from estate_platform.db import db
        from estate_platform.ledger import services as ledger
        from estate_platform.settlement import batches
        from estate_platform.settlement.models import PayoutAccount
        account_id = self.account_id
        with self.app.app_context():
            account = db.session.get(PayoutAccount, account_id)
            account.status, account.verified_at = "verified", now() - timedelta(days=2)
            account.payable_from = now() - timedelta(days=1)
            ledger.post(db.session, ledger.Entry("scene-settlement-credit", "test_credit", "场景入账", (
                ledger.Leg("consultant", self.owner.id, "available", -300_000),
                ledger.Leg("platform", 0, "revenue", 300_000))), now=now())
            db.session.commit()
        # Prepared by a second finance user (the maker), so that the scene's finance user may approve it.
        maker = self.staff("finance", developer_id=-1)
        response = self.client.post("/admin/api/v1/settlements", headers=maker.headers,
                                    json={"idempotency_key": "scene-batch-0001"})
        assert response.status_code in (200, 201), response.get_json()
        with self.app.app_context():
            assert batches.items_of(db.session, response.get_json()["id"])[1] >= 1
        return response.get_json()["id"]

    @cached_property
    def item_id(self) -> int:
        """A's statement (his item in the scene's batch)."""
        from estate_platform.db import db
        from estate_platform.settlement.models import SettlementItem
        batch_id = self.batch_id
        with self.app.app_context():
            return db.session.scalar(select(SettlementItem.id).where(SettlementItem.batch_id == batch_id,
                                                                     SettlementItem.party_id == self.owner.id))

    @cached_property
    def export_job_id(self) -> int:
        """A background export of registrations started by operations (后台导出), done (tasks run eagerly)."""
        response = self.client.post("/admin/api/v1/export-jobs", headers=self.role("operations").headers,
                                    json={"kind": "registrations"})
        assert response.status_code == 202, response.get_json()
        return response.get_json()["id"]

    # --- path parameters ---------------------------------------------------------------------------------

    OBJECTS = ("registration_id", "visit_id", "attachment_id", "link_id", "client_id", "notification_id",
               "handoff_id", "deal_id", "customer_id", "project_id", "developer_id", "staff_id", "dispute_id")
    OBJECTS += ("revisit_id",)  # revisits (回访)
    OBJECTS += ("upload_id",)  # sales-list reconciliation (销售对账)
    OBJECTS += ("risk_flag_id",)  # risk flags (风控预警)
    OBJECTS += ("deal_request_id",)  # deal change requests (maker-checker, issue 15)
    OBJECTS += ("collection_id",)  # collections from developers (回款, issue 12)
    OBJECTS += ("buyback_request_id", "buyback_package_id")  # buy-back (佣金垫付, issue 13)
    OBJECTS += ("buyer_id", "erasure_request_id")  # buyers' personal data (issue 15 §1)
    OBJECTS += ("account_id", "buyer_account_id", "batch_id", "item_id")  # settlement (结算, issue 12)
    OBJECTS += ("export_job_id",)  # export jobs (后台导出, issue 13 §3)

    def value(self, name: str, prefix: str):
        """The real object a path parameter called ``name`` names in this scene."""
        if name == "consultant_id":
            # The mini-program reads A's own card; admin actions act on someone who is not A.
            return self.owner.id if prefix == oa.MP else self.pending_consultant.id
        if name in self.OBJECTS:
            return getattr(self, name)
        raise AssertionError(f"no real object is known for path parameter {name!r}: "
                             f"teach Scene in {__file__} to make one")

    def url(self, op: oa.Operation, fixed: dict | None = None) -> str:
        values = dict(fixed or {})
        for param in op.path_parameters:
            if param["name"] not in values:
                values[param["name"]] = self.value(param["name"], op.prefix)
        return oa.fill_path(op.path, values)

    def make_all(self) -> None:
        """Every object at once (tests that need the whole world before they snapshot it)."""
        for name in (*self.OBJECTS, "pending_consultant", "intruder", "colleague", "other_site", "buyer",
                     "stranger_buyer"):
            getattr(self, name)
        for role in STAFF_ROLES:  # signed in now, before any test makes the sign-in throttle wary
            self.role(role)


def buyer_operation(op: oa.Operation) -> bool:
    """Mini-program operations whose caller is a buyer signed in by SMS (the H5 pages), not a consultant."""
    return op.prefix == oa.MP and op.path.startswith((f"{oa.MP}/buyer/", f"{oa.MP}/auth/sms/"))


# Operations on A's objects that someone else rightly performs: C receives A's handoff.
RECEIVER_OPERATIONS = {
    f"POST {oa.MP}/handoffs/{{handoff_id}}/accept": "colleague",
    f"POST {oa.MP}/handoffs/{{handoff_id}}/decline": "colleague",
}


def rightful_caller(op: oa.Operation) -> str:
    """Who rightly calls a mini-program operation in the scene: ``owner`` (A), ``colleague`` (C) or ``buyer`` (X)."""
    if buyer_operation(op):
        return "buyer"
    return RECEIVER_OPERATIONS.get(str(op), "owner")


# --- the database, fingerprinted --------------------------------------------------------------------------

def database_digest(app) -> dict[str, str]:
    """Per table: its row count and a hash of every row in primary-key order. Two equal
    digests mean nothing was inserted, updated or deleted in between."""
    from estate_platform.db import db
    from estate_platform.models import metadata
    digest = {}
    with app.app_context():
        for table in metadata.sorted_tables:
            rows = db.session.execute(select(table).order_by(*table.primary_key.columns)).all()
            digest[table.name] = f"{len(rows)} rows, sha256 {hashlib.sha256(repr(rows).encode()).hexdigest()[:16]}"
        db.session.rollback()
    return digest


def changed_tables(before: dict[str, str], after: dict[str, str]) -> dict[str, tuple[str, str]]:
    return {table: (before[table], after.get(table)) for table in before if before[table] != after.get(table)}


# --- roles declared on the admin views ---------------------------------------------------------------------

def view_roles(app, op: oa.Operation) -> tuple[str, ...]:
    """The roles the admin view behind ``op`` declares (``api_roles`` sets ``allowed_roles``)."""
    sample = {p["name"]: p["schema"]["enum"][0] if "enum" in p.get("schema", {}) else 1 for p in op.path_parameters}
    endpoint, _ = app.url_map.bind("localhost").match(oa.fill_path(op.path, sample), method=op.method.upper())
    view = app.view_functions[endpoint]
    view_class = getattr(view, "view_class", None)
    handler = getattr(view_class, op.method, view)
    roles = getattr(handler, "allowed_roles", None) or getattr(view_class, "allowed_roles", None)
    assert roles, f"{op}: its view declares no roles"
    assert set(roles) <= set(STAFF_ROLES), f"{op}: unknown roles {roles}"
    return tuple(roles)


def documents_and_roles() -> tuple[dict[str, dict], dict[str, tuple[str, ...]]]:
    """Both OpenAPI documents and, per admin operation (``"GET /admin/api/v1/…"``), the roles
    its view declares: from a throwaway app, at collection time, to parametrize tests."""
    import tempfile
    from pathlib import Path

    from tests.conftest import make_app
    with tempfile.TemporaryDirectory() as tmp:
        app = make_app(f"sqlite:///{tmp}/collect.db", Path(tmp) / "instance")
        client = app.test_client()
        specs = {prefix: oa.load_spec(client, prefix) for prefix in oa.PREFIXES}
        roles = {str(op): view_roles(app, op) for op in oa.operations(specs[oa.ADMIN], oa.ADMIN)}
        from estate_platform.db import db
        with app.app_context():
            db.engine.dispose()
    return specs, roles
