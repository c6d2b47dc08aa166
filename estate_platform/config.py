"""Configuration from environment variables, with an embedded default for each.

Nothing here needs an account anywhere: the defaults run on a SQLite file, the
filesystem Celery transport and the local WeChat/SMS/Stripe adapters.
"""
from __future__ import annotations

import os
from pathlib import Path
from urllib.parse import urlsplit

DEFAULT_SECRET_KEY = "dev-only-secret-change-me"
ADAPTER_KINDS = ("local", "http")
PROJECT_ROOT = Path(__file__).resolve().parent.parent
INSTANCE_DIR = Path(os.environ.get("INSTANCE_PATH", PROJECT_ROOT / "instance"))


class ConfigError(RuntimeError):
    """The configuration is unsafe or incomplete for the chosen environment."""


def _bool(value: str | None, default: bool = False) -> bool:
    if value is None:
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


def _int(env: dict, key: str, default: int) -> int:
    raw = env.get(key)
    if raw is None or raw == "":
        return default
    try:
        return int(raw)
    except ValueError as exc:
        raise ConfigError(f"{key} must be an integer, got {raw!r}") from exc


def load_config(env: dict | None = None) -> dict:
    """Build the Flask config mapping from ``env`` (default: ``os.environ``)."""
    env = dict(os.environ if env is None else env)
    instance = Path(env.get("INSTANCE_PATH", INSTANCE_DIR))
    app_env = env.get("APP_ENV", "development")
    database_url = env.get("DATABASE_URL") or f"sqlite:///{instance / 'estate.db'}"
    if database_url.startswith("postgres://"):
        database_url = "postgresql+psycopg://" + database_url[len("postgres://"):]
    elif database_url.startswith("postgresql://"):
        database_url = "postgresql+psycopg://" + database_url[len("postgresql://"):]

    broker = env.get("CELERY_BROKER_URL") or "filesystem://"
    celery = {
        "broker_url": broker,
        "task_serializer": "json",
        "accept_content": ["json"],
        "result_serializer": "json",
        "task_ignore_result": True,
        "task_acks_late": True,
        "task_reject_on_worker_lost": True,
        "worker_prefetch_multiplier": 1,
        "timezone": "Asia/Shanghai",
        "enable_utc": True,
        "broker_connection_retry_on_startup": True,
        "task_always_eager": _bool(env.get("CELERY_TASK_ALWAYS_EAGER")),
        "beat_schedule_filename": str(instance / "celerybeat-schedule"),
    }
    if broker.startswith("filesystem://"):
        queue_dir = instance / "celery-queue"
        celery["broker_transport_options"] = {
            "data_folder_in": str(queue_dir),
            "data_folder_out": str(queue_dir),
            "processed_folder": str(instance / "celery-processed"),
            "store_processed": False,
        }
    elif broker.startswith(("redis://", "rediss://")):
        # A Redis that does not answer must not hold a request: connecting gives up after 2 s
        # (the send is retried a few times, then left to the sweepers; see db.commit).
        celery["broker_transport_options"] = {"socket_connect_timeout": 2}

    config = {
        "APP_ENV": app_env,
        "SECRET_KEY": env.get("SECRET_KEY") or DEFAULT_SECRET_KEY,
        "SQLALCHEMY_DATABASE_URI": database_url,
        "SQLALCHEMY_ENGINE_OPTIONS": {"pool_pre_ping": True},
        "INSTANCE_PATH": str(instance),
        "CELERY": celery,
        # The outbox (db.wake_outbox_drain): a process wakes the worker's drain at most once per
        # this many milliseconds (0: after every commit); the drain claims this many rows a batch.
        "OUTBOX_WAKE_MS": _int(env, "OUTBOX_WAKE_MS", 500),
        "OUTBOX_DRAIN_BATCH": _int(env, "OUTBOX_DRAIN_BATCH", 20),
        # Sign-in tokens (mini-program, H5 buyers, staff JSON API).
        "TOKEN_TTL_SECONDS": _int(env, "TOKEN_TTL_SECONDS", 7 * 24 * 3600),
        "STAFF_TOKEN_TTL_SECONDS": _int(env, "STAFF_TOKEN_TTL_SECONDS", 12 * 3600),
        # Staff sign-in throttle (identity.throttle): free failures per username and per
        # address, then a wait that doubles per further failure up to the cap; a key's
        # failures are forgotten after a quiet period. Nothing locks an account.
        "LOGIN_MAX_FAILURES": _int(env, "LOGIN_MAX_FAILURES", 5),
        "LOGIN_IP_MAX_FAILURES": _int(env, "LOGIN_IP_MAX_FAILURES", 20),
        "LOGIN_BACKOFF_SECONDS": _int(env, "LOGIN_BACKOFF_SECONDS", 30),
        "LOGIN_BACKOFF_MAX_SECONDS": _int(env, "LOGIN_BACKOFF_MAX_SECONDS", 900),
        "LOGIN_FORGET_AFTER_MINUTES": _int(env, "LOGIN_FORGET_AFTER_MINUTES", 60),
        # Adapters: "local" (default, no account needed) or "http" (the real service).
        "WECHAT_ADAPTER": env.get("WECHAT_ADAPTER", "local"),
        "WECHAT_APP_ID": env.get("WECHAT_APP_ID", ""),
        "WECHAT_APP_SECRET": env.get("WECHAT_APP_SECRET", ""),
        "WECHAT_API_BASE": env.get("WECHAT_API_BASE", "https://api.weixin.qq.com"),
        # The Official Account (公众号) whose web authorisation signs consultants in on the
        # /m/ pages opened inside WeChat; empty: those pages offer SMS sign-in only.
        # snsapi_userinfo makes WeChat return the unionid that links it to the mini-program.
        "WECHAT_OA_APP_ID": env.get("WECHAT_OA_APP_ID", ""),
        "WECHAT_OA_APP_SECRET": env.get("WECHAT_OA_APP_SECRET", ""),
        "WECHAT_OA_SCOPE": env.get("WECHAT_OA_SCOPE", "snsapi_base"),
        # The consultant pages (/m/): a short-lived bearer token in the page's memory,
        # refreshed from an HttpOnly cookie that lives this many days.
        "CONSULTANT_ACCESS_TTL_SECONDS": _int(env, "CONSULTANT_ACCESS_TTL_SECONDS", 15 * 60),
        "CONSULTANT_SESSION_DAYS": _int(env, "CONSULTANT_SESSION_DAYS", 30),
        # WeChat subscribe messages to consultants (same app id and secret as the login).
        "NOTIFY_ADAPTER": env.get("NOTIFY_ADAPTER", "local"),
        # WECHAT_TEMPLATE_<KIND>=<template id>[;title=thing1,body=thing2,time=time3], one per notification kind.
        "WECHAT_TEMPLATES": {key[len("WECHAT_TEMPLATE_"):].lower(): value.strip() for key, value in env.items()
                             if key.startswith("WECHAT_TEMPLATE_") and value.strip()},
        "SMS_ADAPTER": env.get("SMS_ADAPTER", "local"),
        "SMS_API_URL": env.get("SMS_API_URL", ""),
        "SMS_API_KEY": env.get("SMS_API_KEY", ""),
        "SMS_SIGN_NAME": env.get("SMS_SIGN_NAME", "新房分销平台"),
        "SMS_TEMPLATE_CODE": env.get("SMS_TEMPLATE_CODE", "SMS_LOGIN"),
        "SMS_CODE_TTL_SECONDS": _int(env, "SMS_CODE_TTL_SECONDS", 300),
        "SMS_MAX_ATTEMPTS": _int(env, "SMS_MAX_ATTEMPTS", 5),
        "SMS_PHONE_INTERVAL_SECONDS": _int(env, "SMS_PHONE_INTERVAL_SECONDS", 60),
        "SMS_PHONE_HOURLY_LIMIT": _int(env, "SMS_PHONE_HOURLY_LIMIT", 5),
        "SMS_IP_HOURLY_LIMIT": _int(env, "SMS_IP_HOURLY_LIMIT", 20),
        # Side doors (issue 15 §2): a consultant names his inviter himself only this many days
        # after applying (and before his first registration); site staff record a deal
        # subscribed longer ago than this only with platform approval.
        "CONSULTANT_INVITER_WINDOW_DAYS": _int(env, "CONSULTANT_INVITER_WINDOW_DAYS", 7),
        "DEAL_BACKDATE_DAYS": _int(env, "DEAL_BACKDATE_DAYS", 7),
        # Buyers' personal data (issue 15 §1): money records' retention (erasure waits for it),
        # the period after which buyers who never bought are anonymised, which must outlast
        # reconciliation (the longest protection window plus the developers' sales-list delay),
        # and the public address of the links sent by SMS (objection to a registration).
        "FINANCE_RETENTION_YEARS": _int(env, "FINANCE_RETENTION_YEARS", 30),
        "BUYER_RETENTION_DAYS": _int(env, "BUYER_RETENTION_DAYS", 365),
        "PROTECTION_WINDOW_MAX_DAYS": _int(env, "PROTECTION_WINDOW_MAX_DAYS", 120),
        "SALES_LIST_DELAY_DAYS": _int(env, "SALES_LIST_DELAY_DAYS", 90),
        # No default in production: the links in buyers' SMS would point at 127.0.0.1.
        "PUBLIC_BASE_URL": env.get("PUBLIC_BASE_URL", "" if app_env == "production" else "http://127.0.0.1:5000"),
        "STRIPE_ADAPTER": env.get("STRIPE_ADAPTER", "local"),
        "STRIPE_API_KEY": env.get("STRIPE_API_KEY", ""),
        "STRIPE_WEBHOOK_SECRET": env.get("STRIPE_WEBHOOK_SECRET", ""),
        "STRIPE_API_BASE": env.get("STRIPE_API_BASE", "https://api.stripe.com"),
        # Settlement (issue 12): payout data encrypted at rest under PAYOUT_ENCRYPTION_KEY (a Fernet
        # key; derived from SECRET_KEY in development, required in production), payout limits in
        # cents (minimum payout, per-payout and per-day platform maximum) and the wait after a
        # payout account is added or changed. The local gateway can be slowed down (tests).
        "PAYOUT_ENCRYPTION_KEY": env.get("PAYOUT_ENCRYPTION_KEY", ""),
        "PAYOUT_MIN_CENTS": _int(env, "PAYOUT_MIN_CENTS", 10_000),
        "PAYOUT_MAX_CENTS": _int(env, "PAYOUT_MAX_CENTS", 50_000_000),
        "PAYOUT_DAILY_MAX_CENTS": _int(env, "PAYOUT_DAILY_MAX_CENTS", 5_000_000_000),
        "PAYOUT_ACCOUNT_WAIT_HOURS": _int(env, "PAYOUT_ACCOUNT_WAIT_HOURS", 24),
        "LOCAL_GATEWAY_DELAY_MS": _int(env, "LOCAL_GATEWAY_DELAY_MS", 0),
        "PAYOUT_SEND_CHUNK_SIZE": _int(env, "PAYOUT_SEND_CHUNK_SIZE", 500),  # items per committed chunk
        # Revisits (回访): calls N days before protection ends and M days after it ended with
        # no deal, a sample of new deals (basis points), a claim's minutes, retries of an
        # unreachable buyer, and how far back the scheduler looks for its subjects.
        "REVISIT_BEFORE_EXPIRY_DAYS": _int(env, "REVISIT_BEFORE_EXPIRY_DAYS", 7),
        "REVISIT_AFTER_EXPIRY_DAYS": _int(env, "REVISIT_AFTER_EXPIRY_DAYS", 14),
        "REVISIT_DEAL_SAMPLE_BPS": _int(env, "REVISIT_DEAL_SAMPLE_BPS", 2000),
        "REVISIT_CLAIM_MINUTES": _int(env, "REVISIT_CLAIM_MINUTES", 30),
        "REVISIT_MAX_UNREACHABLE": _int(env, "REVISIT_MAX_UNREACHABLE", 3),
        "REVISIT_LOOKBACK_DAYS": _int(env, "REVISIT_LOOKBACK_DAYS", 30),
        # Export jobs (后台导出, issue 13 §3): where the files are written (unguessable names), how
        # long a finished file stays downloadable, and how often a job reports its progress.
        "EXPORT_DIR": env.get("EXPORT_DIR") or str(instance / "exports"),
        "EXPORT_FILE_TTL_HOURS": _int(env, "EXPORT_FILE_TTL_HOURS", 24),
        "EXPORT_PROGRESS_ROWS": _int(env, "EXPORT_PROGRESS_ROWS", 2000),
        "EXPORT_JOB_STALE_MINUTES": _int(env, "EXPORT_JOB_STALE_MINUTES", 60),
        # Session cookie of the admin pages.
        "SESSION_COOKIE_HTTPONLY": True,
        "SESSION_COOKIE_SAMESITE": "Lax",
        "SESSION_COOKIE_SECURE": app_env == "production",
        "PERMANENT_SESSION_LIFETIME": _int(env, "STAFF_SESSION_SECONDS", 8 * 3600),
        "MAX_CONTENT_LENGTH": _int(env, "MAX_CONTENT_LENGTH", 10 * 1024 * 1024),
        "JSON_AS_ASCII": False,
    }
    for key in ("WECHAT_ADAPTER", "SMS_ADAPTER", "STRIPE_ADAPTER", "NOTIFY_ADAPTER"):
        if config[key] not in ADAPTER_KINDS:
            raise ConfigError(f"{key} must be one of {', '.join(ADAPTER_KINDS)}, got {config[key]!r}")
    if config["WECHAT_OA_SCOPE"] not in ("snsapi_base", "snsapi_userinfo"):
        raise ConfigError(f"WECHAT_OA_SCOPE must be snsapi_base or snsapi_userinfo, got {config['WECHAT_OA_SCOPE']!r}")
    _check_revisit_settings(config)
    check_retention(config)
    check_config(config)
    if not config["PAYOUT_ENCRYPTION_KEY"]:
        from .settlement.secrets import derive_key
        config["PAYOUT_ENCRYPTION_KEY"] = derive_key(config["SECRET_KEY"])
    return config


def _check_revisit_settings(config: dict) -> None:
    from .revisits.rules import Settings
    try:
        Settings.from_config(config)
    except ValueError as exc:
        raise ConfigError(str(exc)) from exc

def check_retention(config: dict) -> None:
    """Refuse a buyer retention period that reconciliation could outlive (privacy.retention)."""
    from .privacy.retention import RetentionSettings
    problems = RetentionSettings.from_config(config).problems()
    if config.get("FINANCE_RETENTION_YEARS", 1) < 1:
        problems.append("FINANCE_RETENTION_YEARS must be at least 1")
    if problems:
        raise ConfigError("; ".join(problems))


def _public_url(value) -> bool:
    parsed = urlsplit(str(value or "").strip())
    return parsed.scheme in ("http", "https") and bool(parsed.hostname)


def check_config(config: dict) -> None:
    """Refuse to run production on development defaults."""
    if config.get("APP_ENV") != "production":
        return
    problems = []
    if config.get("SECRET_KEY") in (None, "", DEFAULT_SECRET_KEY) or len(config["SECRET_KEY"]) < 32:
        problems.append("SECRET_KEY must be set to a random value of at least 32 characters")
    if str(config.get("SQLALCHEMY_DATABASE_URI", "")).startswith("sqlite"):
        problems.append("DATABASE_URL must point at PostgreSQL, not SQLite")
    if str(config.get("CELERY", {}).get("broker_url", "")).startswith(("filesystem://", "memory://")):
        problems.append("CELERY_BROKER_URL must point at a real broker (redis://…)")
    for key in ("WECHAT_ADAPTER", "SMS_ADAPTER"):
        if config.get(key) != "http":
            problems.append(f"{key} must be 'http' in production, not the local fake")
    if config.get("WECHAT_ADAPTER") == "http" and not (config.get("WECHAT_APP_ID") and config.get("WECHAT_APP_SECRET")):
        problems.append("WECHAT_APP_ID and WECHAT_APP_SECRET must be set for the WeChat adapter")
    if config.get("WECHAT_OA_APP_ID") and not config.get("WECHAT_OA_APP_SECRET"):
        problems.append("WECHAT_OA_APP_SECRET must be set with WECHAT_OA_APP_ID")
    if config.get("NOTIFY_ADAPTER") == "http" and not (config.get("WECHAT_APP_ID") and config.get("WECHAT_APP_SECRET")):
        problems.append("WECHAT_APP_ID and WECHAT_APP_SECRET must be set for the notification adapter")
    if config.get("NOTIFY_ADAPTER") == "http" and not config.get("WECHAT_TEMPLATES"):
        problems.append("NOTIFY_ADAPTER=http needs a template per notification kind (WECHAT_TEMPLATE_<KIND>)")
    if config.get("STRIPE_ADAPTER") != "http":
        # The local gateway records transfers in a file and moves no money: a gateway batch
        # approved in production would show consultants paid who were not.
        problems.append("STRIPE_ADAPTER must be 'http' in production, not the local fake (payouts)")
    elif not config.get("STRIPE_API_KEY"):
        problems.append("STRIPE_API_KEY must be set for the Stripe Connect adapter")
    if config.get("SMS_ADAPTER") == "http" and not (config.get("SMS_API_URL") and config.get("SMS_API_KEY")):
        problems.append("SMS_API_URL and SMS_API_KEY must be set for the SMS adapter")
    if not config.get("PAYOUT_ENCRYPTION_KEY"):
        problems.append("PAYOUT_ENCRYPTION_KEY must be set (a Fernet key) to encrypt payout accounts")
    if not _public_url(config.get("PUBLIC_BASE_URL")):
        problems.append("PUBLIC_BASE_URL must be set to the site's public http(s) address (the links in buyers' SMS)")
    if problems:
        raise ConfigError("Refusing to start with APP_ENV=production: " + "; ".join(problems))
