"""Configuration from the environment: embedded defaults, overrides, production refusals."""
from __future__ import annotations

from pathlib import Path

import pytest

from estate_platform.config import DEFAULT_SECRET_KEY, ConfigError, check_config, load_config

STRONG_SECRET = "k2V9qXw7Rz4Lp8Tn3Hs6Jd1Fg5Bm0Ya-9c"  # 35 characters


@pytest.fixture
def instance(tmp_path) -> Path:
    return tmp_path / "instance"


def production_env(instance: Path, **changes) -> dict:
    env = {
        "APP_ENV": "production",
        "INSTANCE_PATH": str(instance),
        "SECRET_KEY": STRONG_SECRET,
        "DATABASE_URL": "postgres://estate:pw@db.internal:5432/estate",
        "CELERY_BROKER_URL": "redis://redis.internal:6379/0",
        "WECHAT_ADAPTER": "http",
        "WECHAT_APP_ID": "wx0123456789abcdef",
        "WECHAT_APP_SECRET": "wechat-app-secret",
        "SMS_ADAPTER": "http",
        "SMS_API_URL": "https://sms.example.test/send",
        "SMS_API_KEY": "sms-key",
        "STRIPE_ADAPTER": "http",
        "STRIPE_API_KEY": "sk_live_example",
        "PAYOUT_ENCRYPTION_KEY": "q7y1O0Cl7rKQ4ZbmVwQ0y1dJp3M9n3b2xv1y0pX6u3A=",
        "PUBLIC_BASE_URL": "https://estate.example.test",
    }
    for key, value in changes.items():
        if value is None:
            env.pop(key, None)
        else:
            env[key] = value
    return env


# --- defaults ------------------------------------------------------------------------------

def test_defaults_need_no_account_anywhere(instance):
    config = load_config({"INSTANCE_PATH": str(instance)})

    assert config["APP_ENV"] == "development"
    assert config["SECRET_KEY"] == DEFAULT_SECRET_KEY
    assert config["SQLALCHEMY_DATABASE_URI"] == f"sqlite:///{instance / 'estate.db'}"
    assert config["INSTANCE_PATH"] == str(instance)
    assert config["WECHAT_ADAPTER"] == "local"
    assert config["SMS_ADAPTER"] == "local"
    assert config["SESSION_COOKIE_SECURE"] is False

    celery = config["CELERY"]
    assert celery["broker_url"] == "filesystem://"
    assert celery["task_always_eager"] is False
    transport = celery["broker_transport_options"]
    for key in ("data_folder_in", "data_folder_out", "processed_folder"):
        assert Path(transport[key]).is_relative_to(instance), (key, transport[key])
    assert transport["data_folder_in"] == transport["data_folder_out"]
    assert Path(celery["beat_schedule_filename"]).is_relative_to(instance)

    assert config["TOKEN_TTL_SECONDS"] == 7 * 24 * 3600
    assert config["SMS_CODE_TTL_SECONDS"] == 300
    assert config["LOGIN_MAX_FAILURES"] == 5


def test_defaults_do_not_read_os_environ_when_env_is_given(instance, monkeypatch):
    monkeypatch.setenv("DATABASE_URL", "postgresql://elsewhere/db")
    monkeypatch.setenv("APP_ENV", "production")
    config = load_config({"INSTANCE_PATH": str(instance)})
    assert config["APP_ENV"] == "development"
    assert config["SQLALCHEMY_DATABASE_URI"].startswith("sqlite:///")


def test_env_none_reads_os_environ(instance, monkeypatch):
    monkeypatch.setenv("INSTANCE_PATH", str(instance))
    monkeypatch.setenv("SMS_CODE_TTL_SECONDS", "120")
    monkeypatch.delenv("APP_ENV", raising=False)
    assert load_config()["SMS_CODE_TTL_SECONDS"] == 120


# --- overrides -------------------------------------------------------------------------------

@pytest.mark.parametrize("given, expected", [
    ("postgres://u:p@db:5432/estate", "postgresql+psycopg://u:p@db:5432/estate"),
    ("postgresql://u:p@db:5432/estate", "postgresql+psycopg://u:p@db:5432/estate"),
    ("postgresql+psycopg://u:p@db/estate", "postgresql+psycopg://u:p@db/estate"),
    ("sqlite:////srv/estate.db", "sqlite:////srv/estate.db"),
])
def test_database_url_is_normalised_to_psycopg3(instance, given, expected):
    config = load_config({"INSTANCE_PATH": str(instance), "DATABASE_URL": given})
    assert config["SQLALCHEMY_DATABASE_URI"] == expected


def test_env_overrides(instance):
    config = load_config({
        "INSTANCE_PATH": str(instance),
        "SECRET_KEY": "my-own-secret",
        "CELERY_BROKER_URL": "redis://127.0.0.1:6379/3",
        "CELERY_TASK_ALWAYS_EAGER": "true",
        "TOKEN_TTL_SECONDS": "3600",
        "LOGIN_MAX_FAILURES": "3",
        "WECHAT_ADAPTER": "http",
        "WECHAT_APP_ID": "wxid",
        "SMS_ADAPTER": "http",
    })
    assert config["SECRET_KEY"] == "my-own-secret"
    assert config["CELERY"]["broker_url"] == "redis://127.0.0.1:6379/3"
    # No filesystem queue folders on Redis; a Redis that does not answer gives up connecting after 2 s.
    assert config["CELERY"]["broker_transport_options"] == {"socket_connect_timeout": 2}
    assert config["CELERY"]["task_always_eager"] is True
    assert config["TOKEN_TTL_SECONDS"] == 3600
    assert config["LOGIN_MAX_FAILURES"] == 3
    assert (config["WECHAT_ADAPTER"], config["WECHAT_APP_ID"], config["SMS_ADAPTER"]) == ("http", "wxid", "http")


def test_empty_values_fall_back_to_defaults(instance):
    config = load_config({"INSTANCE_PATH": str(instance), "DATABASE_URL": "", "SECRET_KEY": "",
                          "CELERY_BROKER_URL": "", "TOKEN_TTL_SECONDS": ""})
    assert config["SQLALCHEMY_DATABASE_URI"].startswith("sqlite:///")
    assert config["SECRET_KEY"] == DEFAULT_SECRET_KEY
    assert config["CELERY"]["broker_url"] == "filesystem://"
    assert config["TOKEN_TTL_SECONDS"] == 7 * 24 * 3600


@pytest.mark.parametrize("key, raw", [
    ("TOKEN_TTL_SECONDS", "one week"),
    ("SMS_CODE_TTL_SECONDS", "5m"),
    ("LOGIN_MAX_FAILURES", "3.5"),
    ("MAX_CONTENT_LENGTH", "10MB"),
])
def test_bad_integer_is_a_config_error_naming_the_variable(instance, key, raw):
    with pytest.raises(ConfigError) as caught:
        load_config({"INSTANCE_PATH": str(instance), key: raw})
    assert key in str(caught.value) and repr(raw) in str(caught.value)


# --- production refusals ---------------------------------------------------------------------

def test_a_valid_production_env_passes(instance):
    config = load_config(production_env(instance))
    assert config["APP_ENV"] == "production"
    assert config["SQLALCHEMY_DATABASE_URI"] == "postgresql+psycopg://estate:pw@db.internal:5432/estate"
    assert config["CELERY"]["broker_url"] == "redis://redis.internal:6379/0"
    assert config["SESSION_COOKIE_SECURE"] is True
    check_config(config)  # idempotent: checking again still passes


@pytest.mark.parametrize("changes, needle", [
    pytest.param({"SECRET_KEY": None}, "SECRET_KEY", id="secret missing"),
    pytest.param({"SECRET_KEY": DEFAULT_SECRET_KEY}, "SECRET_KEY", id="default secret"),
    pytest.param({"SECRET_KEY": "short-but-not-default"}, "SECRET_KEY", id="short secret"),
    pytest.param({"SECRET_KEY": "x" * 31}, "SECRET_KEY", id="31 chars"),
    pytest.param({"DATABASE_URL": None}, "DATABASE_URL", id="default sqlite"),
    pytest.param({"DATABASE_URL": "sqlite:////srv/estate.db"}, "DATABASE_URL", id="explicit sqlite"),
    pytest.param({"CELERY_BROKER_URL": None}, "CELERY_BROKER_URL", id="default filesystem broker"),
    pytest.param({"CELERY_BROKER_URL": "filesystem://"}, "CELERY_BROKER_URL", id="filesystem broker"),
    pytest.param({"CELERY_BROKER_URL": "memory://"}, "CELERY_BROKER_URL", id="memory broker"),
    pytest.param({"WECHAT_ADAPTER": None}, "WECHAT_ADAPTER", id="wechat default local"),
    pytest.param({"WECHAT_ADAPTER": "local"}, "WECHAT_ADAPTER", id="wechat local"),
    pytest.param({"SMS_ADAPTER": None}, "SMS_ADAPTER", id="sms default local"),
    pytest.param({"SMS_ADAPTER": "local"}, "SMS_ADAPTER", id="sms local"),
    pytest.param({"STRIPE_ADAPTER": None}, "STRIPE_ADAPTER", id="stripe default local"),
    pytest.param({"STRIPE_ADAPTER": "local"}, "STRIPE_ADAPTER", id="stripe local"),
    pytest.param({"STRIPE_API_KEY": None}, "STRIPE_API_KEY", id="stripe key missing"),
    pytest.param({"PUBLIC_BASE_URL": None}, "PUBLIC_BASE_URL", id="public base url missing"),
    pytest.param({"PUBLIC_BASE_URL": ""}, "PUBLIC_BASE_URL", id="public base url empty"),
    pytest.param({"PUBLIC_BASE_URL": "estate.example.test"}, "PUBLIC_BASE_URL", id="public base url without scheme"),
    pytest.param({"PUBLIC_BASE_URL": "ftp://estate.example.test"}, "PUBLIC_BASE_URL", id="public base url not http"),
])
def test_production_refuses_development_defaults(instance, changes, needle):
    with pytest.raises(ConfigError) as caught:
        load_config(production_env(instance, **changes))
    message = str(caught.value)
    assert "APP_ENV=production" in message
    assert needle in message, message
    # One clear problem, not a dump of everything.
    assert message.count(";") == 0, message


def test_production_lists_every_problem_at_once(instance):
    with pytest.raises(ConfigError) as caught:
        load_config({"APP_ENV": "production", "INSTANCE_PATH": str(instance)})
    message = str(caught.value)
    for needle in ("SECRET_KEY", "DATABASE_URL", "CELERY_BROKER_URL", "WECHAT_ADAPTER", "SMS_ADAPTER",
                   "STRIPE_ADAPTER", "PUBLIC_BASE_URL"):
        assert needle in message, message


@pytest.mark.parametrize("key, value", [
    ("WECHAT_ADAPTER", "HTTP"),
    ("WECHAT_ADAPTER", "htpp"),
    ("WECHAT_ADAPTER", "Local"),
    ("SMS_ADAPTER", "http "),
])
def test_production_refuses_an_unknown_adapter_name(instance, key, value):
    """build_adapters treats anything but exactly "http" as the local fake; in production
    the local WeChat fake lets anyone sign in as any openid with ``dev:<openid>``."""
    with pytest.raises(ConfigError) as caught:
        load_config(production_env(instance, **{key: value}))
    assert key in str(caught.value)


def test_development_does_not_refuse_defaults(instance):
    config = load_config({"INSTANCE_PATH": str(instance), "APP_ENV": "development"})
    check_config(config)
    assert config["SECRET_KEY"] == DEFAULT_SECRET_KEY


# --- the app refuses to start -------------------------------------------------------------------

def test_create_app_refuses_production_with_the_default_secret(instance):
    from wsgi import create_app

    env = production_env(instance, SECRET_KEY=DEFAULT_SECRET_KEY)
    with pytest.raises(ConfigError, match="SECRET_KEY"):
        create_app(env=env)
    assert not instance.exists(), "nothing may be created before the configuration is accepted"



def test_production_refuses_to_start_without_its_own_payout_encryption_key(instance):
    with pytest.raises(ConfigError, match="PAYOUT_ENCRYPTION_KEY"):
        load_config(production_env(instance, PAYOUT_ENCRYPTION_KEY=None))


def test_production_refuses_to_start_without_its_public_address_and_development_keeps_loopback(instance):
    """Buyers' SMS links (objection to a registration) would otherwise point at 127.0.0.1."""
    from wsgi import create_app

    with pytest.raises(ConfigError, match="PUBLIC_BASE_URL"):
        create_app(env=production_env(instance, PUBLIC_BASE_URL=None))
    assert load_config(production_env(instance))["PUBLIC_BASE_URL"] == "https://estate.example.test"
    assert load_config({"INSTANCE_PATH": str(instance)})["PUBLIC_BASE_URL"] == "http://127.0.0.1:5000"
