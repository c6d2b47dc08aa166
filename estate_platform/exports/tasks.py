"""Export jobs as Celery tasks (thin, named, idempotent: STYLE §9).

``exports.run_job`` writes one job's file (a redelivered or retried job rewrites it whole);
``exports.sweep`` (beat) deletes expired files, fails jobs whose worker died and re-sends
queued jobs whose task was lost while the broker was down (the jobs table is the outbox).
"""
from __future__ import annotations

import logging
from datetime import datetime

from celery import shared_task
from flask import current_app

from ..db import commit, db, utcnow
from . import jobs

log = logging.getLogger(__name__)


def settings() -> jobs.JobSettings:
    return jobs.JobSettings.from_config(current_app.config)


@shared_task(name="exports.run_job", acks_late=True, reject_on_worker_lost=True)
def run_export_job_task(job_id: int) -> str | None:
    """A failure marks the job ``failed`` with a message for people (never the exception's text)."""
    try:
        job = jobs.run_job(db.session, job_id, settings(), now=utcnow(), clock=utcnow,
                           checkpoint=lambda: commit(db.session))
        status = job.status if job is not None else None
        commit(db.session)
    except Exception:
        db.session.rollback()
        log.exception("export job %s failed", job_id)
        jobs.mark_failed(db.session, job_id, jobs.FAILED_MESSAGE, now=utcnow())
        commit(db.session)
        return "failed"
    return status


@shared_task(name="exports.sweep", acks_late=True, reject_on_worker_lost=True)
def sweep_export_jobs_task(now_iso: str | None = None) -> dict:
    now = datetime.fromisoformat(now_iso) if now_iso else utcnow()
    try:
        outcome = jobs.sweep(db.session, settings(), now=now)
        commit(db.session)
    except Exception:
        db.session.rollback()
        raise
    for job_id in outcome["resend"]:
        run_export_job_task.delay(job_id)
    return {**outcome, "resend": len(outcome["resend"])}


def send_after_commit(job_id: int) -> None:
    """Queue the job's task once the request that made (or retried) it has committed."""
    from ..db import after_commit
    after_commit(db.session, lambda: run_export_job_task.delay(job_id))
