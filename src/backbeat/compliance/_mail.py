"""Sending the service's mail: through SMTP when ``BACKBEAT_SMTP_URL`` is set, else as
``.eml`` files under ``<data dir>/outbox/`` (what a single-machine operator reads).

``smtp://user:password@host:port`` (STARTTLS when the server offers it) or ``smtps://``
(TLS from the start); the sender is ``BACKBEAT_MAIL_FROM``. aiosmtplib does the SMTP.
"""

from __future__ import annotations

import datetime as dt
import os
import re
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid
from pathlib import Path
from urllib.parse import unquote, urlsplit

from backbeat.errors import Unavailable

__all__ = ["Mailer"]


class Mailer:
    """Sends one message at a time; ``outbox`` is used when ``smtp_url`` is empty."""

    def __init__(self, *, outbox: Path, smtp_url: str = "", sender: str = "") -> None:
        self.outbox = outbox
        self.smtp_url = smtp_url
        self.sender = sender or "backbeat <privacy@localhost>"

    def compose(self, to: str, subject: str, body: str) -> EmailMessage:
        message = EmailMessage()
        message["From"] = self.sender
        message["To"] = to
        message["Subject"] = subject
        message["Date"] = format_datetime(dt.datetime.now(dt.UTC))
        message["Message-ID"] = make_msgid(domain="backbeat.local")
        # plain 7-bit when it can be: codes in the body stay copyable from the raw file
        message.set_content(body, cte="7bit" if body.isascii() else "quoted-printable")
        return message

    async def send(self, to: str, subject: str, body: str) -> str:
        """Send (or write) the message; returns where it went: ``smtp`` or the file."""
        message = self.compose(to, subject, body)
        if not self.smtp_url:
            self.outbox.mkdir(parents=True, exist_ok=True)
            stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%S%f")
            safe = re.sub(r"[^A-Za-z0-9]+", "-", str(message["Message-ID"]))[:40]
            path = self.outbox / f"{stamp}-{safe}.eml"
            tmp = path.with_suffix(".tmp")
            tmp.write_bytes(bytes(message))
            os.chmod(tmp, 0o600)  # the message holds a verification token
            tmp.replace(path)
            return str(path)
        import aiosmtplib

        url = urlsplit(self.smtp_url)
        try:
            await aiosmtplib.send(
                message,
                hostname=url.hostname or "localhost",
                port=url.port or (465 if url.scheme == "smtps" else 25),
                username=unquote(url.username) if url.username else None,
                password=unquote(url.password) if url.password else None,
                use_tls=url.scheme == "smtps",
                start_tls=None if url.scheme == "smtp" else False,
                timeout=10,
            )
        except (aiosmtplib.SMTPException, OSError) as exc:
            raise Unavailable(
                "privacy.mail_unavailable",
                details={"host": url.hostname or "localhost", "problem": type(exc).__name__},
                message="The mail server {host} did not take the message ({problem}).",
            ) from None
        return "smtp"
