"""Projects and their registration rules."""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from ..clock import local_date
from ..errors import Conflict, NotFound
from .models import ExistingCustomer, Project

NOT_ACCEPTING_REASONS = {
    "paused": "楼盘已暂停合作报备",
    "sold_out": "楼盘已售罄",
    "ended": "楼盘合作已结束",
    "cooperation_not_started": "楼盘合作尚未开始",
    "cooperation_ended": "楼盘合作期已结束",
}


class ProjectNotFound(NotFound):
    code, message = "project_not_found", "楼盘不存在"


class ProjectNotAccepting(Conflict):
    code, message = "project_not_accepting", "该楼盘当前不接受报备"


def get_project(session: Session, project_id: int) -> Project:
    project = session.get(Project, project_id)
    if project is None:
        raise ProjectNotFound()
    return project


def not_accepting_reason(project: Project, now: datetime) -> str | None:
    """Why the project accepts no registrations right now, or None when it does."""
    if project.status != "on_sale":
        return project.status
    today = local_date(now)
    if project.cooperation_start and today < project.cooperation_start:
        return "cooperation_not_started"
    if project.cooperation_end and today > project.cooperation_end:
        return "cooperation_ended"
    return None


def require_accepting(project: Project, now: datetime) -> None:
    reason = not_accepting_reason(project, now)
    if reason:
        raise ProjectNotAccepting(NOT_ACCEPTING_REASONS[reason], details={"reason": reason})


def is_existing_customer(session: Session, project_id: int, phone: str) -> bool:
    return session.scalar(select(ExistingCustomer.id).where(ExistingCustomer.project_id == project_id,
                                                            ExistingCustomer.phone == phone)) is not None
