"""The developer's payable-when rule (结算条件, DESIGN §5; issue 12 §2): pay-when-paid (the
consultants' money becomes available with the developer's money for the deal) or advance (N
days after recognition, the platform carrying the risk). Without a row: pay-when-paid."""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from ..errors import ValidationFailed
from ..identity.models import StaffUser
from . import releases
from .models import PAYABLE_WHEN, DeveloperContract

PAYABLE_WHEN_LABELS = {"pay_when_paid": "开发商回款后可提现（背靠背）", "advance": "确认后 N 天可提现（平台垫付）"}


def get_contract(session: Session, developer_id: int) -> releases.Terms:
    return releases.contract_terms(session, [developer_id])[developer_id]


def set_contract(session: Session, staff: StaffUser, developer_id: int, *, payable_when: str,
                 advance_days: int | None, now: datetime) -> releases.Terms:
    """Set the rule; the hourly sweep (or the next payment) applies it to pending lines."""
    from .services import DeveloperNotFound
    if releases.lock_developer(session, developer_id) is None:
        raise DeveloperNotFound()
    errors = {}
    if payable_when not in PAYABLE_WHEN:
        errors["payable_when"] = ["结算条件须为 pay_when_paid 或 advance"]
    if payable_when == "advance" and (advance_days is None or not 0 <= advance_days <= 365):
        errors["advance_days"] = ["垫付须填写 0–365 天"]
    if errors:
        raise ValidationFailed(errors)
    contract = session.scalar(select(DeveloperContract).where(DeveloperContract.developer_id == developer_id))
    if contract is None:
        contract = DeveloperContract(developer_id=developer_id)
        session.add(contract)
    contract.payable_when = payable_when
    contract.advance_days = advance_days if payable_when == "advance" else None
    contract.updated_by_id, contract.updated_at = staff.id, now
    session.flush()
    return releases.Terms(contract.payable_when, contract.advance_days)
