"""Settings read from the environment, once, at the edge.

Every variable the seed documents is honoured under its own name *and* with a
``BACKBEAT_`` prefix (the prefixed one wins when both are set), so backbeat can
share an environment with other programs without ambiguity::

    REDIS_URL=redis://localhost:6379/0        # or BACKBEAT_REDIS_URL
    CACHE_TTL_DEFAULT=300
    ENCRYPTION_KEY=<base64url 32-byte key>[,<older key>...]
    ENCRYPTION_KEY_FILE=/path/to/keys          # instead of ENCRYPTION_KEY
    HASH_ALGORITHM=sha256
    DEFAULT_LOCALE=en_US
    SUPPORTED_LOCALES=en_US,fr_FR,es_ES,de_DE   # default: the 16 shipped locales
    ENABLE_AUDIT_LOGS=true
    LOG_LEVEL=INFO
    DATABASE_URL=postgresql://user@host/db    # default: SQLite under ./var/

:meth:`Settings.from_env` turns any invalid value into a
:class:`~backbeat.errors.ConfigurationError` that names the variable and the
accepted form, so a bad deployment fails at start-up, not on the first request.
Library code never reads ``os.environ``; it receives a ``Settings``. This module
is the one place that does.
"""

from __future__ import annotations

import base64
import binascii
import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any, Literal

import pydantic
from pydantic import AliasChoices, Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from backbeat.errors import BackbeatError, ConfigurationError
from backbeat.i18n._catalogs import LOCALES

__all__ = ["Settings"]

_LOCALE_RE = re.compile(r"^([a-zA-Z]{2,3})(?:[_-]([A-Za-z]{4}))?(?:[_-]([A-Za-z]{2}|[0-9]{3}))?$")
_HASH_ALGORITHMS = ("sha256", "sha384", "sha512", "sha3_256", "sha3_512", "blake2b")
_DB_SCHEMES = ("sqlite", "sqlite+aiosqlite", "postgresql", "postgres", "postgresql+asyncpg")
_REDIS_SCHEMES = ("redis", "rediss", "unix")


def _env(name: str) -> Any:
    return AliasChoices(f"BACKBEAT_{name}", name)


# What each variable accepts, in words, for start-up errors.
_ACCEPTED: dict[str, str] = {
    "redis_url": "a URL redis://[user:password@]host:port/db, rediss://... or unix://path",
    "database_url": "a URL postgresql://user@host:port/db or sqlite:///path/to/file.db",
    "cache_ttl_default": "a whole number of seconds, 0 or more",
    "encryption_key": "one or more comma-separated base64url-encoded 32-byte keys",
    "encryption_key_file": "a path to a file of base64url keys, one per line",
    "hash_algorithm": "one of " + ", ".join(_HASH_ALGORITHMS),
    "default_locale": "a locale tag such as en_US, fr_FR, pt_BR or zh_Hans_CN",
    "supported_locales": "a comma-separated list of locale tags such as en_US,fr_FR",
    "enable_audit_logs": "true or false (also 1/0, yes/no, on/off)",
    "log_level": "one of DEBUG, INFO, WARNING, ERROR, CRITICAL",
    "host": "an interface address such as 127.0.0.1 or 0.0.0.0",
    "port": "a TCP port number between 1 and 65535",
    "data_dir": "a directory path",
    "max_upload_mb": "a whole number of megabytes, 1 or more",
    "embedded_worker": "true or false: run analysis jobs inside `backbeat serve`",
    "retrain_interval_h": "hours between scheduled retrains (0 or more; 0: never)",
    "monitoring_file": "a YAML or JSON file of SLOs, receivers and escalation",
    "monitoring_interval_s": "seconds between monitoring evaluations (more than 0, at most 3600)",
    "monitoring_enabled": "true or false: run the embedded SLO and alert evaluator",
    "alertmanager_url": "an http(s) URL of an Alertmanager, such as http://127.0.0.1:9093",
    "analytics_source": "a folder holding events.csv|parquet (and subscriptions, payments)",
    "otlp_endpoint": "an http(s) URL of an OTLP/HTTP collector, such as http://127.0.0.1:4318",
    "smtp_url": "a URL smtp://[user:password@]host:port or smtps://...",
    "streaming_enabled": "true or false: package every analysed track for HLS streaming",
    "stream_ladder": "renditions such as opus:32,64,96,160+aac:64,128,256",
    "stream_segment_s": "seconds per streaming segment, 1 to 30",
    "mail_from": "a sender address such as 'Privacy <privacy@example.com>'",
    "retention": "comma-separated category=period, such as listening_events=2_years,consents=P3Y",
    "rate_limit_read": "a limit like '20/s' or '1000 per hour'",
    "rate_limit_write": "a limit like '5/s' or '100 per minute'",
    "rate_limit_fail_open": "true or false: serve requests when the limiter's store is down",
    "cors_origins": "a comma-separated list of origins such as https://app.example.com",
    "jwt_secret": "a secret of at least 32 characters (HS256 bearer tokens)",
    "console_vendor": "a directory holding npm packages (hls.js) for the console",
    "media_root": "a directory whose files POST /v1/tracks may name by `audio_path`",
    "log_format": "json or text",
    "queue_name": "a Redis key prefix for the analysis job queue",
    "key_provider": "local (the keyring) or pkcs11 (an HSM)",
    "pkcs11_module": "the path of the PKCS#11 module (.so), e.g. /usr/lib/softhsm/libsofthsm2.so",
    "pkcs11_token": "the label of the PKCS#11 token",
    "pkcs11_pin": "the token's user PIN",
    "pkcs11_pin_file": "a path to a file holding the token's user PIN",
    "pkcs11_key_label": "the label of the master key in the token",
    "key_max_age_days": "days before the master key rotates (0 or more; 0: no age limit)",
    "key_max_encryptions": "data keys one master key may wrap before it rotates (1 to 2**32)",
}


def normalize_locale(tag: str) -> str:
    """``fr-fr`` -> ``fr_FR``, ``zh-hans-cn`` -> ``zh_Hans_CN``; ``ValueError`` if not a tag."""
    m = _LOCALE_RE.match(tag.strip())
    if not m:
        raise ValueError(f"not a locale tag: {tag!r}")
    lang, script, region = m.groups()
    parts = [lang.lower()]
    if script:
        parts.append(script.title())
    if region:
        parts.append(region.upper())
    return "_".join(parts)


def _decode_key(item: str) -> bytes:
    padded = item + "=" * (-len(item) % 4)
    try:
        raw = base64.urlsafe_b64decode(padded.encode("ascii"))
    except (binascii.Error, UnicodeEncodeError) as e:
        raise ValueError("not base64url") from e
    if len(raw) != 32:
        raise ValueError("a key must decode to 32 bytes")
    return raw


class Settings(BaseSettings):
    """backbeat's configuration; immutable once built.

    Build it with :meth:`from_env` (environment, clear errors) or directly with
    keyword arguments in tests: ``Settings(redis_url="redis://...")``.
    """

    model_config = SettingsConfigDict(
        frozen=True, extra="ignore", populate_by_name=True, env_ignore_empty=True
    )

    redis_url: str | None = Field(None, validation_alias=_env("REDIS_URL"))
    # Empty means the embedded default: SQLite at <data_dir>/backbeat.db.
    database_url: str = Field("", validation_alias=_env("DATABASE_URL"))
    cache_ttl_default: int = Field(300, ge=0, validation_alias=_env("CACHE_TTL_DEFAULT"))
    encryption_key: SecretStr | None = Field(None, validation_alias=_env("ENCRYPTION_KEY"))
    encryption_key_file: Path | None = Field(None, validation_alias=_env("ENCRYPTION_KEY_FILE"))
    hash_algorithm: str = Field("sha256", validation_alias=_env("HASH_ALGORITHM"))
    default_locale: str = Field("en_US", validation_alias=_env("DEFAULT_LOCALE"))
    # Default: every locale backbeat ships catalogs for.
    supported_locales: Annotated[tuple[str, ...], NoDecode] = Field(
        LOCALES, validation_alias=_env("SUPPORTED_LOCALES")
    )
    enable_audit_logs: bool = Field(True, validation_alias=_env("ENABLE_AUDIT_LOGS"))
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"] = Field(
        "INFO", validation_alias=_env("LOG_LEVEL")
    )
    # Service knobs; backbeat's own, so only under the prefix.
    host: str = Field("127.0.0.1", validation_alias="BACKBEAT_HOST")
    port: int = Field(8000, ge=1, le=65535, validation_alias="BACKBEAT_PORT")
    data_dir: Path = Field(Path("./var"), validation_alias="BACKBEAT_DATA_DIR")
    max_upload_mb: int = Field(200, ge=1, validation_alias="BACKBEAT_MAX_UPLOAD_MB")
    embedded_worker: bool = Field(True, validation_alias="BACKBEAT_EMBEDDED_WORKER")
    # Per API key (or client IP) and per kind of route: GETs read, other methods write.
    rate_limit_read: str = Field("50/s", validation_alias="BACKBEAT_RATE_LIMIT_READ")
    rate_limit_write: str = Field("10/s", validation_alias="BACKBEAT_RATE_LIMIT_WRITE")
    rate_limit_fail_open: bool = Field(True, validation_alias="BACKBEAT_RATE_LIMIT_FAIL_OPEN")
    # Browser origins allowed to call the API (CORS); empty: none.
    cors_origins: str = Field("", validation_alias="BACKBEAT_CORS_ORIGINS")
    log_format: Literal["json", "text"] = Field("json", validation_alias="BACKBEAT_LOG_FORMAT")
    # With REDIS_URL: the arq queue `backbeat worker` processes read analysis jobs from.
    queue_name: str = Field("backbeat:analysis", validation_alias="BACKBEAT_QUEUE_NAME")
    # Optional: a folder on the server that uploads may reference instead of sending bytes.
    media_root: Path | None = Field(None, validation_alias="BACKBEAT_MEDIA_ROOT")
    # Where `make serve` installed hls.js from npm (default <data_dir>/node/node_modules).
    console_vendor: Path | None = Field(None, validation_alias="BACKBEAT_CONSOLE_VENDOR")
    # Retrain the recommendation model from stored events every N hours (0: never; the
    # default, so that nothing trains behind an operator's back on the embedded default).
    retrain_interval_h: float = Field(0.0, ge=0, validation_alias="BACKBEAT_RETRAIN_INTERVAL_H")
    # Where the master key lives: the local keyring, or a PKCS#11 module (an HSM).
    key_provider: Literal["local", "pkcs11"] = Field(
        "local", validation_alias="BACKBEAT_KEY_PROVIDER"
    )
    pkcs11_module: str | None = Field(None, validation_alias="BACKBEAT_PKCS11_MODULE")
    pkcs11_token: str | None = Field(None, validation_alias="BACKBEAT_PKCS11_TOKEN")
    pkcs11_pin: SecretStr | None = Field(None, validation_alias="BACKBEAT_PKCS11_PIN")
    pkcs11_pin_file: Path | None = Field(None, validation_alias="BACKBEAT_PKCS11_PIN_FILE")
    pkcs11_key_label: str = Field("backbeat-master", validation_alias="BACKBEAT_PKCS11_KEY_LABEL")
    # Rotation policy of the master key (NIST SP 800-38D caps random-nonce GCM at 2**32).
    key_max_age_days: float = Field(90.0, ge=0, validation_alias="BACKBEAT_KEY_MAX_AGE_DAYS")
    key_max_encryptions: int = Field(
        2**30, ge=1, le=2**32, validation_alias="BACKBEAT_KEY_MAX_ENCRYPTIONS"
    )
    # Monitoring: SLOs, receivers and escalation (YAML/JSON; defaults when unset), the
    # embedded evaluator's period, and an Alertmanager to hand alerts to.
    monitoring_file: Path | None = Field(None, validation_alias="BACKBEAT_MONITORING_FILE")
    monitoring_interval_s: float = Field(
        15.0, gt=0, le=3600, validation_alias="BACKBEAT_MONITORING_INTERVAL_S"
    )
    monitoring_enabled: bool = Field(True, validation_alias="BACKBEAT_MONITORING")
    alertmanager_url: str | None = Field(None, validation_alias=_env("ALERTMANAGER_URL"))
    # Business analytics: a folder of events/subscriptions/payments files (CSV/Parquet).
    analytics_source: Path | None = Field(None, validation_alias="BACKBEAT_ANALYTICS_SOURCE")
    # Streaming: every analysed track is also packaged as HLS (the analysis job does both).
    streaming_enabled: bool = Field(True, validation_alias="BACKBEAT_STREAMING")
    stream_ladder: str = Field(
        "opus:32,64,96,160+aac:64,128,256", validation_alias="BACKBEAT_STREAM_LADDER"
    )
    stream_segment_s: float = Field(6.0, ge=1, le=30, validation_alias="BACKBEAT_STREAM_SEGMENT_S")
    # Privacy: mail for verification tokens (SMTP, else .eml files under <data dir>/outbox),
    # and retention periods per data category overriding the defaults.
    smtp_url: SecretStr | None = Field(None, validation_alias="BACKBEAT_SMTP_URL")
    mail_from: str = Field("", validation_alias="BACKBEAT_MAIL_FROM")
    retention: str = Field("", validation_alias="BACKBEAT_RETENTION")
    # OpenTelemetry traces over OTLP/HTTP (the `otel` extra), off unless a collector is named.
    otlp_endpoint: str | None = Field(
        None, validation_alias=AliasChoices("BACKBEAT_OTLP_ENDPOINT", "OTEL_EXPORTER_OTLP_ENDPOINT")
    )
    # Optional: also accept HS256 JWT bearer tokens (claims: sub, exp, scope, aud=backbeat).
    jwt_secret: SecretStr | None = Field(None, validation_alias="BACKBEAT_JWT_SECRET")

    @field_validator("smtp_url")
    @classmethod
    def _check_smtp_url(cls, v: SecretStr | None) -> SecretStr | None:
        if v is not None and not v.get_secret_value().lower().startswith(("smtp://", "smtps://")):
            raise ValueError("must start with smtp:// or smtps://")
        return v

    @field_validator("retention")
    @classmethod
    def _check_retention(cls, v: str) -> str:
        for part in filter(None, (p.strip() for p in v.split(","))):
            name, sep, period = part.partition("=")
            if not sep or not name.strip() or not period.strip():
                raise ValueError(f"{part!r} is not category=period")
        return v

    def retention_policies(self) -> dict[str, str]:
        """``BACKBEAT_RETENTION`` as ``{category: period}``."""
        out = {}
        for part in filter(None, (p.strip() for p in self.retention.split(","))):
            name, _, period = part.partition("=")
            out[name.strip()] = period.strip()
        return out

    @field_validator("jwt_secret")
    @classmethod
    def _check_jwt_secret(cls, v: SecretStr | None) -> SecretStr | None:
        if v is not None and len(v.get_secret_value()) < 32:
            raise ValueError("too short")
        return v

    @field_validator("alertmanager_url", "otlp_endpoint")
    @classmethod
    def _check_alertmanager_url(cls, v: str | None) -> str | None:
        if v is not None and not v.startswith(("http://", "https://")):
            raise ValueError("not an http(s) URL")
        return v

    @field_validator("redis_url")
    @classmethod
    def _check_redis_url(cls, v: str | None) -> str | None:
        if v is None:
            return None
        scheme, sep, _ = v.partition("://")
        if not sep or scheme.lower() not in _REDIS_SCHEMES:
            raise ValueError("unsupported scheme")
        return v

    @field_validator("rate_limit_read", "rate_limit_write")
    @classmethod
    def _check_limit(cls, v: str) -> str:
        from backbeat.ratelimit import Limit

        try:
            Limit.parse(v)
        except BackbeatError:
            raise ValueError("not a limit") from None
        return v

    @field_validator("database_url")
    @classmethod
    def _check_database_url(cls, v: str) -> str:
        if not v:
            return v  # filled from data_dir once every field is read
        scheme, sep, rest = v.partition("://")
        if not sep or scheme.lower() not in _DB_SCHEMES or not rest:
            raise ValueError("unsupported scheme")
        return v

    @field_validator("encryption_key")
    @classmethod
    def _check_encryption_key(cls, v: SecretStr | None) -> SecretStr | None:
        if v is None:
            return None
        items = [s.strip() for s in v.get_secret_value().split(",")]
        if not items or any(not s for s in items):
            raise ValueError("empty key")
        for s in items:
            _decode_key(s)
        return v

    @field_validator("hash_algorithm")
    @classmethod
    def _check_hash(cls, v: str) -> str:
        v = v.strip().lower().replace("-", "")
        if v not in _HASH_ALGORITHMS:
            raise ValueError("unsupported algorithm")
        return v

    @field_validator("log_level", mode="before")
    @classmethod
    def _upper_level(cls, v: Any) -> Any:
        return v.strip().upper() if isinstance(v, str) else v

    @field_validator("default_locale")
    @classmethod
    def _check_locale(cls, v: str) -> str:
        return normalize_locale(v)

    @field_validator("supported_locales", mode="before")
    @classmethod
    def _split_locales(cls, v: Any) -> Any:
        if isinstance(v, str):
            v = [s for s in (p.strip() for p in v.split(",")) if s]
        if isinstance(v, list | tuple):
            if not v:
                raise ValueError("empty list")
            return tuple(normalize_locale(str(s)) for s in v)
        return v

    @model_validator(mode="after")
    def _fill_defaults(self) -> Settings:
        if not self.database_url:
            path = (self.data_dir / "backbeat.db").as_posix()
            object.__setattr__(self, "database_url", f"sqlite:///{path}")
        # The default locale is always served, even if the list forgot it.
        if self.default_locale not in self.supported_locales:
            object.__setattr__(
                self, "supported_locales", (self.default_locale, *self.supported_locales)
            )
        return self

    # -- derived -------------------------------------------------------------

    @property
    def encryption_keys(self) -> tuple[bytes, ...]:
        """Decoded keys from ``ENCRYPTION_KEY``, primary first; empty when unset."""
        if self.encryption_key is None:
            return ()
        return tuple(
            _decode_key(s.strip()) for s in self.encryption_key.get_secret_value().split(",")
        )

    @property
    def database_backend(self) -> Literal["sqlite", "postgresql"]:
        return "sqlite" if self.database_url.lower().startswith("sqlite") else "postgresql"

    @property
    def async_database_url(self) -> str:
        """``database_url`` with the async driver SQLAlchemy needs (aiosqlite / asyncpg)."""
        _, _, rest = self.database_url.partition("://")
        driver = "sqlite+aiosqlite" if self.database_backend == "sqlite" else "postgresql+asyncpg"
        return f"{driver}://{rest}"

    # -- construction ---------------------------------------------------------

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, /, **overrides: Any) -> Settings:
        """Read the environment (or ``environ``); raise ``ConfigurationError`` on bad values.

        The error's message names each offending variable and the form it accepts;
        it never echoes the value of a secret.
        """
        try:
            return _from_mapping(cls, os.environ if environ is None else environ, overrides)
        except pydantic.ValidationError as e:
            raise _config_error(e) from None


def _from_mapping(cls: type[Settings], environ: Mapping[str, str], overrides: Any) -> Settings:
    # Resolve aliases ourselves so tests and embedders need not touch os.environ.
    values: dict[str, Any] = {}
    for name, field in cls.model_fields.items():
        alias = field.validation_alias
        choices = alias.choices if isinstance(alias, AliasChoices) else [alias or name]
        for env_name in choices:
            if isinstance(env_name, str) and environ.get(env_name, "") != "":
                values[str(env_name)] = environ[env_name]
                break
    values.update(overrides)
    return cls.model_validate(values)


def _config_error(e: pydantic.ValidationError) -> ConfigurationError:
    by_alias = {
        str(alias): name
        for name, field in Settings.model_fields.items()
        for alias in (
            field.validation_alias.choices
            if isinstance(field.validation_alias, AliasChoices)
            else [field.validation_alias or name]
        )
    }
    problems = []
    for err in e.errors(include_input=False):
        loc = str(err["loc"][0]) if err["loc"] else "settings"
        field_name = by_alias.get(loc, loc)
        accepted = _ACCEPTED.get(field_name, "a valid value")
        problems.append({"variable": loc, "accepted": accepted})
    text = "; ".join(f"{p['variable']} is invalid: expected {p['accepted']}" for p in problems)
    return ConfigurationError(
        "config.invalid_environment",
        details={"problems": problems, "summary": text},
        message="Invalid configuration: {summary}.",
    )
