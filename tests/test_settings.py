from __future__ import annotations

import base64
import os

import pytest

from backbeat.errors import ConfigurationError
from backbeat.settings import Settings

KEY = base64.urlsafe_b64encode(os.urandom(32)).decode().rstrip("=")


def test_defaults_are_embedded() -> None:
    s = Settings.from_env({})
    assert s.redis_url is None
    assert s.database_backend == "sqlite"
    assert s.database_url == "sqlite:///var/backbeat.db"
    assert s.async_database_url == "sqlite+aiosqlite:///var/backbeat.db"
    assert s.cache_ttl_default == 300
    assert s.hash_algorithm == "sha256"
    assert s.default_locale == "en_US"
    assert s.enable_audit_logs is True
    assert s.log_level == "INFO"
    assert s.encryption_keys == ()


def test_seed_variables_are_honoured() -> None:
    s = Settings.from_env(
        {
            "REDIS_URL": "redis://localhost:6379/0",
            "CACHE_TTL_DEFAULT": "60",
            "ENCRYPTION_KEY": KEY,
            "HASH_ALGORITHM": "SHA512",
            "DEFAULT_LOCALE": "fr_FR",
            "SUPPORTED_LOCALES": "en_US,fr_FR,es_ES,de_DE",
            "ENABLE_AUDIT_LOGS": "false",
            "LOG_LEVEL": "debug",
            "DATABASE_URL": "postgresql://u@db:5432/app",
        }
    )
    assert s.redis_url == "redis://localhost:6379/0"
    assert s.cache_ttl_default == 60
    assert s.encryption_keys == (base64.urlsafe_b64decode(KEY + "="),)
    assert s.hash_algorithm == "sha512"
    assert s.default_locale == "fr_FR"
    assert s.supported_locales == ("en_US", "fr_FR", "es_ES", "de_DE")
    assert s.enable_audit_logs is False
    assert s.log_level == "DEBUG"
    assert s.database_backend == "postgresql"
    assert s.async_database_url == "postgresql+asyncpg://u@db:5432/app"


def test_prefixed_name_wins_over_the_seed_name() -> None:
    s = Settings.from_env({"CACHE_TTL_DEFAULT": "10", "BACKBEAT_CACHE_TTL_DEFAULT": "20"})
    assert s.cache_ttl_default == 20


def test_reads_the_process_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BACKBEAT_LOG_LEVEL", "WARNING")
    assert Settings.from_env().log_level == "WARNING"


def test_locales_are_normalised_and_default_is_always_supported() -> None:
    s = Settings.from_env({"DEFAULT_LOCALE": "ja-jp", "SUPPORTED_LOCALES": "en-us, zh-hans-cn"})
    assert s.default_locale == "ja_JP"
    assert s.supported_locales == ("ja_JP", "en_US", "zh_Hans_CN")


def test_database_default_follows_data_dir() -> None:
    s = Settings.from_env({"BACKBEAT_DATA_DIR": "/srv/bb"})
    assert s.database_url == "sqlite:////srv/bb/backbeat.db"


def test_empty_values_mean_unset() -> None:
    assert Settings.from_env({"REDIS_URL": ""}).redis_url is None


@pytest.mark.parametrize(
    ("variable", "value", "accepted"),
    [
        ("CACHE_TTL_DEFAULT", "soon", "whole number of seconds"),
        ("CACHE_TTL_DEFAULT", "-5", "whole number of seconds"),
        ("REDIS_URL", "http://cache:6379", "redis://"),
        ("DATABASE_URL", "mysql://db/x", "postgresql://"),
        ("HASH_ALGORITHM", "md5", "sha256"),
        ("LOG_LEVEL", "loud", "DEBUG, INFO"),
        ("DEFAULT_LOCALE", "french!", "locale tag"),
        ("SUPPORTED_LOCALES", "en_US,??", "comma-separated list"),
        ("ENABLE_AUDIT_LOGS", "perhaps", "true or false"),
        ("ENCRYPTION_KEY", "too-short", "32-byte"),
        ("BACKBEAT_PORT", "70000", "TCP port"),
        ("BACKBEAT_REDIS_URL", "nope", "redis://"),
    ],
)
def test_invalid_value_names_the_variable_and_the_accepted_form(
    variable: str, value: str, accepted: str
) -> None:
    with pytest.raises(ConfigurationError) as info:
        Settings.from_env({variable: value})
    err = info.value
    assert err.code == "config.invalid_environment"
    assert variable in err.message
    assert accepted in err.message


def test_every_problem_is_reported_at_once() -> None:
    with pytest.raises(ConfigurationError) as info:
        Settings.from_env({"CACHE_TTL_DEFAULT": "x", "LOG_LEVEL": "y"})
    assert [p["variable"] for p in info.value.details["problems"]] == [
        "CACHE_TTL_DEFAULT",
        "LOG_LEVEL",
    ]


def test_secret_values_never_appear_in_errors() -> None:
    secret = "s3cr3t-not-a-key"
    with pytest.raises(ConfigurationError) as info:
        Settings.from_env({"ENCRYPTION_KEY": secret, "REDIS_URL": f"http://:{secret}@h"})
    assert secret not in str(info.value)
    assert secret not in repr(info.value.details)


def test_encryption_key_accepts_a_comma_list() -> None:
    other = base64.urlsafe_b64encode(os.urandom(32)).decode()
    s = Settings.from_env({"ENCRYPTION_KEY": f"{KEY},{other}"})
    assert len(s.encryption_keys) == 2
    assert KEY not in repr(s)


def test_settings_are_immutable() -> None:
    s = Settings.from_env({})
    with pytest.raises(Exception, match="frozen"):
        s.cache_ttl_default = 1  # type: ignore[misc]
