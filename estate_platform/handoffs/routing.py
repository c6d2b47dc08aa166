"""Who the platform pool offers a handed-off buyer to (二次分配, DESIGN §2): a pure rule.

The pool routes by project, city, rating and load. Among the consultants who may
receive the buyer (operating, not the sender, never offered this handoff
before), it prefers, in this order:

1. the project's city (a consultant works where he lives),
2. someone who already works the project (has registered buyers there),
3. a higher rating (0–100),
4. a lower open load (open registrations plus pending handoff offers),
5. the lower consultant id: a fixed tie-break, so the same input always routes the same way.
"""
from __future__ import annotations

from collections.abc import Collection, Iterable
from dataclasses import dataclass


@dataclass(frozen=True)
class Candidate:
    consultant_id: int
    city: str
    rating: int  # 0–100
    open_load: int  # open registrations (reported/visited) + pending handoff offers
    covers_project: bool  # has registered buyers in this project before
    operating: bool = True  # active and signed the current agreement


def _same_city(candidate: Candidate, project_city: str) -> bool:
    return candidate.city.strip() == project_city.strip()


def eligible(candidate: Candidate, *, sender_id: int, previous_offerees: Collection[int]) -> bool:
    return (candidate.operating and candidate.consultant_id != sender_id
            and candidate.consultant_id not in previous_offerees)


def rank(candidates: Iterable[Candidate], *, project_city: str, sender_id: int,
         previous_offerees: Collection[int] = ()) -> list[Candidate]:
    """Eligible candidates, best first. Input order never matters."""
    chosen = {}
    for candidate in candidates:
        if eligible(candidate, sender_id=sender_id, previous_offerees=previous_offerees):
            # One entry per consultant; should the caller repeat one, keep the same one whatever the order.
            key = _key(candidate, project_city)
            if candidate.consultant_id not in chosen or key < _key(chosen[candidate.consultant_id], project_city):
                chosen[candidate.consultant_id] = candidate
    return sorted(chosen.values(), key=lambda c: _key(c, project_city))


def choose(candidates: Iterable[Candidate], *, project_city: str, sender_id: int,
           previous_offerees: Collection[int] = ()) -> Candidate | None:
    """The consultant the pool offers the buyer to next, or None when nobody is left."""
    ranked = rank(candidates, project_city=project_city, sender_id=sender_id, previous_offerees=previous_offerees)
    return ranked[0] if ranked else None


def _key(candidate: Candidate, project_city: str) -> tuple:
    return (not _same_city(candidate, project_city), not candidate.covers_project, -candidate.rating,
            candidate.open_load, candidate.consultant_id, candidate.city)
