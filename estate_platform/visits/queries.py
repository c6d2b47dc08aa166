"""Reading a consultant's own visits (带看) across his registrations: the list his app's home
shows as "visits to accompany today" and his visit list (DESIGN §2, Visits).

Only visits of his own registrations; filtered by status and by Shanghai calendar days
(``date_from``/``date_to`` inclusive), soonest first. Registration and project come in
the same round trip (the list's rows name the buyer and the project), so a page costs a
count and one select whatever its size.
"""
from __future__ import annotations

from datetime import date

from sqlalchemy import select
from sqlalchemy.orm import Session, joinedload

from ..db import paginate
from ..errors import ValidationFailed
from ..registrations.models import Registration
from .models import VISIT_STATUSES, Visit
from .services import local_day_bounds

MAX_SPAN_DAYS = 366


def own_visits(session: Session, consultant_id: int, *, status: str | None = None, date_from: date | None = None,
               date_to: date | None = None, page: int = 1, per_page: int = 20) -> tuple[list[Visit], int]:
    """One page of the consultant's visits and their total, by scheduled time then id."""
    errors: dict[str, list[str]] = {}
    if status is not None and status not in VISIT_STATUSES:
        errors["status"] = [f"状态须为以下之一：{'、'.join(VISIT_STATUSES)}"]
    if date_from and date_to and date_to < date_from:
        errors["date_to"] = ["结束日期不能早于开始日期"]
    elif date_from and date_to and (date_to - date_from).days > MAX_SPAN_DAYS:
        errors["date_to"] = [f"日期范围不能超过 {MAX_SPAN_DAYS} 天"]
    if errors:
        raise ValidationFailed(errors)
    query = (select(Visit).join(Registration, Registration.id == Visit.registration_id)
             .where(Registration.consultant_id == consultant_id)
             .options(joinedload(Visit.registration).joinedload(Registration.project)))
    if status:
        query = query.where(Visit.status == status)
    if date_from:
        query = query.where(Visit.scheduled_at >= local_day_bounds(date_from)[0])
    if date_to:
        query = query.where(Visit.scheduled_at < local_day_bounds(date_to)[1])
    return paginate(session, query, Visit.scheduled_at, Visit.id, page=page, per_page=per_page)
