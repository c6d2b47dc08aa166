"""The reconciliation run as a Celery task (thin, named, idempotent: STYLE §9)."""
from __future__ import annotations

import logging
import os
from datetime import timedelta

from celery import shared_task
from flask import current_app

from sqlalchemy import select

from ..db import commit, db, utcnow
from . import services
from .models import SalesListUpload

#: An upload still queued this long after its last change lost its task (the broker was down
#: when it was uploaded): the sweep sends it again. Long enough that a task merely waiting in
#: a busy queue is not sent twice.
QUEUED_TOO_LONG = timedelta(minutes=15)

log = logging.getLogger(__name__)


def storage_dir() -> str:
    """Where the original sales lists are kept: ``INSTANCE_PATH/sales_lists``."""
    return os.path.join(current_app.config["INSTANCE_PATH"], "sales_lists")


@shared_task(name="reconciliation.run", acks_late=True, reject_on_worker_lost=True)
def run_reconciliation_task(upload_id: int) -> str:
    """Each chunk commits its rows, disputes and progress; a lost worker's redelivery
    resumes after the last stored line; a finished upload is left alone."""
    try:
        upload = services.run_upload(db.session, upload_id, storage_dir=storage_dir(), now=utcnow(),
                                     after_chunk=lambda: commit(db.session))
        status = upload.status
        commit(db.session)
    except Exception:
        db.session.rollback()
        log.exception("reconciliation %s failed", upload_id)
        services.mark_failed(db.session, upload_id, "处理时出错，请稍后重新处理或联系技术支持", now=utcnow())
        commit(db.session)
        raise
    return status


@shared_task(name="reconciliation.resend_queued", acks_late=True, reject_on_worker_lost=True)
def resend_queued_task(limit: int = 100) -> int:
    """The outbox of uploads (derived from their state, no table of its own): uploads queued
    for longer than ``QUEUED_TOO_LONG`` are sent to a worker again, each at most once per period
    (its ``updated_at`` moves on). A finished upload is left alone by the run itself."""
    now = utcnow()
    try:
        uploads = db.session.scalars(
            select(SalesListUpload).where(SalesListUpload.status == "queued",
                                          SalesListUpload.updated_at <= now - QUEUED_TOO_LONG)
            .order_by(SalesListUpload.id).limit(limit).with_for_update(skip_locked=True)).all()
        ids = [upload.id for upload in uploads]
        for upload in uploads:
            upload.updated_at = now
        commit(db.session)
    except Exception:
        db.session.rollback()
        raise
    for upload_id in ids:
        run_reconciliation_task.delay(upload_id)
    return len(ids)
