"""Collections from developers (回款, DESIGN §5, §5a; issue 12 §1).

Finance records a payment (or the Stripe webhook does): it is applied to the developer's
receivables oldest due first (or to the deals finance chose), and what is left stays as the
developer's unapplied cash (预收/未核销) until applied. One ledger transaction per step:

* record: platform cash +X, developer receivable −applied, developer unapplied −rest
  (``collection:{id}:record``);
* apply the unapplied rest later: unapplied +Y, receivable −Y (``collection:{id}:apply:{batch}``);
* undo: the mirror of what stands (``collection:{id}:reverse``), never an edit.

Every step first locks the developer's row, so two payments recorded at once for one developer
never apply more than a deal's receivable. Applying money releases the deals' lines
(``releases.sync``) in the same transaction.
"""
from __future__ import annotations

from collections import defaultdict
from datetime import date, datetime
from typing import Sequence

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, selectinload

from ..clock import local_date
from ..db import among, bulk_insert, paginate
from ..deals.models import Deal
from ..errors import Conflict, NotFound, ValidationFailed
from ..identity.models import StaffUser
from ..ledger import services as ledger
from ..ledger.services import Entry, Leg
from ..money import yuan
from ..projects.models import Developer, Project
from . import releases
from . import stakes as stake_receivables
from .allocation import Open, Source, allocate_payment
from .models import Collection, CollectionAllocation, DeveloperInvoice

REFERENCE_MAX = 80
NOTE_MAX = 500
MAX_AMOUNT_CENTS = 10**14


class CollectionNotFound(NotFound):
    code, message = "collection_not_found", "回款记录不存在"


class DeveloperNotFound(NotFound):
    code, message = "developer_not_found", "开发商不存在"


class DuplicateBankReference(Conflict):
    code, message = "duplicate_bank_reference", "该开发商已有相同银行流水号的回款，请勿重复登记"


class CollectionReversed(Conflict):
    code, message = "collection_reversed", "该回款已撤销，不能再操作"


class NothingUnapplied(Conflict):
    code, message = "nothing_unapplied", "该开发商没有未核销的回款，或没有待核销的应收"


def _developer(session: Session, developer_id: int) -> Developer:
    developer = releases.lock_developer(session, developer_id)
    if developer is None:
        raise DeveloperNotFound()
    return developer


def open_receivables(session: Session, developer_id: int) -> list[Open]:
    """Every receivable of the developer with something still owed, by due date: its recognised
    deals and the stakes of disputes upheld against it (``stakes``)."""
    rows = session.execute(select(Deal.id, Deal.due_on, Deal.trigger_reached_on, Deal.subscribed_on,
                                  Deal.commission_cents)
                           .join(Project, Project.id == Deal.project_id)
                           .where(Project.developer_id == developer_id, Deal.recognised.is_(True),
                                  Deal.commission_cents > 0)).all()
    applied = releases.applied_by_deal(session, [r[0] for r in rows])
    result = []
    for deal_id, due_on, trigger_on, subscribed_on, commission in rows:
        outstanding = commission - applied.get(deal_id, 0)
        if outstanding > 0:
            result.append(Open(Source("deal", deal_id), due_on or trigger_on or subscribed_on, outstanding))
    owed = stake_receivables.stakes(session, developer_id=developer_id)
    applied = stake_receivables.applied_by_dispute(session, list(owed))
    for dispute_id, stake in owed.items():
        outstanding = stake.cents - applied.get(dispute_id, 0)
        if outstanding > 0:
            result.append(Open(Source("dispute", dispute_id), stake.due_on, outstanding))
    return sorted(result, key=lambda r: (r.due_on, r.source))


def _chosen(deal_ids: Sequence[int] | None, dispute_ids: Sequence[int] | None) -> list[Source] | None:
    if deal_ids is None and dispute_ids is None:
        return None
    return [Source("deal", i) for i in deal_ids or ()] + [Source("dispute", i) for i in dispute_ids or ()]


def _check(session: Session, developer_id: int | None, amount_cents, received_on, bank_reference, invoice_id,
           deal_ids, note, today: date, dispute_ids=None) -> tuple[str, str | None]:
    errors: dict[str, list[str]] = {}
    if not isinstance(amount_cents, int) or not 0 < amount_cents <= MAX_AMOUNT_CENTS:
        errors["amount_cents"] = ["金额须为正的整数（分）"]
    if received_on is None or received_on > today:
        errors["received_on"] = ["到账日期不能晚于今天"]
    reference = (bank_reference or "").strip()
    if not reference or len(reference) > REFERENCE_MAX:
        errors["bank_reference"] = [f"请填写银行流水号（不超过 {REFERENCE_MAX} 字）"]
    note = (note or "").strip() or None
    if note and len(note) > NOTE_MAX:
        errors["note"] = [f"备注不超过 {NOTE_MAX} 字"]
    if invoice_id is not None:
        invoice = session.get(DeveloperInvoice, invoice_id)
        if invoice is None or invoice.developer_id != developer_id:
            errors["invoice_id"] = ["发票不存在或不属于该开发商"]
        elif invoice.voided_at is not None:
            errors["invoice_id"] = ["该发票已作废"]
    if (deal_ids is not None or dispute_ids is not None) and not deal_ids and not dispute_ids:
        errors["deal_ids"] = ["请至少选择一笔应收，或不指定（按到期日先后核销）"]
    if dispute_ids:
        theirs = {i for i, stake in stake_receivables.stakes(session, dispute_ids=dispute_ids).items()
                  if stake.developer_id == developer_id}
        unknown = sorted(set(dispute_ids) - theirs)
        if unknown:
            errors["dispute_ids"] = [f"争议 {', '.join(f'#{i}' for i in unknown)} 不是该开发商已裁定的应收"]
    if deal_ids:
        known = set(session.scalars(select(Deal.id).join(Project, Project.id == Deal.project_id).where(
            among(session, Deal.id, list(deal_ids)), Project.developer_id == developer_id)))
        unknown = sorted(set(deal_ids) - known)
        if unknown:
            errors["deal_ids"] = [f"成交 {', '.join(f'#{i}' for i in unknown)} 不属于该开发商"]
    if errors:
        raise ValidationFailed(errors)
    return reference, note


def record_collection(session: Session, staff: StaffUser | None, *, developer_id: int, amount_cents: int,
                      received_on: date, bank_reference: str, invoice_id: int | None = None,
                      deal_ids: Sequence[int] | None = None, note: str | None = None, source: str = "manual",
                      dispute_ids: Sequence[int] | None = None, now: datetime) -> Collection:
    """Record one payment and apply it (oldest due first, or to ``deal_ids`` and the stakes of
    ``dispute_ids``)."""
    _developer(session, developer_id)
    reference, note = _check(session, developer_id, amount_cents, received_on, bank_reference, invoice_id,
                             deal_ids, note, local_date(now), dispute_ids)
    if session.scalar(select(Collection.id).where(Collection.developer_id == developer_id,
                                                  Collection.bank_reference == reference)):
        raise DuplicateBankReference(details={"bank_reference": reference})
    collection = Collection(developer_id=developer_id, amount_cents=amount_cents, received_on=received_on,
                            bank_reference=reference, invoice_id=invoice_id, source=source, note=note,
                            recorded_by_id=staff.id if staff else None, created_at=now)
    try:
        with session.begin_nested():
            session.add(collection)
            session.flush()
    except IntegrityError:
        raise DuplicateBankReference(details={"bank_reference": reference}) from None
    parts, rest = allocate_payment(amount_cents, open_receivables(session, developer_id),
                                   _chosen(deal_ids, dispute_ids))
    applied = sum(p for _, p in parts)
    legs = [Leg("platform", 0, "cash", amount_cents, f"回款 {reference}"),
            Leg("developer", developer_id, "receivable", -applied, "回款核销应收"),
            Leg("developer", developer_id, "unapplied", -rest, "回款未核销部分")]
    ledger.post(session, Entry(f"collection:{collection.id}:record", "collection_recorded",
                               f"开发商回款 #{collection.id}（{reference}）{yuan(amount_cents)}，核销 {yuan(applied)}",
                               tuple(leg for leg in legs if leg.amount_cents)),
                actor_type="staff" if staff else "system", actor_id=staff.id if staff else None, now=now)
    _allocate(session, collection, 0, parts, staff, now)
    return collection


def _allocate(session: Session, collection: Collection, batch: int, parts, staff, now: datetime) -> None:
    bulk_insert(session, CollectionAllocation.__table__, [
        {"collection_id": collection.id, "batch": batch, "deal_id": src.id if src.kind == "deal" else None,
         "dispute_id": src.id if src.kind == "dispute" else None, "kind": "applied", "amount_cents": cents,
         "created_by_id": staff.id if staff else None, "created_at": now} for src, cents in parts])
    session.expire(collection, ["allocations"])
    releases.sync(session, [src.id for src, _ in parts if src.kind == "deal"], now=now, reason="collection",
                  dispute_ids=[src.id for src, _ in parts if src.kind == "dispute"],
                  actor_type="staff" if staff else "system", actor_id=staff.id if staff else None)


def unapplied_of(session: Session, developer_ids: Sequence[int] | None = None) -> dict[int, dict[int, int]]:
    """{developer_id: {collection_id: unapplied cents}} of standing collections with a rest."""
    applied = (select(CollectionAllocation.collection_id, func.sum(CollectionAllocation.amount_cents).label("a"))
               .group_by(CollectionAllocation.collection_id).subquery())
    query = (select(Collection.developer_id, Collection.id, Collection.amount_cents - func.coalesce(applied.c.a, 0))
             .outerjoin(applied, applied.c.collection_id == Collection.id)
             .where(Collection.reversed_at.is_(None)).order_by(Collection.received_on, Collection.id))
    if developer_ids is not None:
        query = query.where(among(session, Collection.developer_id, list(developer_ids)))
    result: dict[int, dict[int, int]] = defaultdict(dict)
    for developer_id, collection_id, rest in session.execute(query):
        if rest > 0:
            result[developer_id][collection_id] = int(rest)
    return result


def apply_unapplied(session: Session, staff: StaffUser | None, developer_id: int, *,
                    deal_ids: Sequence[int] | None = None, dispute_ids: Sequence[int] | None = None,
                    now: datetime) -> int:
    """Apply the developer's unapplied cash (oldest payment first) to its open receivables;
    returns how many receivable parts were applied."""
    _developer(session, developer_id)
    if deal_ids is not None or dispute_ids is not None:
        _check(session, developer_id, 1, local_date(now), "-", None, deal_ids, None, local_date(now), dispute_ids)
    rests = unapplied_of(session, [developer_id]).get(developer_id, {})
    receivables = open_receivables(session, developer_id)
    made = 0
    for collection_id, rest in rests.items():
        parts, _ = allocate_payment(rest, receivables, _chosen(deal_ids, dispute_ids))
        if not parts:
            break
        collection = session.get(Collection, collection_id)
        batch = 1 + int(session.scalar(select(func.max(CollectionAllocation.batch))
                                       .where(CollectionAllocation.collection_id == collection_id)) or 0)
        cents = sum(p for _, p in parts)
        ledger.post(session, Entry(f"collection:{collection_id}:apply:{batch}", "collection_applied",
                                   f"开发商回款 #{collection_id} 未核销部分核销 {yuan(cents)}",
                                   (Leg("developer", developer_id, "unapplied", cents, "未核销回款转出"),
                                    Leg("developer", developer_id, "receivable", -cents, "回款核销应收"))),
                    actor_type="staff" if staff else "system", actor_id=staff.id if staff else None, now=now)
        _allocate(session, collection, batch, parts, staff, now)
        applied = dict(parts)
        receivables = [Open(r.source, r.due_on, r.outstanding_cents - applied.get(r.source, 0)) for r in receivables]
        made += len(parts)
    if not made:
        raise NothingUnapplied()
    return made


def reverse_collection(session: Session, staff: StaffUser, collection_id: int, *, reason: str,
                       now: datetime) -> Collection:
    """撤销回款: a correcting transaction that mirrors what stands; released lines go back."""
    collection = session.get(Collection, collection_id)
    if collection is None:
        raise CollectionNotFound()
    _developer(session, collection.developer_id)
    session.refresh(collection)
    if collection.reversed_at is not None:
        raise CollectionReversed()
    reason = (reason or "").strip()
    if not reason or len(reason) > NOTE_MAX:
        raise ValidationFailed({"reason": [f"请填写撤销原因（不超过 {NOTE_MAX} 字）"]})
    allocations = list(session.scalars(select(CollectionAllocation)
                                       .where(CollectionAllocation.collection_id == collection.id)))
    applied = sum(a.amount_cents for a in allocations)
    legs = (Leg("platform", 0, "cash", -collection.amount_cents, f"撤销回款 {collection.bank_reference}"),
            Leg("developer", collection.developer_id, "receivable", applied, "撤销回款，应收恢复"),
            Leg("developer", collection.developer_id, "unapplied", collection.amount_cents - applied,
                "撤销回款，未核销部分冲回"))
    ledger.post(session, Entry(f"collection:{collection.id}:reverse", "collection_reversed",
                               f"撤销开发商回款 #{collection.id}（{collection.bank_reference}）：{reason}",
                               tuple(leg for leg in legs if leg.amount_cents)),
                actor_type="staff", actor_id=staff.id, now=now)
    collection.reversed_at, collection.reversed_by_id, collection.reverse_reason = now, staff.id, reason
    session.flush()
    releases.sync(session, {a.deal_id for a in allocations if a.deal_id is not None}, now=now, reason="collection",
                  dispute_ids={a.dispute_id for a in allocations if a.dispute_id is not None},
                  actor_type="staff", actor_id=staff.id)
    return collection


# --- reading --------------------------------------------------------------------------------

def get_collection(session: Session, collection_id: int) -> Collection:
    collection = session.scalar(select(Collection).where(Collection.id == collection_id)
                                .options(selectinload(Collection.allocations)))
    if collection is None:
        raise CollectionNotFound()
    return collection


def list_collections(session: Session, *, developer_id: int | None = None, status: str | None = None,
                     received_from: date | None = None, received_to: date | None = None, page: int = 1,
                     per_page: int = 30) -> tuple[list[Collection], int]:
    query = select(Collection).options(selectinload(Collection.allocations), selectinload(Collection.developer))
    if developer_id is not None:
        query = query.where(Collection.developer_id == developer_id)
    if status == "standing":
        query = query.where(Collection.reversed_at.is_(None))
    elif status == "reversed":
        query = query.where(Collection.reversed_at.is_not(None))
    if received_from is not None:
        query = query.where(Collection.received_on >= received_from)
    if received_to is not None:
        query = query.where(Collection.received_on <= received_to)
    return paginate(session, query, Collection.received_on.desc(), Collection.id.desc(), page=page,
                    per_page=per_page)


def applied_cents(collection: Collection) -> int:
    return sum(a.amount_cents for a in collection.allocations)
