"""The outbox delivered to a real SMTP server (aiosmtpd, started here) and to a local SMS
provider stub that drops repeated idempotency keys, as the adapter's documented shape asks:
every message once, a crash between sending and marking never sends an e-mail twice and
never texts twice, failures retried then given up, one job leader at a time."""

from __future__ import annotations

import json
import secrets
import socket
import threading
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from aiosmtpd.controller import Controller

from raad.interop.messaging import HttpSmsSender, SmtpSender
from raad.services import jobs, outbox
from raad.store.models import OutboxMessage, utcnow


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class _Inbox:
    def __init__(self) -> None:
        self.messages: list[tuple[str, list[str], bytes]] = []

    async def handle_DATA(self, server, session, envelope):  # noqa: N802 - aiosmtpd's hook name
        self.messages.append((envelope.mail_from, list(envelope.rcpt_tos), envelope.content))
        return "250 Message accepted for delivery"


@pytest.fixture(scope="module")
def smtp():
    inbox = _Inbox()
    controller = Controller(inbox, hostname="127.0.0.1", port=_free_port())
    controller.start()
    yield controller, inbox
    controller.stop()


class _SmsStub:
    """A provider that keeps the first message per Idempotency-Key and answers its id again
    for a repeat (the adapter's documented contract)."""

    def __init__(self) -> None:
        self.requests = 0
        self.texts: dict[str, dict] = {}
        stub = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                stub.requests += 1
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                key = self.headers["Idempotency-Key"]
                assert self.headers["Authorization"] == "Bearer stub-token"
                stub.texts.setdefault(key, body)
                answer = json.dumps({"id": f"sms-{list(stub.texts).index(key)}"}).encode()
                self.send_response(201)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(answer)))
                self.end_headers()
                self.wfile.write(answer)

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/messages"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()


@pytest.fixture(scope="module")
def sms():
    stub = _SmsStub()
    yield stub
    stub.server.shutdown()


def _enqueue(database, channel: str, recipient: str, n: int = 1) -> list[str]:
    keys = [f"test-{secrets.token_hex(6)}" for _ in range(n)]
    with database.transaction() as s:
        for key in keys:
            outbox.enqueue(
                s,
                key=key,
                link_id=None,
                kind="invitation",
                channel=channel,
                recipient=recipient,
                subject="A short questionnaire is waiting for you" if channel == "email" else None,
                body=f"Hello. A short questionnaire is waiting for you: https://x.example/r/{key}",
                when=utcnow(),
            )
    return keys


def _status(database, key: str) -> OutboxMessage:
    with database.transaction(write=False) as s:
        from sqlalchemy import select

        m = s.scalar(select(OutboxMessage).where(OutboxMessage.message_key == key))
        s.expunge(m)
        return m


def test_messages_are_delivered_over_real_smtp(database, smtp):
    controller, inbox = smtp
    sender = SmtpSender(controller.hostname, controller.port, "clinic@raad.example")
    keys = _enqueue(database, "email", "patient@example.org", 3)
    before = len(inbox.messages)
    done = outbox.deliver(database.transaction, {"email": sender})
    sender.close()
    assert done["sent"] >= 3
    got = inbox.messages[before:]
    ours = [m for m in got if any(k.encode() in m[2] for k in keys)]
    assert len(ours) == 3
    assert all(m[0] == "clinic@raad.example" and m[1] == ["patient@example.org"] for m in ours)
    for key in keys:
        row = _status(database, key)
        assert row.status == "sent" and row.body is None and key in row.provider_id


def test_a_crash_between_send_and_mark_sends_no_email_twice(database, smtp):
    controller, inbox = smtp
    sender = SmtpSender(controller.hostname, controller.port)
    (key,) = _enqueue(database, "email", "patient@example.org")
    with database.transaction() as s:
        claimed = outbox.claim(s, utcnow(), limit=1000)
    row = _status(database, key)
    assert row.id in claimed
    sender.send(key, row.recipient, row.subject, row.body)  # it went out; then the crash
    sender.close()
    sent_once = sum(key.encode() in m[2] for m in inbox.messages)
    assert sent_once == 1
    with database.transaction() as s:
        assert (
            outbox.recover(s, utcnow() + timedelta(minutes=11), {"email": sender})["unknown"] >= 1
        )
    outbox.deliver(database.transaction, {"email": sender})
    assert sum(key.encode() in m[2] for m in inbox.messages) == 1
    assert _status(database, key).status == "unknown"


def test_a_crash_between_send_and_mark_texts_once_through_an_idempotent_provider(database, sms):
    sender = HttpSmsSender(sms.url, "stub-token")
    (key,) = _enqueue(database, "sms", "+447700900123")
    with database.transaction() as s:
        outbox.claim(s, utcnow(), limit=1000)
    row = _status(database, key)
    sender.send(key, row.recipient, None, row.body)  # sent; the process dies before marking
    requests = sms.requests
    later = utcnow() + timedelta(minutes=11)  # past the lease
    with database.transaction() as s:
        assert outbox.recover(s, later, {"sms": sender})["requeued"] >= 1
    outbox.deliver(database.transaction, {"sms": sender}, now=lambda: later)
    assert sms.requests > requests  # sent again with the same key ...
    assert list(sms.texts).count(key) == 1  # ... and the provider kept one text
    assert sms.texts[key]["to"] == "+447700900123"
    row = _status(database, key)
    assert row.status == "sent" and row.provider_id.startswith("sms-")


def test_a_failing_server_is_retried_later_then_given_up(database):
    dead = SmtpSender("127.0.0.1", _free_port(), timeout=2)
    (key,) = _enqueue(database, "email", "patient@example.org")
    done = outbox.deliver(database.transaction, {"email": dead})
    assert done["retry"] >= 1
    row = _status(database, key)
    assert row.status == "pending" and row.attempts == 1 and row.next_attempt_at > utcnow()
    assert "Error" in row.last_error or "refused" in row.last_error.lower()
    later = utcnow()
    for _ in range(outbox.MAX_ATTEMPTS):
        later += timedelta(days=1)
        outbox.deliver(database.transaction, {"email": dead}, now=lambda at=later: at)
    row = _status(database, key)
    assert row.status == "failed" and row.attempts == outbox.MAX_ATTEMPTS
    assert row.body is None  # the live link is not kept; resending makes a new message


def test_one_leader_at_a_time(database):
    first, second = jobs.Leader(database), jobs.Leader(database)
    try:
        assert first.acquire() and first.acquire()  # idempotent for the holder
        assert not second.acquire()
        first.release()
        assert second.acquire()
        assert not first.acquire()
    finally:
        first.release()
        second.release()


def test_the_scheduler_in_serve_runs_rounds_only_while_it_leads(database, monkeypatch):
    """``raad serve`` starts the scheduler; with two schedulers on one database (two
    processes or hosts), only the leader runs the rounds."""
    import time

    rounds: list[str] = []

    def fake_round(db, senders, base_url, now=None):
        rounds.append(base_url)
        return {}

    monkeypatch.setattr(jobs, "run_once", fake_round)
    first = jobs.start(database, {}, "first", interval=1)
    assert first.raad_leader.acquire()  # what its first round does; made sure of here
    second = jobs.start(database, {}, "second", interval=1)
    try:
        deadline = time.monotonic() + 10
        while rounds.count("first") < 2 and time.monotonic() < deadline:
            time.sleep(0.1)
    finally:
        for s in (first, second):
            s.shutdown(wait=True)
        first.raad_leader.release()
        second.raad_leader.release()
    assert rounds.count("first") >= 2 and "second" not in rounds
