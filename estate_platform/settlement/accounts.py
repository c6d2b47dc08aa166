"""Payout accounts (收款账户), DESIGN §5a and issue 12 §3.

Independents and buyers: a personal account in their own name with the full ID number
(身份证号, checksum verified) that withholding and flexible-employment providers need;
company and store consultants: a corporate account in their company's name. Numbers are
encrypted at rest, shown masked, and every full read is logged. A new or changed account
is confirmed by an SMS code to the party's verified phone and can be paid no earlier than
``wait_hours`` (24) after that (account takeover).
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from ..adapters.sms import SmsSender
from ..consultants.models import Consultant
from ..consultants.phone import require_verified_phone
from ..errors import Conflict, NotFound, ValidationFailed
from ..identity.models import Buyer
from ..identity.services import consume_sms_code, send_sms_code
from . import secrets
from .models import PayoutAccount

_ACCOUNT_NUMBER = re.compile(r"\d{8,30}")


class PayoutAccountNotFound(NotFound):
    code, message = "payout_account_not_found", "收款账户不存在"


class PayoutAccountNotPending(Conflict):
    code, message = "payout_account_not_pending", "该收款账户无需验证（已验证或已被替换）"


@dataclass(frozen=True)
class Party:
    """Who is paid: a consultant or a buyer (老带新 rewards)."""
    type: str
    id: int
    phone: str
    kind: str               # independent / company / store / buyer
    name: str | None
    company_name: str | None = None

    @classmethod
    def of_consultant(cls, consultant: Consultant) -> "Party":
        return cls("consultant", consultant.id, consultant.phone, consultant.kind, consultant.name,
                   consultant.company_name)

    @classmethod
    def of_buyer(cls, buyer: Buyer) -> "Party":
        # A buyer's name on file came from a consultant's registration, not from him: not a check on the holder.
        return cls("buyer", buyer.id, buyer.phone, "buyer", None)

    @property
    def corporate(self) -> bool:
        return self.kind in ("company", "store")


def _clean(value: str | None) -> str:
    return " ".join((value or "").split())


def add_account(session: Session, party: Party, *, holder_name: str, bank_name: str, account_number: str,
                id_number: str | None, encryption_key: str, now: datetime) -> PayoutAccount:
    """Add (or change to) an account; it waits for the SMS code. A previous unconfirmed one is abandoned."""
    holder, bank = _clean(holder_name), _clean(bank_name)
    number = re.sub(r"[\s-]", "", account_number or "")
    errors: dict[str, list[str]] = {}
    if not _ACCOUNT_NUMBER.fullmatch(number):
        errors["account_number"] = ["银行账号应为 8–30 位数字"]
    if not bank:
        errors["bank_name"] = ["请填写开户银行"]
    if party.corporate:
        if holder != _clean(party.company_name):
            errors["holder_name"] = [f"公司或门店顾问须使用公司对公账户，户名应为“{party.company_name}”"]
        if id_number:
            errors["id_number"] = ["对公账户无需填写身份证号"]
        ident = None
    else:
        if party.name and holder != _clean(party.name):
            errors["holder_name"] = [f"须使用本人名下的个人账户，户名应为“{party.name}”"]
        elif not holder:
            errors["holder_name"] = ["请填写户名"]
        ident = secrets.normalise_id_number(id_number or "")
        if not secrets.id_number_valid(ident):
            errors["id_number"] = ["身份证号无效（18 位，校验位不符）"]
    if errors:
        raise ValidationFailed(errors)
    pending = session.scalar(select(PayoutAccount).where(
        PayoutAccount.party_type == party.type, PayoutAccount.party_id == party.id,
        PayoutAccount.status == "pending_verification").with_for_update())
    if pending is not None:
        pending.status = "abandoned"
        session.flush()
    account = PayoutAccount(
        party_type=party.type, party_id=party.id, kind="corporate" if party.corporate else "personal",
        holder_name=holder, bank_name=bank, account_number_enc=secrets.encrypt(encryption_key, number),
        account_last4=number[-4:], id_number_enc=secrets.encrypt(encryption_key, ident) if ident else None,
        id_last4=ident[-4:] if ident else None, status="pending_verification", created_at=now)
    session.add(account)
    session.flush()
    return account


def own_account(session: Session, party: Party, account_id: int) -> PayoutAccount:
    account = session.get(PayoutAccount, account_id)
    if account is None or (account.party_type, account.party_id) != (party.type, party.id):
        raise PayoutAccountNotFound()
    return account


def accounts_of(session: Session, party: Party) -> list[PayoutAccount]:
    return list(session.scalars(select(PayoutAccount).where(
        PayoutAccount.party_type == party.type, PayoutAccount.party_id == party.id)
        .order_by(PayoutAccount.id.desc()).limit(20)))


def _require_phone(session: Session, party: Party) -> None:
    if party.type == "consultant":
        require_verified_phone(session.get(Consultant, party.id))


def send_code(session: Session, sms: SmsSender, party: Party, account_id: int, *, ip: str, secret: str,
              now: datetime, config: dict) -> int:
    """An SMS code to the party's (verified) phone to confirm this account."""
    account = own_account(session, party, account_id)
    if account.status != "pending_verification":
        raise PayoutAccountNotPending()
    _require_phone(session, party)
    return send_sms_code(session, sms, party.phone, ip=ip, secret=secret, now=now, config=config)


def verify(session: Session, party: Party, account_id: int, code: str, *, secret: str, now: datetime,
           config: dict, wait_hours: int) -> PayoutAccount:
    """The code confirms the account; it replaces the previous one and is payable after the wait."""
    account = own_account(session, party, account_id)
    if account.status != "pending_verification":
        raise PayoutAccountNotPending()
    _require_phone(session, party)
    consume_sms_code(session, party.phone, code, secret=secret, now=now, config=config)
    return activate(session, party, account, now=now, wait_hours=wait_hours)


def activate(session: Session, party: Party, account: PayoutAccount, *, now: datetime,
             wait_hours: int) -> PayoutAccount:
    """The SMS code was checked (here or by the caller's sign-in with a fresh code)."""
    previous = session.scalar(select(PayoutAccount).where(
        PayoutAccount.party_type == party.type, PayoutAccount.party_id == party.id,
        PayoutAccount.status == "verified").with_for_update())
    if previous is not None:
        previous.status, previous.replaced_at = "replaced", now
        session.flush()
    account.status, account.verified_at = "verified", now
    account.payable_from = now + timedelta(hours=wait_hours)
    session.flush()
    return account


def reveal(session: Session, account: PayoutAccount, *, encryption_key: str, actor_type: str, actor_id: int | None,
           now: datetime, ip: str | None = None) -> dict:
    """The full numbers, for a person who must see them; the read is logged."""
    secrets.log_read(session, actor_type=actor_type, actor_id=actor_id, subject_type="payout_account",
                     subject_id=account.id, what="account_number,id_number", now=now, ip=ip)
    return {"account_number": secrets.decrypt(encryption_key, account.account_number_enc),
            "id_number": secrets.decrypt(encryption_key, account.id_number_enc) if account.id_number_enc else None}


def staff_account(session: Session, account_id: int) -> PayoutAccount:
    account = session.get(PayoutAccount, account_id)
    if account is None:
        raise PayoutAccountNotFound()
    return account


def list_accounts(session: Session, *, party_type: str | None, status: str | None, page: int,
                  per_page: int) -> tuple[list[PayoutAccount], int]:
    from ..db import paginate
    query = select(PayoutAccount)
    if party_type:
        query = query.where(PayoutAccount.party_type == party_type)
    if status:
        query = query.where(PayoutAccount.status == status)
    return paginate(session, query, PayoutAccount.id.desc(), page=page, per_page=per_page)
