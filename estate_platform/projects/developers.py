"""Developers (开发商): the companies whose projects the platform sells, with a contact
(DESIGN §2). Names are unique; a contact phone is a mobile (stored E.164) or a landline as typed."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, selectinload

from ..errors import ValidationFailed
from ..phones import InvalidPhone, normalise_contact_phone
from .models import Developer
from .services import DeveloperNameTaken, DeveloperNotFound, _known


@dataclass
class DeveloperInput:
    name: str
    contact_name: str | None = None
    contact_phone: str | None = None


DEVELOPER_FIELDS = ("name", "contact_name", "contact_phone")


def _clean_contact_phone(raw: str | None) -> tuple[str | None, bool]:
    """A mobile number is stored in E.164; a landline (025-12345678) as typed, without spaces."""
    text = (raw or "").strip()
    if not text:
        return None, True
    try:
        return normalise_contact_phone(text), True
    except InvalidPhone:
        return None, False


def _save_developer(session: Session, developer: Developer, data: DeveloperInput) -> Developer:
    errors: dict[str, list[str]] = {}
    name = (data.name or "").strip()
    if not name:
        errors["name"] = ["请填写开发商名称"]
    elif len(name) > 100:
        errors["name"] = ["开发商名称不能超过 100 个字"]
    contact_name = (data.contact_name or "").strip() or None
    if contact_name and len(contact_name) > 50:
        errors["contact_name"] = ["联系人不能超过 50 个字"]
    contact_phone, phone_ok = _clean_contact_phone(data.contact_phone)
    if not phone_ok:
        errors["contact_phone"] = ["请输入有效的联系电话（手机号或座机，如 025-12345678）"]
    if errors:
        raise ValidationFailed(errors)
    if session.scalar(select(Developer.id).where(Developer.name == name, Developer.id != developer.id)):
        raise DeveloperNameTaken(details={"fields": {"name": ["已有同名开发商"]}})
    developer.name, developer.contact_name, developer.contact_phone = name, contact_name, contact_phone
    try:
        with session.begin_nested():
            session.add(developer)
            session.flush()
    except IntegrityError:  # the same name saved by a concurrent request
        raise DeveloperNameTaken(details={"fields": {"name": ["已有同名开发商"]}}) from None
    return developer


def create_developer(session: Session, data: DeveloperInput, *, now: datetime) -> Developer:
    return _save_developer(session, Developer(created_at=now), data)


def get_developer(session: Session, developer_id: int) -> Developer:
    developer = session.get(Developer, developer_id)
    if developer is None:
        raise DeveloperNotFound()
    return developer


def update_developer(session: Session, developer_id: int, changes: dict, *, now: datetime) -> Developer:
    """Change some of name, contact_name, contact_phone; the others stay."""
    developer = get_developer(session, developer_id)
    current = {name: getattr(developer, name) for name in DEVELOPER_FIELDS}
    return _save_developer(session, developer, DeveloperInput(**{**current, **_known(changes, DEVELOPER_FIELDS)}))


def list_developers(session: Session, *, q: str | None = None, page: int = 1,
                    per_page: int = 50) -> tuple[list[Developer], int]:
    """Developers by name (their projects loaded, to count them)."""
    query = select(Developer)
    if q and q.strip():
        query = query.where(Developer.name.contains(q.strip(), autoescape=True))
    total = session.scalar(select(func.count()).select_from(query.subquery()))
    rows = session.scalars(query.options(selectinload(Developer.projects)).order_by(Developer.name, Developer.id)
                           .offset((page - 1) * per_page).limit(per_page)).all()
    return list(rows), total


def developer_choices(session: Session) -> list[Developer]:
    return list(session.scalars(select(Developer).order_by(Developer.name)))
