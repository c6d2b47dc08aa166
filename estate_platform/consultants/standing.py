"""Was a consultant operating at a past instant? (DESIGN §3: a chain member who was not
active with a signed agreement on the subscription date is skipped.)

Answered from the append-only histories: the consultant's status events and his
signatures, against the agreement version in force then. Loaded once for many
consultants, so a batch asks without a query per deal.
"""
from __future__ import annotations

import bisect
from collections import defaultdict
from datetime import datetime
from typing import Iterable

from sqlalchemy import select
from sqlalchemy.orm import Session

from ..db import among, id_chunks
from ..contracts.models import AgreementSignature, AgreementVersion
from .models import ConsultantStatusEvent


class Standing:
    def __init__(self, statuses: dict[int, list[tuple[datetime, str]]],
                 versions: list[tuple[datetime, int]], signatures: dict[int, dict[int, datetime]]):
        self._statuses = statuses  # consultant → [(at, to_status)] in time order
        self._version_times = [at for at, _ in versions]
        self._versions = [version_id for _, version_id in versions]
        self._signatures = signatures  # consultant → {agreement_version_id: signed_at}

    @classmethod
    def load(cls, session: Session, consultant_ids: Iterable[int]) -> "Standing":
        statuses: dict[int, list[tuple[datetime, str]]] = defaultdict(list)
        signatures: dict[int, dict[int, datetime]] = defaultdict(dict)
        for chunk in id_chunks(session, consultant_ids):
            for consultant_id, at, to_status in session.execute(
                    select(ConsultantStatusEvent.consultant_id, ConsultantStatusEvent.created_at,
                           ConsultantStatusEvent.to_status)
                    .where(among(session, ConsultantStatusEvent.consultant_id, chunk))
                    .order_by(ConsultantStatusEvent.created_at, ConsultantStatusEvent.id)):
                statuses[consultant_id].append((at, to_status))
            for consultant_id, version_id, signed_at in session.execute(
                    select(AgreementSignature.consultant_id, AgreementSignature.agreement_version_id,
                           AgreementSignature.signed_at).where(among(session, AgreementSignature.consultant_id, chunk))):
                signatures[consultant_id][version_id] = signed_at
        versions = [(at, version_id) for at, version_id in session.execute(
            select(AgreementVersion.published_at, AgreementVersion.id).order_by(AgreementVersion.version))]
        return cls(statuses, versions, signatures)

    def status_at(self, consultant_id: int, at: datetime) -> str | None:
        events = self._statuses.get(consultant_id, [])
        index = bisect.bisect_right([when for when, _ in events], at)
        return events[index - 1][1] if index else None

    def agreement_at(self, at: datetime) -> int | None:
        index = bisect.bisect_right(self._version_times, at)
        return self._versions[index - 1] if index else None

    def operating_at(self, consultant_id: int, at: datetime) -> bool:
        """Active, and had signed the agreement version in force, at ``at``."""
        if self.status_at(consultant_id, at) != "active":
            return False
        version_id = self.agreement_at(at)
        if version_id is None:
            return False
        signed_at = self._signatures.get(consultant_id, {}).get(version_id)
        return signed_at is not None and signed_at <= at
