"""Which penalty terms apply to a dispute, and what commission is at stake (DESIGN §2, §5a).

The terms in force when the buyer was registered apply (or, for a dispute about no
registration, when it was opened): the agreement version published by then, made
stricter term by term by the project's own terms in force then (``rules.PenaltyTerms``).
A project's terms are versions (``ProjectPenaltyTerms``), never edited.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from ..commissions import services as commissions
from ..contracts.models import AgreementVersion
from ..errors import Conflict, ValidationFailed
from ..money import yuan
from ..projects.models import Project, ProjectPenaltyTerms
from ..projects.services import get_project
from . import rules
from .models import Dispute


class TermsVersionExists(Conflict):
    code, message = "penalty_terms_version_exists", "同一时刻已设置过违约金条款，请稍后重试"


def agreement_in_force(session: Session, at: datetime) -> AgreementVersion | None:
    return session.scalar(select(AgreementVersion).where(AgreementVersion.published_at <= at)
                          .order_by(AgreementVersion.version.desc()).limit(1))


def project_terms_in_force(session: Session, project_id: int, at: datetime) -> ProjectPenaltyTerms | None:
    return session.scalar(select(ProjectPenaltyTerms).where(ProjectPenaltyTerms.project_id == project_id,
                                                            ProjectPenaltyTerms.effective_at <= at)
                          .order_by(ProjectPenaltyTerms.effective_at.desc()).limit(1))


def agreement_terms(agreement: AgreementVersion | None) -> rules.PenaltyTerms:
    if agreement is None:
        return rules.PenaltyTerms()
    return rules.PenaltyTerms(agreement.penalty_fixed_cents or 0, agreement.penalty_multiple_bps or 0)


def project_terms(version: ProjectPenaltyTerms | None) -> rules.PenaltyTerms | None:
    return None if version is None else rules.PenaltyTerms(version.penalty_fixed_cents, version.penalty_multiple_bps)


@dataclass
class AppliedTerms:
    terms: rules.PenaltyTerms
    agreement: AgreementVersion | None
    project_version: ProjectPenaltyTerms | None
    as_of: datetime

    @property
    def note(self) -> str:
        where = f"协议第 {self.agreement.version} 版" if self.agreement else "无生效协议"
        if self.project_version is not None:
            where += f" + 楼盘加重条款（{project_terms(self.project_version).text()}）"
        return f"{where}：{self.terms.text()}"


def terms_at(session: Session, project_id: int, at: datetime) -> AppliedTerms:
    agreement = agreement_in_force(session, at)
    version = project_terms_in_force(session, project_id, at)
    return AppliedTerms(agreement_terms(agreement).stricter(project_terms(version)), agreement, version, at)


def terms_for(session: Session, dispute: Dispute) -> AppliedTerms:
    """The terms in force when the buyer was registered (else when the dispute was opened)."""
    at = dispute.registration.created_at if dispute.registration is not None else dispute.created_at
    return terms_at(session, dispute.project_id, at)


@dataclass
class Stake:
    cents: int
    basis: str  # for people: where the amount comes from


def stake_for(session: Session, dispute: Dispute, *, sale_price_cents: int | None = None,
              sold_on: date | None = None) -> Stake:
    """The commission at stake: the platform deal's commission when there is one; otherwise
    what the project's rule in force on the sale date gives for the listed price (given here
    or on the dispute); zero when neither a price nor a rule is known."""
    if dispute.deal is not None and sale_price_cents is None:
        return Stake(dispute.deal.commission_cents, f"成交 #{dispute.deal.id} 的佣金")
    price = sale_price_cents if sale_price_cents is not None else dispute.sale_price_cents
    on = sold_on if sold_on is not None else dispute.sold_on
    if price is None or on is None:
        return Stake(0, "未知成交价：按固定违约金")
    cents = commissions.commission_at_stake(session, dispute.project_id, price, on)
    if cents == 0:
        return Stake(0, f"{on.isoformat()} 无生效佣金规则：按固定违约金")
    return Stake(cents, f"按 {on.isoformat()} 生效的佣金规则，成交价 {yuan(price)} 的佣金")


# --- a project's own terms ----------------------------------------------------------------

def set_project_terms(session: Session, project_id: int, *, penalty_fixed_cents: int, penalty_multiple_bps: int,
                      staff_id: int | None, now: datetime) -> ProjectPenaltyTerms:
    """New terms for the project from now on; registrations made before keep the terms in
    force when they were made. Zero and zero leave the agreement's terms alone."""
    project = get_project(session, project_id)
    errors: dict[str, list[str]] = {}
    if not isinstance(penalty_fixed_cents, int) or not 0 <= penalty_fixed_cents <= rules.MAX_PENALTY_CENTS:
        errors["penalty_fixed_cents"] = ["每宗固定违约金须在 0 到 100 亿元之间（以分为单位的整数）"]
    if not isinstance(penalty_multiple_bps, int) or not 0 <= penalty_multiple_bps <= rules.MAX_MULTIPLE_BPS:
        errors["penalty_multiple_bps"] = ["佣金倍数须在 0 到 100 倍之间（基点：20000 = 2 倍）"]
    if errors:
        raise ValidationFailed(errors)
    version = ProjectPenaltyTerms(project_id=project.id, effective_at=now, penalty_fixed_cents=penalty_fixed_cents,
                                  penalty_multiple_bps=penalty_multiple_bps, created_by_id=staff_id, created_at=now)
    try:
        with session.begin_nested():
            session.add(version)
    except IntegrityError:
        raise TermsVersionExists() from None
    return version


@dataclass
class ProjectTermsView:
    project: Project
    current: ProjectPenaltyTerms | None
    effective: rules.PenaltyTerms  # with today's agreement
    agreement: AgreementVersion | None
    history: list[ProjectPenaltyTerms]

    @property
    def text(self) -> str:
        return self.effective.text()


def project_terms_view(session: Session, project_id: int, *, now: datetime) -> ProjectTermsView:
    project = get_project(session, project_id)
    history = list(session.scalars(select(ProjectPenaltyTerms).where(ProjectPenaltyTerms.project_id == project.id)
                                   .order_by(ProjectPenaltyTerms.effective_at.desc())))
    current = next((v for v in history if v.effective_at <= now), None)
    applied = terms_at(session, project.id, now)
    return ProjectTermsView(project, current, applied.terms, applied.agreement, history)
