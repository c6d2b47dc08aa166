"""The registration path's prebuilt statements (报备, issue 16 §1).

Everything ``services.register`` runs on the database, built once per process (per dialect):
the one SELECT of the project and every rule's values (``situation``), the buyer's and the
registration's ``INSERT … ON CONFLICT DO NOTHING RETURNING`` and the trailing INSERTs of the
evidence record, the client card and the notification (``statements``); and the records the
response is built from (``Registered``, ``BuyerBrief``), from values at hand, not read back.
The rules themselves and the life of a registration stay in ``services``.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Row, bindparam, exists, func, select
from sqlalchemy.orm import Session

from ..clock import start_of_local_day
from ..consultants.models import Consultant
from ..credit import rules as credit_rules
from ..crm.models import ClientCard
from ..db import RawStatement
from ..evidence.models import EvidenceRecord
from ..identity.models import Buyer, StaffUser
from ..notifications.models import Notification
from ..projects.models import ExistingCustomer, Project
from ..projects.services import ProjectNotFound
from .models import OPEN_STATUSES, Registration


@dataclass
class Situation:
    """Everything the rules need to judge one registration, read in one SELECT (issue 16 §1)."""
    project: Row  # the project's columns the rules and the response read (``_PROJECT_COLUMNS``)
    buyer_id: int | None
    buyer_key: str | None  # the buyer's evidence key
    is_staff: bool
    known_to_developer: bool
    bound_until: datetime | None  # the binding registration's protection end (anyone's)
    own_open_until: datetime | None  # this consultant's open registration of the buyer
    projects_today: int  # other projects the buyer was registered for this Shanghai day
    last_expired: datetime | None  # this consultant's last expired registration of the buyer here
    consultant_today: int | None  # this consultant's registrations here today (only when credit is low)


_P, _B, _R = Project.__table__, Buyer.__table__, Registration.__table__
# What the rules (projects.services.require_accepting and ``_refuse``) and the response read: a
# narrow row, not the whole project (a wide row costs more to read than its statement).
_PROJECT_COLUMNS = ("id", "name", "city", "district", "status", "cooperation_start", "cooperation_end",
                    "protection_mode", "visit_window_hours", "deal_window_hours", "notify_buyer_on_registration",
                    "daily_buyer_project_limit", "reregister_cooldown_hours",
                    "daily_consultant_registration_cap_low_credit")


def _situation_statement(low_credit: bool):
    """The one SELECT of ``situation``, built once per variant (bound parameters: ``project_id``,
    ``phone``, ``consultant_id``, ``day_start``). Each check is a correlated subquery on an index
    (``uq_registrations_binding_project_buyer``, ``uq_registrations_open_per_consultant``,
    ``ix_registrations_buyer_id_created_at``, ``ix_registrations_consultant_project_created``),
    so its cost does not grow with the table (benchmarks/scale.py)."""
    r = _R.c
    phone, consultant_id, day_start = bindparam("phone"), bindparam("consultant_id"), bindparam("day_start")
    same = (r.project_id == _P.c.id, r.buyer_id == _B.c.id)
    columns = [*(_P.c[name] for name in _PROJECT_COLUMNS),
               _B.c.id.label("buyer_id"), _B.c.evidence_key.label("buyer_key"),
               exists().where(StaffUser.__table__.c.phone == phone).label("is_staff"),
               exists().where(ExistingCustomer.__table__.c.project_id == _P.c.id,
                              ExistingCustomer.__table__.c.phone == phone).label("known"),
               select(r.protected_until).where(*same, r.binding.is_(True)).limit(1)
               .scalar_subquery().label("bound"),
               select(r.protected_until).where(*same, r.consultant_id == consultant_id, r.status.in_(OPEN_STATUSES))
               .limit(1).scalar_subquery().label("own_open"),
               select(func.count(func.distinct(r.project_id))).where(
                   r.buyer_id == _B.c.id, r.created_at >= day_start, r.project_id != _P.c.id)
               .scalar_subquery().label("projects_today"),
               select(func.max(r.ended_at)).where(*same, r.consultant_id == consultant_id, r.status == "expired")
               .scalar_subquery().label("last_expired")]
    if low_credit:
        columns.append(select(func.count()).select_from(_R).where(
            r.consultant_id == consultant_id, r.project_id == _P.c.id, r.created_at >= day_start)
            .scalar_subquery().label("consultant_today"))
    return (select(*columns).select_from(_P.outerjoin(_B, _B.c.phone == phone))
            .where(_P.c.id == bindparam("project_id")))


_SITUATION = {low: _situation_statement(low) for low in (False, True)}


def situation(session: Session, project_id: int, phone: str, consultant: Consultant,
              now: datetime) -> Situation:
    """The project, the buyer of ``phone`` (if known) and every count and window the rules
    compare, as one statement (``_situation_statement``)."""
    low_credit = credit_rules.is_low(consultant.rating)
    row = statements(session).situation[low_credit].first(session.connection(), {
        "project_id": project_id, "phone": phone, "consultant_id": consultant.id,
        "day_start": start_of_local_day(now)})
    if row is None:
        raise ProjectNotFound()
    return Situation(project=row, buyer_id=row.buyer_id, buyer_key=row.buyer_key, is_staff=bool(row.is_staff),
                     known_to_developer=bool(row.known), bound_until=row.bound, own_open_until=row.own_open,
                     projects_today=row.projects_today or 0, last_expired=row.last_expired,
                     consultant_today=row.consultant_today if low_credit else None)


def _bound(table, prefix: str, columns: tuple[str, ...]) -> dict:
    """``column = :<prefix>_<column>`` for each column: several INSERTs in one statement keep their
    parameters apart."""
    return {name: bindparam(f"{prefix}_{name}", type_=table.c[name].type) for name in columns}


def prefixed(prefix: str, values: dict) -> dict:
    return {f"{prefix}_{name}": value for name, value in values.items()}


_EVIDENCE_COLUMNS = ("subject_type", "subject_id", "seq", "event", "actor_type", "actor_id", "payload", "created_at",
                     "prev_hash", "hash")  # evidence.record_values
_CARD_COLUMNS = ("consultant_id", "buyer_id", "display_name", "created_at", "updated_at")
_NOTIFICATION_COLUMNS = ("consultant_id", "kind", "title", "body", "payload", "created_at")  # notification_values


#: The parameters of the buyer's and the registration's INSERTs (``services.register``).
BUYER_COLUMNS = ("phone", "name", "created_at", "evidence_key")
REGISTRATION_COLUMNS = ("project_id", "buyer_id", "consultant_id", "buyer_name", "note", "expected_visit_at", "status",
                        "binding", "protection_mode", "protected_until", "source_link_id", "referrer_consultant_id",
                        "handoff_id", "buyer_notice", "created_at", "updated_at")


class _Statements:
    """The path's statements, built once per dialect (``ON CONFLICT`` is the dialect's) and run as
    ``db.RawStatement`` on the session's DBAPI connection, in its transaction: nothing is compiled,
    flushed or loaded back per request beyond the ids, and none of SQLAlchemy's per-execution
    Python runs (issue 16 §1). On PostgreSQL the evidence record, the client card and the
    notification (independent rows) are one statement: two INSERTs as data-modifying CTEs of
    the third; SQLite has no such CTEs and runs the three."""

    def __init__(self, dialect):
        if dialect.name == "postgresql":
            from sqlalchemy.dialects.postgresql import insert as dialect_insert
        else:
            from sqlalchemy.dialects.sqlite import insert as dialect_insert
        evidence_table, card_table = EvidenceRecord.__table__, ClientCard.__table__
        notification_table = Notification.__table__
        self.situation = {low: RawStatement(statement, dialect, ("project_id", "phone", "consultant_id", "day_start"))
                          for low, statement in _SITUATION.items()}
        buyer = dialect_insert(_B).on_conflict_do_nothing(index_elements=["phone"]).returning(_B.c.id,
                                                                                              _B.c.evidence_key)
        self.buyer = RawStatement(buyer, dialect, BUYER_COLUMNS, column_keys=list(BUYER_COLUMNS))
        registration = dialect_insert(_R).on_conflict_do_nothing().returning(_R.c.id)
        self.registration = RawStatement(registration, dialect, REGISTRATION_COLUMNS,
                                         column_keys=list(REGISTRATION_COLUMNS))
        evidence = evidence_table.insert().values(_bound(evidence_table, "e", _EVIDENCE_COLUMNS))
        card = dialect_insert(card_table).values(_bound(card_table, "c", _CARD_COLUMNS)).on_conflict_do_nothing(
            index_elements=["consultant_id", "buyer_id"])  # crm.ensure_card as one statement
        notification = (notification_table.insert().values(_bound(notification_table, "n", _NOTIFICATION_COLUMNS))
                        .returning(notification_table.c.id))
        trailing = (tuple(f"e_{name}" for name in _EVIDENCE_COLUMNS) + tuple(f"c_{name}" for name in _CARD_COLUMNS)
                    + tuple(f"n_{name}" for name in _NOTIFICATION_COLUMNS))
        if dialect.name == "postgresql":
            together = notification.add_cte(evidence.cte("evidence")).add_cte(card.cte("card"))
            self.trailing = (RawStatement(together, dialect, trailing),)
        else:
            self.trailing = tuple(RawStatement(statement, dialect, trailing) for statement in (evidence, card,
                                                                                                notification))

    def write_trailing(self, connection, params: dict) -> int:
        """The evidence record, the client card and the notification; the notification's id."""
        *before, last = self.trailing
        for statement in before:
            statement.rows(connection, params)
        return last.scalar(connection, params)


_STATEMENTS: dict[str, _Statements] = {}


def statements(session: Session) -> _Statements:
    dialect = session.get_bind().dialect
    if dialect.name not in _STATEMENTS:
        _STATEMENTS[dialect.name] = _Statements(dialect)
    return _STATEMENTS[dialect.name]


@dataclass(frozen=True)
class BuyerBrief:
    id: int
    phone: str


@dataclass(frozen=True)
class Registered:
    """A registration just made, as the response shows it (the columns of ``Registration`` it was
    inserted with, its project's brief row and its buyer): built from values at hand, not read back."""
    id: int
    project: Row  # id, name, city, district …
    buyer: BuyerBrief
    consultant_id: int
    buyer_name: str
    note: str | None
    expected_visit_at: datetime | None
    binding: bool
    protection_mode: str
    protected_until: datetime
    source_link_id: int | None
    referrer_consultant_id: int | None
    handoff_id: int | None
    buyer_notice: str | None
    created_at: datetime
    status: str = "reported"
    ended_at: datetime | None = None
    end_reason: str | None = None

    @property
    def project_id(self) -> int:
        return self.project.id

    @property
    def buyer_id(self) -> int:
        return self.buyer.id


