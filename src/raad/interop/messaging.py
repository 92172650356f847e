"""Senders for the outbox: e-mail over SMTP (the standard library's smtplib) and SMS through an
HTTP provider.

The SMS adapter speaks one documented shape, which a provider or a small relay in front of one
accepts: ``POST {url}`` with ``Authorization: Bearer {token}``, ``Idempotency-Key: {key}`` and
the JSON body ``{"to": "+4477...", "body": "...", "idempotency_key": "..."}``; a 2xx answer
with JSON ``{"id": "..."}`` means accepted. The provider must drop a repeated key (it returns
the first message's id), which lets the outbox send again after a crash without a duplicate
text (``idempotent = True``). SMTP has no such guarantee (``idempotent = False``): the e-mail
carries the key as its Message-ID, but a server may deliver both copies, so the outbox never
resends an e-mail whose fate is unknown.

Configuration (environment): ``RAAD_SMTP_HOST``, ``RAAD_SMTP_PORT`` (25), ``RAAD_SMTP_FROM``,
``RAAD_SMTP_STARTTLS`` (1 to use STARTTLS), ``RAAD_SMTP_USER``, ``RAAD_SMTP_PASSWORD``;
``RAAD_SMS_URL``, ``RAAD_SMS_TOKEN``; ``RAAD_PUBLIC_URL`` (where patients reach raad, for the
links in messages).
"""

from __future__ import annotations

import contextlib
import os
import smtplib
import threading
from email.message import EmailMessage
from email.utils import formatdate, make_msgid
from typing import Any

import httpx


class SmtpSender:
    """E-mail through one SMTP server; the connection is kept open between messages and
    opened again when the server has closed it."""

    channel = "email"
    idempotent = False

    def __init__(
        self,
        host: str,
        port: int = 25,
        sender: str = "raad@localhost",
        starttls: bool = False,
        username: str | None = None,
        password: str | None = None,
        timeout: float = 20,
    ) -> None:
        self.host, self.port, self.sender = host, port, sender
        self.starttls, self.username, self.password = starttls, username, password
        self.timeout = timeout
        self._conn: smtplib.SMTP | None = None
        self._lock = threading.Lock()

    def _connect(self) -> smtplib.SMTP:
        conn = smtplib.SMTP(self.host, self.port, timeout=self.timeout)
        if self.starttls:
            conn.starttls()
        if self.username:
            conn.login(self.username, self.password or "")
        return conn

    def message(self, key: str, recipient: str, subject: str | None, body: str) -> EmailMessage:
        msg = EmailMessage()
        msg["From"] = self.sender
        msg["To"] = recipient
        msg["Subject"] = subject or ""
        msg["Date"] = formatdate(localtime=False)
        domain = self.sender.rsplit("@", 1)[-1] if "@" in self.sender else "localhost"
        msg["Message-ID"] = make_msgid(idstring=key, domain=domain)
        msg.set_content(body)
        return msg

    def send(self, key: str, recipient: str, subject: str | None, body: str) -> str | None:
        msg = self.message(key, recipient, subject, body)
        with self._lock:
            for attempt in (1, 2):
                try:
                    if self._conn is None:
                        self._conn = self._connect()
                    self._conn.send_message(msg)
                    return str(msg["Message-ID"])
                except (smtplib.SMTPServerDisconnected, ConnectionError, OSError):
                    self.close()
                    if attempt == 2:
                        raise
        return None

    def close(self) -> None:
        if self._conn is not None:
            with contextlib.suppress(smtplib.SMTPException, OSError):
                self._conn.quit()
            self._conn = None


class HttpSmsSender:
    """SMS through an HTTP provider speaking the shape in the module docstring."""

    channel = "sms"
    idempotent = True

    def __init__(self, url: str, token: str | None = None, timeout: float = 20) -> None:
        self.url, self.token = url, token
        self.client = httpx.Client(timeout=timeout)

    def send(self, key: str, recipient: str, subject: str | None, body: str) -> str | None:
        headers = {"Idempotency-Key": key}
        if self.token:
            headers["Authorization"] = f"Bearer {self.token}"
        r = self.client.post(
            self.url,
            json={"to": recipient, "body": body, "idempotency_key": key},
            headers=headers,
        )
        r.raise_for_status()
        data: Any = r.json() if r.content else {}
        return str(data.get("id")) if isinstance(data, dict) and data.get("id") else None

    def close(self) -> None:
        self.client.close()


def senders_from_env(env: dict[str, str] | None = None) -> dict[str, Any]:
    """The senders the environment configures, by channel (none when nothing is set)."""
    env = dict(os.environ if env is None else env)
    out: dict[str, Any] = {}
    if env.get("RAAD_SMTP_HOST"):
        out["email"] = SmtpSender(
            env["RAAD_SMTP_HOST"],
            int(env.get("RAAD_SMTP_PORT", "25")),
            env.get("RAAD_SMTP_FROM", "raad@localhost"),
            env.get("RAAD_SMTP_STARTTLS") == "1",
            env.get("RAAD_SMTP_USER") or None,
            env.get("RAAD_SMTP_PASSWORD") or None,
        )
    if env.get("RAAD_SMS_URL"):
        out["sms"] = HttpSmsSender(env["RAAD_SMS_URL"], env.get("RAAD_SMS_TOKEN") or None)
    return out
