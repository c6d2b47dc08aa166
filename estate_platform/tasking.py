"""Celery, configured by the app factory (DESIGN §6).

Embedded default: kombu's ``filesystem://`` transport under ``instance/``, with
one ``celery worker -B --pool=solo`` started beside the web server by
``make run``; it runs sent tasks and the beat schedule with no server at all.
Production: ``CELERY_BROKER_URL=redis://…``, workers and exactly one beat.
Tasks are named, take ids and ISO strings, call one service, commit once, and
are safe to run twice (``acks_late`` + ``task_reject_on_worker_lost``).

Broker down: a task sent after a commit (``db.after_commit``) may be lost, never the request.
Every such task derives its work from committed rows, and a beat sweep finds that work again:
notifications (``notifications.redeliver_pending``), due recognitions (``deals.recognise_due``),
queued reconciliation uploads (``reconciliation.resend_queued``). That state is the outbox; its
rows of notifications and buyer notices are drained by ``outbox.drain`` (woken after commits, and
every few seconds by the beat).
"""
from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from celery import Celery, Task
from celery.schedules import crontab

from .logs import request_id_var


def make_celery(app) -> Celery:
    class AppContextTask(Task):
        def __call__(self, *args, **kwargs):
            # A task's log lines carry its task id where a request's carry the request id.
            token = request_id_var.set(f"task:{self.request.id or self.name}")
            try:
                with app.app_context():
                    return self.run(*args, **kwargs)
            finally:
                request_id_var.reset(token)

    celery = Celery(app.import_name, task_cls=AppContextTask)
    config = dict(app.config["CELERY"])
    transport = config.get("broker_transport_options") or {}
    for key in ("data_folder_in", "data_folder_out", "processed_folder"):
        if key in transport:
            Path(transport[key]).mkdir(parents=True, exist_ok=True)
    if config.get("beat_schedule_filename"):
        Path(config["beat_schedule_filename"]).parent.mkdir(parents=True, exist_ok=True)
    config.setdefault("beat_schedule", BEAT_SCHEDULE)
    config.setdefault("worker_hijack_root_logger", False)  # keep estate_platform.logs' one-line format
    celery.config_from_object(config)
    celery.set_default()
    from . import tasks  # noqa: F401  (registers the task functions)
    app.extensions["celery"] = celery
    return celery


BEAT_SCHEDULE = {
    "purge-expired-sms-codes": {"task": "identity.purge_expired_sms_codes", "schedule": timedelta(hours=1)},
    "purge-stale-login-throttles": {"task": "identity.purge_stale_login_throttles", "schedule": timedelta(hours=1)},
    "expire-registrations": {"task": "registrations.expire_due", "schedule": timedelta(minutes=5)},
    "remind-expiring-registrations": {"task": "registrations.remind_expiring", "schedule": timedelta(minutes=30)},
    "reroute-timed-out-handoffs": {"task": "handoffs.reroute_timed_out", "schedule": timedelta(minutes=5)},
    "follow-up-reminders": {"task": "crm.send_follow_up_reminders", "schedule": timedelta(minutes=15)},
    "recognise-commissions": {"task": "deals.recognise_due", "schedule": timedelta(hours=1)},
    "release-payable-commissions": {"task": "receivables.release_due", "schedule": timedelta(hours=1)},
    # The outbox's backstop: requests wake the drain (at most once per window per process); this
    # runs it when a wake-up was skipped or lost (db.after_commit_deliver).
    "drain-outbox": {"task": "outbox.drain", "schedule": timedelta(seconds=5)},
    "redeliver-notifications": {"task": "notifications.redeliver_pending", "schedule": timedelta(minutes=10)},
    "resend-queued-reconciliations": {"task": "reconciliation.resend_queued", "schedule": timedelta(minutes=5)},
    "credit-award-tenure": {"task": "credit.award_tenure", "schedule": timedelta(hours=24)},
    "risk-nightly": {"task": "risk.run_nightly", "schedule": crontab(hour=2, minute=30)},  # Shanghai time
    "schedule-revisits": {"task": "revisits.schedule", "schedule": timedelta(hours=1)},
    "sweep-registration-notices": {"task": "privacy.sweep_registration_notices", "schedule": timedelta(minutes=5)},
    "anonymise-expired-buyers": {"task": "privacy.anonymise_expired_buyers",
                                 "schedule": crontab(hour=3, minute=40)},  # Shanghai time
    "expire-buyback-requests": {"task": "buyback.expire_requests", "schedule": timedelta(minutes=10)},
    "settlement-monthly": {"task": "settlement.prepare_monthly",  # Shanghai time, the 1st at 03:00
                           "schedule": crontab(day_of_month=1, hour=3, minute=0)},
    "settlement-send-pending": {"task": "settlement.send_pending", "schedule": timedelta(minutes=10)},
    "sweep-export-jobs": {"task": "exports.sweep", "schedule": timedelta(minutes=10)},
}

