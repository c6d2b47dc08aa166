"""Settlement batches (结算批次): prepare, approve with maker-checker (DESIGN §5, §7.10).

Prepare selects every consultant and buyer whose available balance less what he owes
reaches the minimum payout and whose verified payout account has passed its 24-hour wait,
nets clawbacks and penalties (owes), computes withholding for independents (monthly
aggregation) and writes one item per party, each with its idempotency key, in bulk.
Approve (a different finance user, refused by the service and by a CHECK) moves the money
in the ledger (available → in transit, owes netted, tax payable) for every item that may go
now; the gateway is called after the commit (``payouts.send_batch``).
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from types import SimpleNamespace

from sqlalchemy import and_, bindparam, func, select, text, update
from sqlalchemy.orm import Session

from ..clock import SHANGHAI, local_date, start_of_local_day
from ..consultants.models import Consultant
from ..db import advisory_lock, among, id_chunks, paginate
from ..errors import Conflict, Forbidden, NotFound, on_constraint
from ..identity.models import StaffUser
from ..ledger import services as ledger
from ..ledger.copy import copy_rows
from ..ledger.models import Account, Posting
from . import withholding
from .models import PayoutAccount, SettlementBatch, SettlementItem

LOCK_SETTLEMENT_PREPARE = 1_201
OPEN_ITEM_STATUSES = ("ready", "awaiting_invoice", "awaiting_second_approval")
COUNTED_FOR_TAX = ("ready", "awaiting_invoice", "awaiting_second_approval", "sending", "paid")


@dataclass(frozen=True)
class Limits:
    """Payout limits: minimum payout, per-payout and per-day platform maximum. What is in
    force is read in one place, ``limits.current`` (finance's setting, else the config)."""
    min_cents: int
    max_cents: int
    daily_max_cents: int


class BatchNotFound(NotFound):
    code, message = "settlement_not_found", "结算批次不存在"


@on_constraint("ck_settlement_batches_checker_not_maker", "ck_settlement_batches_second_checker_distinct")
class SelfApproval(Forbidden):
    code, message = "self_approval", "结算批次须由制单人以外的另一位财务人员审批（首次付款到新账户须第三人复核）"


class BatchNotApprovable(Conflict):
    code, message = "settlement_not_approvable", "该结算批次当前无需审批"


class DailyLimitExceeded(Conflict):
    code, message = "payout_daily_limit_exceeded", "超过平台单日付款上限，请分批或次日审批"


def month_of(now: datetime) -> str:
    return now.astimezone(SHANGHAI).strftime("%Y-%m")


def get_batch(session: Session, batch_id: int, *, lock: bool = False) -> SettlementBatch:
    query = select(SettlementBatch).where(SettlementBatch.id == batch_id)
    batch = session.scalar(query.with_for_update() if lock else query)
    if batch is None:
        raise BatchNotFound()
    return batch


def list_batches(session: Session, *, status: str | None, page: int, per_page: int):
    query = select(SettlementBatch)
    if status:
        query = query.where(SettlementBatch.status == status)
    return paginate(session, query, SettlementBatch.id.desc(), page=page, per_page=per_page)


def items_of(session: Session, batch_id: int, *, status: str | None = None, page: int = 1, per_page: int = 50):
    query = select(SettlementItem).where(SettlementItem.batch_id == batch_id)
    if status:
        query = query.where(SettlementItem.status == status)
    return paginate(session, query, SettlementItem.id, page=page, per_page=per_page)


def set_items(session: Session, ids: list[int], values: dict, per_row: dict[str, list] | None = None) -> None:
    """Set ``values`` (the same for every item) and ``per_row`` (one value per id, in the order of
    ``ids``) on the items ``ids``: one statement per id chunk (PostgreSQL: the ids and per-row
    values as arrays through ``unnest``), not one per item."""
    if not ids:
        return
    table = SettlementItem.__table__
    if not per_row:
        for chunk in id_chunks(session, ids):
            session.execute(update(table).where(among(session, table.c.id, chunk)).values(**values))
        return
    names = list(per_row)
    if session.get_bind().dialect.name == "postgresql":
        dialect = session.get_bind().dialect
        arrays = ", ".join(["CAST(:ids AS INTEGER[])"] + [
            f"CAST(:a_{name} AS {table.c[name].type.compile(dialect=dialect)}[])" for name in names])
        sets = ", ".join([f"{name} = :v_{name}" for name in values] + [f"{name} = u.{name}" for name in names])
        statement = text(f"UPDATE settlement_items SET {sets} FROM unnest({arrays}) AS u(id, {', '.join(names)}) "
                         "WHERE settlement_items.id = u.id").bindparams(
            *(bindparam(f"v_{name}", type_=table.c[name].type) for name in values))
        session.execute(statement, {"ids": list(ids), **{f"v_{name}": value for name, value in values.items()},
                                    **{f"a_{name}": list(column) for name, column in per_row.items()}})
        return
    statement = update(table).where(table.c.id == bindparam("b_id")).values(
        **values, **{name: bindparam(f"b_{name}") for name in names})
    session.execute(statement, [{"b_id": item_id, **{f"b_{name}": per_row[name][i] for name in names}}
                                for i, item_id in enumerate(ids)])


def _balances(session: Session) -> dict[tuple[str, int], dict[str, int]]:
    """Available (credit, as a positive amount) and owes of every consultant and buyer, one query."""
    rows = session.execute(
        select(Account.party_type, Account.party_id, Account.kind, func.sum(Posting.amount_cents))
        .join(Posting, Posting.account_id == Account.id)
        .where(Account.party_type.in_(("consultant", "buyer")), Account.kind.in_(("available", "owes")))
        .group_by(Account.party_type, Account.party_id, Account.kind))
    result: dict[tuple[str, int], dict[str, int]] = {}
    for party_type, party_id, kind, total in rows:
        entry = result.setdefault((party_type, party_id), {"available": 0, "owes": 0})
        entry[kind] = -int(total) if kind == "available" else int(total)
    return result


def _month_so_far(session: Session, month: str) -> dict[tuple[str, int], tuple[int, int]]:
    """Gross paid and tax withheld this month per party (items not failed or held)."""
    rows = session.execute(
        select(SettlementItem.party_type, SettlementItem.party_id, func.sum(SettlementItem.gross_cents),
               func.sum(SettlementItem.tax_cents))
        .where(SettlementItem.tax_month == month, SettlementItem.withheld_by == "platform",
               SettlementItem.status.in_(COUNTED_FOR_TAX))
        .group_by(SettlementItem.party_type, SettlementItem.party_id))
    return {(t, i): (int(g), int(x)) for t, i, g, x in rows}


def plan_item(*, available: int, owes: int, limits: Limits, withholds: bool, earlier_income: int,
              earlier_tax: int, table) -> tuple[int, int, int, int] | None:
    """(gross, owes netted, tax, net) for one party, or None when nothing is paid now.

    Pure: gross is the income paid (the tax base; netting does not lower it), capped so
    that gross less owes stays within the per-payout maximum."""
    if available - owes < limits.min_cents or available <= 0:
        return None
    gross = min(available, owes + limits.max_cents)
    netted = min(owes, gross)
    tax = withholding.for_payout(gross, earlier_income_cents=earlier_income, earlier_withheld_cents=earlier_tax,
                                 table=table).tax_cents if withholds else 0
    net = gross - netted - tax
    if net < limits.min_cents:
        return None
    return gross, netted, tax, net


@ledger.cycle_collection_paused()
def prepare(session: Session, *, key: str, channel: str, staff: StaffUser | None, limits: Limits, now: datetime,
            note: str | None = None) -> tuple[SettlementBatch, bool]:
    """Prepare a batch (idempotent by ``key``): (the batch, True) when made now."""
    # One preparation at a time: a party in another open batch is skipped, so two batches never
    # hold the same money (PostgreSQL; SQLite serialises writers anyway).
    advisory_lock(session, LOCK_SETTLEMENT_PREPARE)
    existing = session.scalar(select(SettlementBatch).where(SettlementBatch.key == key))
    if existing is not None:
        return existing, False
    batch = SettlementBatch(key=key, channel=channel, status="prepared", prepared_by_id=staff.id if staff else None,
                            prepared_at=now, note=note)
    session.add(batch)
    session.flush()
    month = month_of(now)
    table = withholding.table_for(local_date(now))
    balances = _balances(session)
    # Open items belong to batches not completed (a batch completes when none is left open or
    # sending): found through their batch, as no index names an item's status.
    busy = set(session.execute(select(SettlementItem.party_type, SettlementItem.party_id)
                               .join(SettlementBatch, SettlementBatch.id == SettlementItem.batch_id)
                               .where(SettlementBatch.status != "completed",
                                      SettlementItem.status.in_(OPEN_ITEM_STATUSES))).all())
    accounts = {(t, i): a for a, t, i in session.execute(select(
        PayoutAccount.id, PayoutAccount.party_type, PayoutAccount.party_id).where(
        PayoutAccount.status == "verified", PayoutAccount.payable_from <= now))}
    paid_to = set(session.scalars(select(SettlementItem.payout_account_id).where(
        SettlementItem.status.in_(("sending", "paid"))).distinct()))
    consultant_ids = [pid for (pt, pid) in accounts if pt == "consultant"]
    kinds_query = select(Consultant.id, Consultant.kind)
    if len(consultant_ids) < 900:
        kinds_query = kinds_query.where(Consultant.id.in_(consultant_ids))
    kinds = dict(session.execute(kinds_query).all())
    so_far = _month_so_far(session, month)
    rows = []
    for party, amounts in sorted(balances.items()):
        account_id = accounts.get(party)
        if account_id is None or party in busy:
            continue
        kind = kinds.get(party[1]) if party[0] == "consultant" else "buyer"
        corporate = kind in ("company", "store")
        withholds = not corporate and channel == "gateway"
        earlier_income, earlier_tax = so_far.get(party, (0, 0))
        plan = plan_item(available=amounts["available"], owes=amounts["owes"], limits=limits, withholds=withholds,
                         earlier_income=earlier_income, earlier_tax=earlier_tax, table=table)
        if plan is None:
            continue
        gross, netted, tax, net = plan
        rows.append({
            "batch_id": batch.id, "party_type": party[0], "party_id": party[1], "payout_account_id": account_id,
            "status": "awaiting_invoice" if corporate else "ready", "gross_cents": gross,
            "owes_netted_cents": netted, "tax_cents": tax, "net_cents": net,
            "withheld_by": "none" if corporate else ("platform" if withholds else "provider"), "tax_month": month,
            "provider_tax_cents": None, "first_to_account": account_id not in paid_to,
            "idempotency_key": f"settlement-{batch.id}-{party[0]}-{party[1]}", "gateway_ref": None,
            "failure_reason": None, "hold_reason": None, "created_at": now, "sent_at": None, "settled_at": None})
    for start in range(0, len(rows), 5000):
        copy_rows(session, SettlementItem.__table__, rows[start:start + 5000])
    batch.item_count = len(rows)
    batch.gross_cents = sum(r["gross_cents"] for r in rows)
    batch.tax_cents = sum(r["tax_cents"] for r in rows)
    batch.net_cents = sum(r["net_cents"] for r in rows)
    session.flush()
    return batch, True


def payout_entry(item) -> ledger.Entry:
    """available +gross, owes −netted, tax payable −tax, in transit −net (one balanced transaction).
    ``item``: a settlement item, a row of its columns or a dict of them."""
    if isinstance(item, dict):
        item = SimpleNamespace(**item)
    Leg, party_type, party_id, key = ledger.Leg, item.party_type, item.party_id, item.idempotency_key
    legs = [Leg(party_type, party_id, "available", item.gross_cents, "结算付款")]
    if item.owes_netted_cents:  # no account opened for a zero leg
        legs.append(Leg(party_type, party_id, "owes", -item.owes_netted_cents, "结算抵扣欠款"))
    if item.tax_cents:
        legs.append(Leg("platform", 0, "tax_payable", -item.tax_cents, "代扣劳务报酬个人所得税"))
    if item.net_cents:
        legs.append(Leg("platform", 0, "in_transit", -item.net_cents, "付款在途"))
    return ledger.Entry(idempotency_key=f"{key}:payout", kind="payout", description=f"结算付款（明细 {key}）",
                        legs=tuple(legs))


def _sent_today(session: Session, now: datetime) -> int:
    return int(session.scalar(select(func.coalesce(func.sum(SettlementItem.net_cents), 0)).where(
        SettlementItem.sent_at >= start_of_local_day(now),
        SettlementItem.status.in_(("sending", "paid")))) or 0)


def _release(session: Session, items: list, *, staff: StaffUser, now: datetime) -> int:
    """Post the payout of each item and mark it sending (one UPDATE per id chunk)."""
    if not items:
        return 0
    ledger.post_many(session, [payout_entry(i) for i in items], actor_type="staff", actor_id=staff.id, now=now,
                     chunk_size=5000)
    set_items(session, [i.id for i in items], {"status": "sending", "sent_at": now})
    session.expire_all()  # ORM copies of these items (if any) are stale now
    return len(items)


@ledger.cycle_collection_paused()
def approve(session: Session, batch_id: int, staff: StaffUser, *, limits: Limits, now: datetime) -> SettlementBatch:
    """First approval (another user than the maker) releases every item that may go now;
    a second approval (a third user) releases first payouts to new accounts."""
    batch = get_batch(session, batch_id, lock=True)
    if staff.id == batch.prepared_by_id:
        raise SelfApproval()
    # Plain rows (the columns needed), not ORM objects: a batch may hold 50,000 items.
    c = SettlementItem.__table__.c
    items = session.execute(
        select(c.id, c.status, c.payout_account_id, c.first_to_account, c.party_type, c.party_id, c.gross_cents,
               c.owes_netted_cents, c.tax_cents, c.net_cents, c.idempotency_key)
        .where(c.batch_id == batch.id, c.status.in_(OPEN_ITEM_STATUSES)).order_by(c.id).with_for_update()).all()
    account_query = select(PayoutAccount.id, PayoutAccount.status, PayoutAccount.payable_from)
    if len(items) < 900:
        account_query = account_query.where(PayoutAccount.id.in_({i.payout_account_id for i in items}))
    accounts = {row.id: row for row in session.execute(account_query)}
    if batch.status == "prepared":
        release = []
        changes: dict[tuple[str, str | None], list[int]] = {}  # (status, hold reason) → item ids
        for item in items:
            account = accounts[item.payout_account_id]
            if account.status != "verified" or account.payable_from > now:
                change = ("held", "收款账户已变更，待新账户验证并满 24 小时后下次结算")
            elif item.status == "awaiting_invoice":
                change = ("held", "未上传金额一致的发票，下次结算时支付")
            elif item.first_to_account:
                change = ("awaiting_second_approval", None)
            else:
                release.append(item)
                continue
            changes.setdefault(change, []).append(item.id)
        total = sum(i.net_cents for i in release)
        if _sent_today(session, now) + total > limits.daily_max_cents:
            raise DailyLimitExceeded(details={"daily_max_cents": limits.daily_max_cents, "batch_cents": total})
        batch.status, batch.approved_by_id, batch.approved_at = "approved", staff.id, now
        session.flush()
        for (status, hold_reason), ids in changes.items():
            set_items(session, ids, {"status": status, "hold_reason": hold_reason})
        _release(session, release, staff=staff, now=now)
    elif batch.status == "approved" and any(i.status == "awaiting_second_approval" for i in items):
        if staff.id == batch.approved_by_id:
            raise SelfApproval()
        release = [i for i in items if i.status == "awaiting_second_approval"]
        total = sum(i.net_cents for i in release)
        if _sent_today(session, now) + total > limits.daily_max_cents:
            raise DailyLimitExceeded(details={"daily_max_cents": limits.daily_max_cents, "batch_cents": total})
        batch.second_approved_by_id, batch.second_approved_at = staff.id, now
        session.flush()
        _release(session, release, staff=staff, now=now)
    else:
        raise BatchNotApprovable(details={"status": batch.status})
    return batch


def failures(session: Session, *, page: int, per_page: int):
    """The failures queue: items whose transfer failed (money back in available)."""
    # ``failure_reason IS NOT NULL`` is the same set (CHECK failure_has_reason) and has an index.
    return paginate(session, select(SettlementItem).where(SettlementItem.status == "failed",
                                                          SettlementItem.failure_reason.is_not(None)),
                    SettlementItem.id.desc(), page=page, per_page=per_page)


def party_names(session: Session, items) -> dict[tuple[str, int], str]:
    from ..identity.models import Buyer
    consultant_ids = {i.party_id for i in items if i.party_type == "consultant"}
    buyer_ids = {i.party_id for i in items if i.party_type == "buyer"}
    names = {}
    if consultant_ids:
        names.update({("consultant", cid): name for cid, name in session.execute(
            select(Consultant.id, Consultant.name).where(Consultant.id.in_(consultant_ids)))})
    if buyer_ids:
        names.update({("buyer", bid): name or "购房者" for bid, name in session.execute(
            select(Buyer.id, Buyer.name).where(Buyer.id.in_(buyer_ids)))})
    return names


__all__ = ["Limits", "prepare", "approve", "plan_item", "payout_entry", "set_items", "and_"]
