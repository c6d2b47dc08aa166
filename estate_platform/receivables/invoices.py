"""The platform's invoices to developers (发票, issue 12 §2) and Stripe's invoice events.

A collection may name the invoice it pays. A Stripe ``invoice.paid`` event becomes a
collection for the invoice's developer (matched by the Stripe invoice id, or the metadata
``platform_invoice_number`` / ``platform_invoice_id`` we set when billing through Stripe).
Each event id is stored once (unique): a replay finds its row and changes nothing. The
invoice's first terminal event wins: a payment after it was voided records nothing, a void
after it was paid changes nothing, and a second ``invoice.paid`` (another event id) meets
the collection's unique bank reference.
"""
from __future__ import annotations

from datetime import date, datetime, timezone

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, selectinload

from ..clock import local_date
from ..db import paginate
from ..errors import Conflict, ValidationFailed
from ..identity.models import StaffUser
from ..projects.models import Developer
from .models import Collection, DeveloperInvoice, StripeEvent

NUMBER_MAX = 40


class InvoiceNumberTaken(Conflict):
    code, message = "invoice_number_taken", "发票号码已存在"


def create_invoice(session: Session, staff: StaffUser, *, developer_id: int, number: str, issued_on: date,
                   amount_cents: int, tax_rate_bps: int, stripe_invoice_id: str | None = None,
                   note: str | None = None, now: datetime) -> DeveloperInvoice:
    errors: dict[str, list[str]] = {}
    number = (number or "").strip()
    if session.get(Developer, developer_id) is None:
        errors["developer_id"] = ["开发商不存在"]
    if not number or len(number) > NUMBER_MAX:
        errors["number"] = [f"请填写发票号码（不超过 {NUMBER_MAX} 字）"]
    if issued_on is None or issued_on > local_date(now):
        errors["issued_on"] = ["开票日期不能晚于今天"]
    if not isinstance(amount_cents, int) or not 0 < amount_cents <= 10**14:
        errors["amount_cents"] = ["金额须为正的整数（分）"]
    if not isinstance(tax_rate_bps, int) or not 0 <= tax_rate_bps <= 10_000:
        errors["tax_rate_bps"] = ["税率须在 0–10000 个基点之间（如 600 = 6%）"]
    if errors:
        raise ValidationFailed(errors)
    if session.scalar(select(DeveloperInvoice.id).where(DeveloperInvoice.number == number)):
        raise InvoiceNumberTaken(details={"number": number})
    invoice = DeveloperInvoice(developer_id=developer_id, number=number, issued_on=issued_on,
                               amount_cents=amount_cents, tax_rate_bps=tax_rate_bps,
                               stripe_invoice_id=(stripe_invoice_id or "").strip() or None,
                               note=(note or "").strip() or None, created_by_id=staff.id, created_at=now)
    try:
        with session.begin_nested():
            session.add(invoice)
            session.flush()
    except IntegrityError:
        raise InvoiceNumberTaken(details={"number": number}) from None
    return invoice


def list_invoices(session: Session, *, developer_id: int | None = None, page: int = 1,
                  per_page: int = 30) -> tuple[list[tuple[DeveloperInvoice, int]], int]:
    """Invoices, newest first, each with what standing collections paid against it."""
    query = select(DeveloperInvoice).options(selectinload(DeveloperInvoice.developer))
    if developer_id is not None:
        query = query.where(DeveloperInvoice.developer_id == developer_id)
    items, total = paginate(session, query, DeveloperInvoice.issued_on.desc(), DeveloperInvoice.id.desc(),
                            page=page, per_page=per_page)
    paid = dict(session.execute(select(Collection.invoice_id, func.sum(Collection.amount_cents))
                                .where(Collection.invoice_id.in_([i.id for i in items]),
                                       Collection.reversed_at.is_(None))
                                .group_by(Collection.invoice_id)).all()) if items else {}
    return [(i, int(paid.get(i.id, 0))) for i in items], total


# --- Stripe -----------------------------------------------------------------------------------

def _match(session: Session, obj: dict) -> DeveloperInvoice | None:
    stripe_id = obj.get("id")
    if stripe_id:
        invoice = session.scalar(select(DeveloperInvoice).where(DeveloperInvoice.stripe_invoice_id == stripe_id)
                                 .with_for_update())
        if invoice is not None:
            return invoice
    metadata = obj.get("metadata") or {}
    number = metadata.get("platform_invoice_number")
    if isinstance(number, str) and number:
        return session.scalar(select(DeveloperInvoice).where(DeveloperInvoice.number == number).with_for_update())
    raw_id = metadata.get("platform_invoice_id")
    if isinstance(raw_id, str) and raw_id.isdigit() and len(raw_id) < 10:
        return session.scalar(select(DeveloperInvoice).where(DeveloperInvoice.id == int(raw_id)).with_for_update())
    return None


def _paid(session: Session, invoice: DeveloperInvoice) -> bool:
    return session.scalar(select(Collection.id).where(Collection.invoice_id == invoice.id,
                                                      Collection.source == "stripe",
                                                      Collection.reversed_at.is_(None))) is not None


def handle_stripe_event(session: Session, event: dict, *, now: datetime) -> str:
    """Act on one verified event once; returns what happened (stored with the event id)."""
    from .services import DuplicateBankReference, record_collection
    event_id, kind = str(event.get("id") or ""), str(event.get("type") or "")
    if not event_id or session.scalar(select(StripeEvent.id).where(StripeEvent.event_id == event_id)):
        return "duplicate"
    row = StripeEvent(event_id=event_id[:80], type=kind[:80], outcome="received", received_at=now)
    try:
        with session.begin_nested():
            session.add(row)
            session.flush()
    except IntegrityError:
        return "duplicate"  # the same event delivered concurrently: the other delivery acts on it
    obj = ((event.get("data") or {}).get("object")) or {}
    outcome = "ignored"
    if kind in ("invoice.paid", "invoice.voided", "invoice.marked_uncollectible") and isinstance(obj, dict):
        invoice = _match(session, obj)
        if invoice is None:
            outcome = "unmatched"
        elif kind == "invoice.paid":
            outcome = _record_paid(session, invoice, obj, event, now, record_collection, DuplicateBankReference)
            row.collection_id = session.scalar(select(Collection.id).where(
                Collection.developer_id == invoice.developer_id,
                Collection.bank_reference == f"stripe:{obj.get('id')}")) if outcome == "collected" else None
        elif invoice.voided_at is not None or _paid(session, invoice):
            outcome = "ignored_terminal"
        else:
            invoice.voided_at = now
            outcome = "voided"
    row.outcome = outcome
    session.flush()
    return outcome


def _record_paid(session, invoice, obj, event, now, record_collection, duplicate) -> str:
    if invoice.voided_at is not None:
        return "ignored_voided"
    amount = obj.get("amount_paid")
    stripe_id = obj.get("id")
    if not isinstance(amount, int) or isinstance(amount, bool) or amount <= 0 or not isinstance(stripe_id, str):
        return "ignored_amount"
    if invoice.stripe_invoice_id is None:
        invoice.stripe_invoice_id = stripe_id
    created = event.get("created")
    received_on = local_date(datetime.fromtimestamp(created, timezone.utc)) if isinstance(created, int) else None
    if received_on is None or received_on > local_date(now):
        received_on = local_date(now)
    try:
        record_collection(session, None, developer_id=invoice.developer_id, amount_cents=amount,
                          received_on=received_on, bank_reference=f"stripe:{stripe_id}"[:80], invoice_id=invoice.id,
                          note=f"Stripe 事件 {event.get('id')}", source="stripe", now=now)
    except duplicate:
        return "duplicate_invoice"
    return "collected"
