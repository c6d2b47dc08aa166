"""Risk tasks (风控): thin, named, idempotent (STYLE §9).

``risk.run_nightly`` runs every job from beat (02:30 Shanghai); ``risk.<kind>`` runs one.
A re-run inserts no flag twice (unique kind and subject) and lowers no credit twice.
"""
from __future__ import annotations

from datetime import datetime

from celery import shared_task
from flask import current_app

from ..db import commit, db, utcnow
from . import jobs, rules


def _run(work, now_iso: str | None, days: int | None):
    now = datetime.fromisoformat(now_iso) if now_iso else utcnow()
    try:
        result = work(db.session, now=now, phone_key=current_app.config["SECRET_KEY"],
                      days=days or rules.LOOKBACK_DAYS)
        commit(db.session)
    except Exception:
        db.session.rollback()
        raise
    return result


@shared_task(name="risk.run_nightly", acks_late=True, reject_on_worker_lost=True)
def run_nightly_task(now_iso: str | None = None, days: int | None = None) -> dict[str, int]:
    """Every risk job over the last ``days`` (default rules.LOOKBACK_DAYS); new flags per kind."""
    return _run(jobs.run_all, now_iso, days)


def _job_task(kind: str):
    def run(now_iso: str | None = None, days: int | None = None) -> int:
        return _run(lambda session, **kwargs: jobs.run_job(session, kind, **kwargs), now_iso, days)
    run.__name__ = f"{kind}_task"
    run.__doc__ = f"The {kind} job alone; new flags."
    return shared_task(name=f"risk.{kind}", acks_late=True, reject_on_worker_lost=True)(run)


JOB_TASKS = {kind: _job_task(kind) for kind in jobs.JOBS}
