"""The reconciliation run as a Celery task (thin, named, idempotent: STYLE §9)."""
from __future__ import annotations

import logging
import os

from celery import shared_task
from flask import current_app

from ..db import commit, db, utcnow
from . import services

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
