"""Staff roles. Every admin route, page or JSON, declares the roles it allows."""
from __future__ import annotations

from estate_platform.errors import Forbidden
from estate_platform.identity.models import STAFF_ROLES

ROLE_LABELS = {"admin": "管理员", "finance": "财务", "operations": "运营", "site_staff": "案场"}


class RoleForbidden(Forbidden):
    code, message = "role_forbidden", "您的角色无权访问此功能"


def check_role(staff, roles: tuple[str, ...]) -> None:
    unknown = set(roles) - set(STAFF_ROLES)
    if unknown:
        raise ValueError(f"unknown roles {unknown}")
    if staff.role not in roles:
        raise RoleForbidden(details={"allowed_roles": list(roles)})
