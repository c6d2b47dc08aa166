"""The evidence pack (证据包) of a dispute: everything about one buyer and one project that
operations decide on, printable (admin page) and exportable (JSON) (DESIGN §4).

* the timeline: every evidence-chain record of the buyer's registrations, their visits,
  handoffs and deals in the project, with hashes, and each chain's verification result;
* the agreement version each consultant party signed (in force when the buyer was
  registered), its SHA-256 and his signature's;
* the penalty terms that apply and the commission at stake;
* the dispute's own events, statements (attachment hashes) and decisions;
* sections other areas add (revisit outcomes, the developer's sales-list rows): each is a
  provider registered with :func:`register_section`; a section nobody provides reads 暂无.

Phones are masked (前三后四), also inside evidence payloads, unless the viewer's role must
call buyers (operations, admin) and asks for them; such a read is logged as a phone reveal.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime
from typing import Callable

from sqlalchemy import select
from sqlalchemy.orm import Session

from ..contracts.models import AgreementSignature
from ..deals.models import Deal
from ..evidence import services as evidence
from ..evidence.models import EvidenceRecord
from ..handoffs.models import Handoff
from ..identity.models import StaffUser
from ..phones import mask_phone, national
from ..registrations.models import PhoneReveal, Registration
from ..visits.models import Visit
from . import rules
from . import terms as penalty_terms
from .models import Dispute
from .services import decisions_of, events_of, statements_of

REVEAL_ROLES = ("admin", "operations")  # the roles that must call buyers (revisits)

#: key → (title, provider). A provider returns the section's rows (dicts of plain values).
Provider = Callable[[Session, Dispute], list[dict]]


def _revisit_rows(session: Session, dispute: Dispute) -> list[dict]:
    from ..revisits.services import pack_rows  # revisits open disputes: imported when a pack is built
    return pack_rows(session, dispute)


def _sales_list_rows(session: Session, dispute: Dispute) -> list[dict]:
    from ..reconciliation.services import pack_rows  # reconciliation opens disputes: imported when a pack is built
    return pack_rows(session, dispute)


_SECTIONS: dict[str, tuple[str, Provider | None]] = {
    "revisits": ("回访结果", _revisit_rows),
    "sales_list": ("开发商销售清单", _sales_list_rows),
}


def register_section(key: str, title: str, provider: Provider) -> None:
    """Revisits, reconciliation (and later areas) add their rows to every pack."""
    _SECTIONS[key] = (title, provider)


@dataclass
class Chain:
    subject_type: str
    subject_id: int
    verified: bool
    broken_at: int | None
    records: list[EvidenceRecord]


@dataclass
class Section:
    key: str
    title: str
    rows: list[dict]


@dataclass
class AgreementEntry:
    role: str  # respondent | claimant | protected
    consultant_id: int
    consultant_name: str
    version: int | None
    title: str | None
    sha256: str | None
    signed_at: datetime | None
    signed_sha256: str | None

    @property
    def matches(self) -> bool:
        return self.sha256 is not None and self.sha256 == self.signed_sha256


@dataclass
class Pack:
    dispute: Dispute
    generated_at: datetime
    generated_by: StaffUser
    phone_revealed: bool
    buyer_phone: str
    chains: list[Chain]
    timeline: list[tuple[Chain, EvidenceRecord]]
    agreements: list[AgreementEntry]
    terms: penalty_terms.AppliedTerms
    stake: penalty_terms.Stake
    penalty_cents: int
    sections: list[Section] = field(default_factory=list)

    @property
    def verified(self) -> bool:
        return all(chain.verified for chain in self.chains)


def _subjects(session: Session, dispute: Dispute) -> list[tuple[str, int]]:
    registration_ids = list(session.scalars(select(Registration.id).where(
        Registration.project_id == dispute.project_id, Registration.buyer_id == dispute.buyer_id)
        .order_by(Registration.id)))
    visit_ids = list(session.scalars(select(Visit.id).where(Visit.registration_id.in_(registration_ids))
                                     .order_by(Visit.id))) if registration_ids else []
    handoff_ids = list(session.scalars(select(Handoff.id).where(Handoff.project_id == dispute.project_id,
                                                                Handoff.buyer_id == dispute.buyer_id)
                                       .order_by(Handoff.id)))
    deal_ids = list(session.scalars(select(Deal.id).where(Deal.project_id == dispute.project_id,
                                                          Deal.buyer_id == dispute.buyer_id).order_by(Deal.id)))
    return ([("registration", i) for i in registration_ids] + [("visit", i) for i in visit_ids]
            + [("handoff", i) for i in handoff_ids] + [("deal", i) for i in deal_ids])


def _agreements(session: Session, dispute: Dispute, applied: penalty_terms.AppliedTerms) -> list[AgreementEntry]:
    entries = []
    version = applied.agreement
    for role, consultant in (("respondent", dispute.respondent), ("claimant", dispute.claimant),
                             ("protected", dispute.protected)):
        if consultant is None or any(e.consultant_id == consultant.id for e in entries):
            continue
        signature = None
        if version is not None:
            signature = session.scalar(select(AgreementSignature).where(
                AgreementSignature.consultant_id == consultant.id,
                AgreementSignature.agreement_version_id == version.id))
        entries.append(AgreementEntry(role=role, consultant_id=consultant.id, consultant_name=consultant.name,
                                      version=version.version if version else None,
                                      title=version.title if version else None,
                                      sha256=version.sha256 if version else None,
                                      signed_at=signature.signed_at if signature else None,
                                      signed_sha256=signature.text_sha256 if signature else None))
    return entries


def may_reveal(staff: StaffUser) -> bool:
    return staff.role in REVEAL_ROLES


def build(session: Session, dispute: Dispute, *, viewer: StaffUser, reveal_phone: bool, now: datetime) -> Pack:
    """The pack as the viewer may see it; a full phone is shown only to a role that must call
    buyers and asked for it, and that read is logged."""
    revealed = bool(reveal_phone) and may_reveal(viewer)
    phone = dispute.buyer.phone
    if revealed:
        session.add(PhoneReveal(staff_user_id=viewer.id, buyer_id=dispute.buyer_id,
                                registration_id=dispute.registration_id, purpose=f"争议 #{dispute.id} 证据包",
                                created_at=now))
    chains = []
    for subject_type, subject_id in _subjects(session, dispute):
        records = evidence.chain(session, subject_type, subject_id)
        verified, broken_at = evidence.verify(records)
        chains.append(Chain(subject_type, subject_id, verified, broken_at, records))
    timeline = sorted(((chain, record) for chain in chains for record in chain.records),
                      key=lambda item: (item[1].created_at, item[1].id))
    applied = penalty_terms.terms_for(session, dispute)
    stake = penalty_terms.stake_for(session, dispute)
    sections = []
    for key, (title, provider) in _SECTIONS.items():
        sections.append(Section(key, title, provider(session, dispute) if provider is not None else []))
    return Pack(dispute=dispute, generated_at=now, generated_by=viewer, phone_revealed=revealed,
                buyer_phone=national(phone) if revealed else mask_phone(phone), chains=chains, timeline=timeline,
                agreements=_agreements(session, dispute, applied), terms=applied, stake=stake,
                penalty_cents=rules.penalty_cents(applied.terms, stake.cents)
                if dispute.respondent_kind == "consultant" else 0, sections=sections)


def payload_for_people(pack: Pack, record: EvidenceRecord) -> dict:
    """A record's payload with every phone masked unless the pack reveals them."""
    try:
        data = json.loads(record.payload or "{}")
    except ValueError:
        return {}
    if not isinstance(data, dict):
        return {}
    if not pack.phone_revealed:
        for key, value in list(data.items()):
            if "phone" in key and isinstance(value, str) and len(value) >= 7:
                data[key] = mask_phone(value)
    return data


def as_dict(session: Session, pack: Pack) -> dict:
    """The JSON export: plain values only."""
    dispute = pack.dispute

    def instant(value):
        return value.isoformat() if value is not None else None

    return {
        "dispute": {"id": dispute.id, "source": dispute.source, "source_key": dispute.source_key,
                    "status": dispute.status, "status_label": rules.STATUS_LABELS[dispute.status],
                    "subject": dispute.subject, "summary": dispute.summary,
                    "respondent_kind": dispute.respondent_kind,
                    "respondent_consultant_id": dispute.respondent_consultant_id,
                    "claimant_consultant_id": dispute.claimant_consultant_id,
                    "protected_consultant_id": dispute.protected_consultant_id,
                    "project": {"id": dispute.project_id, "name": dispute.project.name},
                    "developer": {"id": dispute.developer_id, "name": dispute.developer.name},
                    "registration_id": dispute.registration_id, "deal_id": dispute.deal_id,
                    "deadline_at": instant(dispute.deadline_at), "created_at": instant(dispute.created_at),
                    "closed_at": instant(dispute.closed_at)},
        "buyer": {"id": dispute.buyer_id, "name": dispute.buyer.name, "phone": pack.buyer_phone,
                  "phone_revealed": pack.phone_revealed},
        "generated_at": instant(pack.generated_at),
        "generated_by": {"id": pack.generated_by.id, "display_name": pack.generated_by.display_name},
        "evidence_verified": pack.verified,
        "chains": [{"subject_type": c.subject_type, "subject_id": c.subject_id, "verified": c.verified,
                    "broken_at": c.broken_at, "records": len(c.records)} for c in pack.chains],
        "timeline": [{"subject_type": r.subject_type, "subject_id": r.subject_id, "seq": r.seq, "event": r.event,
                      "actor_type": r.actor_type, "actor_id": r.actor_id, "at": instant(r.created_at),
                      "payload": payload_for_people(pack, r), "prev_hash": r.prev_hash, "hash": r.hash}
                     for _, r in pack.timeline],
        "agreements": [{"role": a.role, "consultant_id": a.consultant_id, "consultant_name": a.consultant_name,
                        "version": a.version, "title": a.title, "sha256": a.sha256, "signed_at": instant(a.signed_at),
                        "signed_sha256": a.signed_sha256, "signature_matches": a.matches} for a in pack.agreements],
        "terms": {"penalty_fixed_cents": pack.terms.terms.fixed_cents,
                  "penalty_multiple_bps": pack.terms.terms.multiple_bps, "as_of": instant(pack.terms.as_of),
                  "text": pack.terms.note},
        "stake": {"cents": pack.stake.cents, "basis": pack.stake.basis},
        "penalty_cents": pack.penalty_cents,
        "events": [{"event": e.event, "actor_type": e.actor_type, "actor_id": e.actor_id, "note": e.note,
                    "at": instant(e.created_at)} for e in events_of(session, dispute)],
        "statements": [{"consultant_id": s.consultant_id, "text": s.text, "at": instant(s.created_at),
                        "attachments": [{"id": a.id, "filename": a.filename, "content_type": a.content_type,
                                         "size_bytes": a.size_bytes, "sha256": a.sha256} for a in s.attachments]}
                       for s in statements_of(session, dispute)],
        "decisions": [{"id": d.id, "outcome": d.outcome, "status": d.status, "reason": d.reason,
                       "stake_cents": d.stake_cents, "penalty_cents": d.penalty_cents,
                       "proposed_by_id": d.proposed_by_id, "proposed_at": instant(d.proposed_at),
                       "approved_by_id": d.approved_by_id, "approved_at": instant(d.approved_at)}
                      for d in decisions_of(session, dispute)],
        "sections": [{"key": s.key, "title": s.title, "rows": s.rows} for s in pack.sections],
    }
