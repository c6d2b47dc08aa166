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

from sqlalchemy import Connection, Integer, Row, bindparam, case, exists, func, literal_column, select
from sqlalchemy.orm import Session, scoped_session

from ..clock import start_of_local_day
from ..consultants.guard import TokenCaller, operating_brief, signed_current_agreement
from ..consultants.models import Consultant
from ..credit import rules as credit_rules
from ..crm.models import ClientCard
from ..db import RawStatement
from ..evidence.models import EvidenceRecord
from ..identity.models import Buyer, StaffUser, WechatUser
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
    consultant: object = None  # the registering consultant (``guard.BriefConsultant`` on the request path)
    registration_id: int | None = None  # pre-allocated (PostgreSQL request path): the one INSERT's
    new_buyer_id: int | None = None  # pre-allocated for a buyer never seen (PostgreSQL request path)


_P, _B, _R = Project.__table__, Buyer.__table__, Registration.__table__
# What the rules (projects.services.require_accepting and ``_refuse``) and the response read: a
# narrow row, not the whole project (a wide row costs more to read than its statement).
_PROJECT_COLUMNS = ("id", "name", "city", "district", "status", "cooperation_start", "cooperation_end",
                    "protection_mode", "visit_window_hours", "deal_window_hours", "notify_buyer_on_registration",
                    "daily_buyer_project_limit", "reregister_cooldown_hours",
                    "daily_consultant_registration_cap_low_credit")


def _situation_statement(low_credit: bool | None, *, by_caller: bool = False, dialect_name: str = ""):
    """The one SELECT of ``situation``, built once per variant (bound parameters: ``project_id``,
    ``phone``, ``consultant_id``, ``day_start``). Each check is a correlated subquery on an index
    (``uq_registrations_binding_project_buyer``, ``uq_registrations_open_per_consultant``,
    ``ix_registrations_buyer_id_created_at``, ``ix_registrations_expired_project_buyer``), in the
    generic plan of the prepared statement too (``tests/integration/test_registration_plans.py``),
    so its cost does not grow with the table (benchmarks/scale.py).

    ``by_caller`` (the request path, ``situation_of_caller``): the caller is read in the same
    statement from his token's ``user_id`` instead of ``consultant_id`` (the WeChat user, his
    consultant row, whether he signed the current agreement: ``consultants.guard``), and the
    consultant's count today only when his rating is low (``low_credit`` None: a ``CASE``, whose
    subquery PostgreSQL runs only for that branch). On PostgreSQL it also takes the new
    registration's id and, for a buyer never seen, the buyer's from their sequences: the evidence
    record's hash needs the registration's id before the one INSERT statement writes them all."""
    r = _R.c
    phone, day_start = bindparam("phone"), bindparam("day_start")
    # The partial indexes' predicates written as the indexes have them, never as bound parameters:
    # PostgreSQL's cached (generic) plan of a prepared statement may use a partial index only when
    # the query's own text implies its predicate. With ``binding IS true`` and ``status = $5`` the
    # generic plan scanned every registration of the project (or of the consultant there), and a
    # registration's time grew with the project's registrations (issue 16 §1, found under load).
    expired = r.status == literal_column("'expired'")
    if by_caller:
        user, consultant = WechatUser.__table__.c, Consultant.__table__.c
        consultant_id = consultant.id
    else:
        consultant_id = bindparam("consultant_id")
    same = (r.project_id == _P.c.id, r.buyer_id == _B.c.id)
    columns = [*(_P.c[name] for name in _PROJECT_COLUMNS),
               _B.c.id.label("buyer_id"), _B.c.evidence_key.label("buyer_key"),
               exists().where(StaffUser.__table__.c.phone == phone).label("is_staff"),
               exists().where(ExistingCustomer.__table__.c.project_id == _P.c.id,
                              ExistingCustomer.__table__.c.phone == phone).label("known"),
               select(r.protected_until).where(*same, r.binding).limit(1)
               .scalar_subquery().label("bound"),
               select(r.protected_until).where(*same, r.consultant_id == consultant_id, r.status.in_(OPEN_STATUSES))
               .limit(1).scalar_subquery().label("own_open"),
               select(func.count(func.distinct(r.project_id))).where(
                   r.buyer_id == _B.c.id, r.created_at >= day_start, r.project_id != _P.c.id)
               .scalar_subquery().label("projects_today"),
               select(func.max(r.ended_at)).where(*same, r.consultant_id == consultant_id, expired)
               .scalar_subquery().label("last_expired")]
    consultant_today = (select(func.count()).select_from(_R).where(
        r.consultant_id == consultant_id, r.project_id == _P.c.id, r.created_at >= day_start).scalar_subquery())
    if low_credit is None:
        columns.append(case((consultant.rating < credit_rules.LOW_CREDIT_THRESHOLD, consultant_today))
                       .label("consultant_today"))
    elif low_credit:
        columns.append(consultant_today.label("consultant_today"))
    if not by_caller:
        return (select(*columns).select_from(_P.outerjoin(_B, _B.c.phone == phone))
                .where(_P.c.id == bindparam("project_id")))
    columns += [user.token_version, consultant.id.label("consultant_id"),
                consultant.status.label("consultant_status"), consultant.phone.label("consultant_phone"),
                consultant.rating, signed_current_agreement(consultant.id).label("signed")]
    if dialect_name == "postgresql":
        columns += [_nextval(_R).label("registration_id"),
                    case((_B.c.id.is_(None), _nextval(_B))).label("new_buyer_id")]
    source = (WechatUser.__table__.outerjoin(Consultant.__table__, consultant.wechat_user_id == user.id)
              .outerjoin(_P, _P.c.id == bindparam("project_id")).outerjoin(_B, _B.c.phone == phone))
    return select(*columns).select_from(source).where(user.id == bindparam("user_id"))


def _nextval(table):
    """The next id of ``table``'s ``id`` sequence (the serial's own, ``<table>_id_seq``)."""
    return literal_column(f"nextval('{table.name}_id_seq')", type_=Integer)


_SITUATION = {low: _situation_statement(low) for low in (False, True)}


def situation(session: Session, project_id: int, phone: str, consultant: Consultant,
              now: datetime) -> Situation:
    """The project, the buyer of ``phone`` (if known) and every count and window the rules
    compare, as one statement (``_situation_statement``), for a consultant already checked
    (a service registering on his behalf: a handoff, an invite link)."""
    low_credit = credit_rules.is_low(consultant.rating)
    row = statements(session).situation[low_credit].first(session.connection(), {
        "project_id": project_id, "phone": phone, "consultant_id": consultant.id,
        "day_start": start_of_local_day(now)})
    if row is None:
        raise ProjectNotFound()
    return _situation(row, consultant, consultant_today=row.consultant_today if low_credit else None)


def situation_of_caller(session: Session, project_id: int, phone: str, caller: TokenCaller,
                        now: datetime) -> Situation:
    """``situation`` and the caller in one statement (the request path, issue 16 §1): the guard
    (``consultants.guard.operating_brief``: 401, 404, 403 in its order) runs on the caller's
    values before the project is looked at, as when the caller was read alone first."""
    connection = request_connection(session)
    row = statements(connection).situation_of_caller.first(connection, {
        "user_id": caller.user_id, "project_id": project_id, "phone": phone, "day_start": start_of_local_day(now)})
    consultant = operating_brief(caller, row)
    if row.id is None:
        raise ProjectNotFound()
    return _situation(row, consultant, consultant_today=row.consultant_today,
                      registration_id=getattr(row, "registration_id", None),
                      new_buyer_id=getattr(row, "new_buyer_id", None))


_AUTOCOMMIT = {"isolation_level": "AUTOCOMMIT"}


def request_connection(session: Session) -> Connection:
    """The connection the request path runs on. On PostgreSQL, when the request has not begun a
    transaction yet (it has not: the guard reads the caller in the situation SELECT), in
    autocommit (issue 16 §1): the situation SELECT reads in its own snapshot, as it would in a
    READ COMMITTED transaction, and the one INSERT statement is its own transaction (all of its
    rows or none), so the request makes two round trips after the pool's ping instead of four
    (``BEGIN``, the SELECT, the INSERT, ``COMMIT``). A refusal's attempt row (``risk.attempts``)
    is kept as ever: it commits with its INSERT. The step-by-step way after a lost race opens a
    transaction first (``begin_steps``). The connection is back in transactional mode when the
    session returns it to the pool (SQLAlchemy resets the isolation level it set)."""
    own = session() if isinstance(session, scoped_session) else session  # Flask-SQLAlchemy's is scoped
    if own.in_transaction() or own.get_bind().dialect.name != "postgresql":
        return own.connection()
    return own.connection(execution_options=_AUTOCOMMIT)


def begin_steps(connection: Connection) -> None:
    """Before the step-by-step way writes several statements: a transaction, so that they
    commit together (or not at all) even on ``request_connection``'s autocommit connection."""
    if connection.get_execution_options().get("isolation_level") == "AUTOCOMMIT":
        connection.exec_driver_sql("BEGIN")


def _situation(row, consultant, **more) -> Situation:
    return Situation(project=row, consultant=consultant, buyer_id=row.buyer_id, buyer_key=row.buyer_key,
                     is_staff=bool(row.is_staff), known_to_developer=bool(row.known), bound_until=row.bound,
                     own_open_until=row.own_open, projects_today=row.projects_today or 0,
                     last_expired=row.last_expired, **more)


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
        self.situation_of_caller = RawStatement(
            _situation_statement(None, by_caller=True, dialect_name=dialect.name), dialect,
            ("user_id", "project_id", "phone", "day_start"))
        self.together = None
        if dialect.name == "postgresql":
            together = notification.add_cte(evidence.cte("evidence")).add_cte(card.cte("card"))
            self.trailing = (RawStatement(together, dialect, trailing),)
            self.together = {new_buyer: self._together(dialect, dialect_insert, new_buyer)
                             for new_buyer in (False, True)}
        else:
            self.trailing = tuple(RawStatement(statement, dialect, trailing) for statement in (evidence, card,
                                                                                                notification))

    @staticmethod
    def _together(dialect, dialect_insert, new_buyer: bool) -> RawStatement:
        """PostgreSQL: the whole accepted registration as ONE statement, keyed by the ids the
        situation SELECT took from the sequences: the buyer (when new: ``ON CONFLICT (phone) DO
        NOTHING``), the registration (``ON CONFLICT DO NOTHING``, inserted only from the buyer's
        CTE when he is new), and from the registration's CTE the evidence record, the client card
        and the notification, whose id it returns. A race lost on either index inserts none of
        them and returns no row (``services.register`` then takes the step-by-step way)."""
        evidence_table, card_table = EvidenceRecord.__table__, ClientCard.__table__
        notification_table = Notification.__table__
        registration_binds = _bound(_R, "r", ("id", *REGISTRATION_COLUMNS))
        names = list(registration_binds)
        ctes = []
        if new_buyer:
            buyer_values = {**_bound(_B, "b", ("id", *BUYER_COLUMNS)),
                            "token_version": _B.c.token_version.default.arg}  # a CTE's defaults are not filled in
            buyer = (dialect_insert(_B).values(buyer_values)
                     .on_conflict_do_nothing(index_elements=["phone"]).returning(_B.c.id).cte("buyer"))
            registration_binds["buyer_id"] = buyer.c.id
            source = select(*registration_binds.values()).select_from(buyer)
            ctes.append(buyer)
        else:
            source = select(*registration_binds.values())
        registration = (dialect_insert(_R).from_select(names, source).on_conflict_do_nothing()
                        .returning(_R.c.id).cte("registration"))

        def each_registered(table, prefix, columns):
            return select(*_bound(table, prefix, columns).values()).select_from(registration)

        evidence = evidence_table.insert().from_select(
            list(_EVIDENCE_COLUMNS), each_registered(evidence_table, "e", _EVIDENCE_COLUMNS)).cte("evidence")
        card = dialect_insert(card_table).from_select(
            list(_CARD_COLUMNS), each_registered(card_table, "c", _CARD_COLUMNS)).on_conflict_do_nothing(
            index_elements=["consultant_id", "buyer_id"]).cte("card")
        notification = notification_table.insert().from_select(
            list(_NOTIFICATION_COLUMNS), each_registered(notification_table, "n", _NOTIFICATION_COLUMNS)
        ).returning(notification_table.c.id)
        for cte in (*ctes, registration, evidence, card):
            notification = notification.add_cte(cte)
        runtime = (tuple(f"r_{name}" for name in ("id", *REGISTRATION_COLUMNS) if not (new_buyer and name == "buyer_id"))
                   + (tuple(f"b_{name}" for name in ("id", *BUYER_COLUMNS)) if new_buyer else ())
                   + tuple(f"e_{name}" for name in _EVIDENCE_COLUMNS) + tuple(f"c_{name}" for name in _CARD_COLUMNS)
                   + tuple(f"n_{name}" for name in _NOTIFICATION_COLUMNS))
        return RawStatement(notification, dialect, runtime)

    def write_trailing(self, connection, params: dict) -> int:
        """The evidence record, the client card and the notification; the notification's id."""
        *before, last = self.trailing
        for statement in before:
            statement.rows(connection, params)
        return last.scalar(connection, params)


_STATEMENTS: dict[str, _Statements] = {}


def statements(session: Session | Connection) -> _Statements:
    """The path's statements for the dialect of ``session`` or of a ``Connection`` (cheaper: the
    session's ``get_bind`` is a lookup per call)."""
    dialect = session.dialect if isinstance(session, Connection) else session.get_bind().dialect
    found = _STATEMENTS.get(dialect.name)
    if found is None:
        found = _STATEMENTS[dialect.name] = _Statements(dialect)
    return found


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


