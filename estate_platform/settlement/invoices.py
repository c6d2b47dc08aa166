"""Consultant invoices (发票), issue 12 §2: company and store consultants upload their
invoice to the platform, for exactly the payout's amount, before they are paid. The file is
stored like a visit attachment (content-addressed; JPG, PNG or PDF by content, ≤ 5 MB)."""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from ..consultants.models import Consultant
from ..errors import Conflict, ValidationFailed
from ..visits import storage
from ..visits.attachments import Upload, read_checked
from .models import ConsultantInvoice, SettlementItem
from .statements import own_item


class InvoiceNotExpected(Conflict):
    code, message = "invoice_not_expected", "该笔结算无需上传发票（已上传、已付款或不是公司/门店顾问的结算）"


def upload(session: Session, consultant: Consultant, item_id: int, *, invoice_number: str, amount_cents: int | None,
           file: Upload | None, storage_dir: str, now: datetime) -> ConsultantInvoice:
    item = own_item(session, "consultant", consultant.id, item_id)
    if item.status != "awaiting_invoice":
        raise InvoiceNotExpected(details={"status": item.status})
    number = " ".join((invoice_number or "").split())
    errors = {}
    if not number:
        errors["invoice_number"] = ["请填写发票号码"]
    if amount_cents != item.net_cents:
        errors["amount_cents"] = [f"发票金额须与本次结算金额一致：{item.net_cents / 100:.2f} 元"]
    if errors:
        raise ValidationFailed(errors)
    content, content_type = read_checked(file)
    digest = storage.save(storage_dir, content)
    invoice = ConsultantInvoice(consultant_id=consultant.id, item_id=item.id, invoice_number=number[:50],
                                amount_cents=amount_cents, filename=storage.sanitise_filename(file.filename),
                                content_type=content_type, size_bytes=len(content), sha256=digest, created_at=now)
    session.add(invoice)
    item.status = "ready"
    session.flush()
    return invoice


def invoice_of(session: Session, item_id: int) -> ConsultantInvoice | None:
    return session.scalar(select(ConsultantInvoice).where(ConsultantInvoice.item_id == item_id))


__all__ = ["upload", "invoice_of", "SettlementItem"]
