"""``create_gdpr_compliance()``: a :class:`GdprCompliance` from a Toolkit, Settings or the
environment."""

from __future__ import annotations

from typing import Any

from backbeat.compliance._mail import Mailer
from backbeat.compliance._service import GdprCompliance

__all__ = ["create_gdpr_compliance"]


def _mailer(settings: Any) -> Mailer:
    url = settings.smtp_url.get_secret_value() if settings.smtp_url is not None else ""
    return Mailer(outbox=settings.data_dir / "outbox", smtp_url=url, sender=settings.mail_from)


def create_gdpr_compliance(source: Any = None, **options: Any) -> GdprCompliance:
    """The seed's ``create_gdpr_compliance()``: from a ``Toolkit`` (its database, keyring,
    cache, audit trail and Redis), from ``Settings``, or from the environment."""
    from backbeat.settings import Settings

    if source is None:
        source = Settings.from_env()
    if isinstance(source, Settings):
        from backbeat.audit import AuditStore, AuditTrail, Sealer
        from backbeat.security import local_keyring
        from backbeat.storage import create_engine

        settings = source
        engine = create_engine(settings.database_url)
        keyring = local_keyring(settings)[0]
        trail = AuditTrail(AuditStore(engine, Sealer(keyring)), enabled=settings.enable_audit_logs)
        defaults: dict[str, Any] = {"audit": trail}
    else:
        settings = source.settings
        engine = source.database_engine()
        keyring = source.audit_keyring()
        defaults = {
            "cache": source.cache,
            "audit": source.audit,
            "redis": source.redis_client() if settings.redis_url else None,
        }
    return GdprCompliance(
        engine,
        keyring,
        data_dir=settings.data_dir,
        mailer=_mailer(settings),
        models=settings.data_dir / "models",
        retention=settings.retention_policies(),
        **{**defaults, **options},
    )
