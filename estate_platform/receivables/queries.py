"""Small reads for the receivables pages: developers and invoices to choose from, deal labels."""
from __future__ import annotations

from typing import Iterable

from sqlalchemy import select
from sqlalchemy.orm import Session

from ..db import among
from ..deals.models import Deal
from ..projects.models import Developer, Project
from .models import DeveloperInvoice

CHOICES = 500


def developer_choices(session: Session) -> list[tuple[int, str]]:
    return [tuple(r) for r in session.execute(select(Developer.id, Developer.name)
                                              .order_by(Developer.name).limit(CHOICES))]


def invoice_choices(session: Session, developer_id: int) -> list[DeveloperInvoice]:
    return list(session.scalars(select(DeveloperInvoice).where(DeveloperInvoice.developer_id == developer_id,
                                                               DeveloperInvoice.voided_at.is_(None))
                                .order_by(DeveloperInvoice.issued_on.desc()).limit(CHOICES)))


def deal_labels(session: Session, deal_ids: Iterable[int]) -> dict[int, str]:
    ids = sorted(set(deal_ids))
    if not ids:
        return {}
    rows = session.execute(select(Deal.id, Project.name, Deal.unit).join(Project, Project.id == Deal.project_id)
                           .where(among(session, Deal.id, ids)))
    return {deal_id: f"{project} {unit}" for deal_id, project, unit in rows}
