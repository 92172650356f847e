"""Self-report delivery at scale: ``--n`` (10,000) questionnaires scheduled and delivered by
e-mail to a local SMTP server (aiosmtpd, in this process), beside a plain smtplib loop that
sends the same number of messages over one connection to the same server, in the same run.

Run: ``.venv/bin/python bench/outbox.py [--n 10000]``

A fresh SQLite database is migrated and filled with Core inserts: one site with self-report on,
one clinician, and per patient an identity with an e-mail address and consent, an N2O course
with a self-report schedule one hour after the session, and one session two hours ago (so each
course has one link due now). Then ``jobs.run_once`` makes the links (a token each, the
invitation in the outbox) and delivers the outbox through ``SmtpSender``. Printed: the time to
make the links, the time to deliver, the plain loop's time, messages per second of each, and
last the ratio of raad's delivery time to the plain loop's (target: within 2x).
"""

from __future__ import annotations

import argparse
import secrets
import smtplib
import socket
import tempfile
import time
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from pathlib import Path

from aiosmtpd.controller import Controller
from rich.console import Console
from rich.progress import Progress

console = Console()


class _Count:
    def __init__(self) -> None:
        self.n = 0

    async def handle_DATA(self, server, session, envelope):  # noqa: N802 - aiosmtpd's hook
        self.n += 1
        return "250 OK"


def _port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _fill(url: str, n: int) -> None:
    from raad.clinical.protocols import plan_course
    from raad.services import auth
    from raad.store import Database
    from raad.store.core import table
    from raad.store.migrate import upgrade
    from raad.store.models import (
        Administration,
        Course,
        Patient,
        PatientIdentity,
        SelfReportSchedule,
        Site,
    )

    db = Database(url)
    upgrade(db)
    with db.transaction() as s:
        user = auth.create_user(s, "bench.nurse", "correct horse battery staple", "clinician", "B")
        site_id, user_id = s.query(Site.id).filter(Site.code == "B").scalar(), user.id
        s.query(Site).filter(Site.id == site_id).update(
            {"self_report": True, "crisis_text": "Call 999 in an emergency."}
        )
    now = datetime.now(UTC)
    start = now - timedelta(hours=2)
    plan = plan_course("n2o-50-single", start.date()).to_dict()
    rows: dict[type, list[dict]] = {
        Patient: [],
        PatientIdentity: [],
        Course: [],
        SelfReportSchedule: [],
        Administration: [],
    }
    for i in range(1, n + 1):
        rows[Patient].append(
            {
                "id": i,
                "research_id": f"R{i:06d}",
                "site_id": site_id,
                "facts": {},
                "version": 1,
                "created_at": now,
                "updated_at": now,
                "created_by": user_id,
                "date_shift_days": -1,
            }
        )
        rows[PatientIdentity].append(
            {
                "patient_id": i,
                "given_name": "Bench",
                "family_name": f"Patient{i}",
                "mrn": f"B{i:06d}",
                "site_id": site_id,
                "email": f"p{i}@example.org",
                "contact_channel": "email",
                "contact_consent_at": now,
                "contact_consent_by": user_id,
            }
        )
        rows[Course].append(
            {
                "id": i,
                "patient_id": i,
                "regimen": "n2o-50-single",
                "agent": "n2o",
                "start_date": start.date(),
                "plan": plan,
                "status": "active",
                "knowledge_version": "bench",
                "version": 1,
                "created_at": now,
                "created_by": user_id,
            }
        )
        rows[SelfReportSchedule].append(
            {
                "course_id": i,
                "instrument": "QIDS-SR16",
                "anchor": "session",
                "offsets_hours": [1],
                "valid_hours": 72,
                "active": True,
                "origin": "bench",
                "created_at": now,
                "created_by": user_id,
            }
        )
        rows[Administration].append(
            {
                "course_id": i,
                "patient_id": i,
                "agent": "n2o",
                "route": "inhalation",
                "n2o_fraction": 0.5,
                "duration_min": 60,
                "start": start,
                "adverse_events": [],
                "unresolved": [],
                "version": 1,
                "created_at": now,
                "created_by": user_id,
            }
        )
    with db.engine.begin() as conn:
        for model, values in rows.items():
            conn.execute(table(model).insert(), values)
    db.dispose()


def _plain_loop(host: str, port: int, n: int) -> float:
    t0 = time.perf_counter()
    with smtplib.SMTP(host, port) as conn:
        for i in range(n):
            msg = EmailMessage()
            msg["From"], msg["To"] = "clinic@raad.example", f"p{i}@example.org"
            msg["Subject"] = "A short questionnaire is waiting for you"
            msg.set_content(f"Hello. A short questionnaire is waiting: https://x/r/{i}")
            conn.send_message(msg)
    return time.perf_counter() - t0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--n", type=int, default=10_000)
    args = ap.parse_args()
    from raad.interop.messaging import SmtpSender
    from raad.services import jobs, schedules
    from raad.store import Database

    counter = _Count()
    server = Controller(counter, hostname="127.0.0.1", port=_port())
    server.start()
    try:
        with tempfile.TemporaryDirectory() as tmp, Progress(console=console) as progress:
            task = progress.add_task("filling", total=4)
            url = f"sqlite:///{Path(tmp) / f'outbox-{secrets.token_hex(3)}.db'}"
            _fill(url, args.n)
            progress.update(task, advance=1, description="making links")
            db = Database(url)
            t0 = time.perf_counter()
            with db.transaction() as s:
                made = schedules.materialize(s, datetime.now(UTC), "https://raad.example")
            make_s = time.perf_counter() - t0
            progress.update(task, advance=1, description="delivering (raad)")
            sender = SmtpSender(server.hostname, server.port, "clinic@raad.example")
            before = counter.n
            t0 = time.perf_counter()
            done = jobs.run_once(db, {"email": sender}, "https://raad.example")
            raad_s = time.perf_counter() - t0
            sender.close()
            delivered = counter.n - before
            progress.update(task, advance=1, description="delivering (plain smtplib)")
            before = counter.n
            plain_s = _plain_loop(server.hostname, server.port, args.n)
            plain_n = counter.n - before
            progress.update(task, advance=1)
            db.dispose()
    finally:
        server.stop()
    assert made == args.n and delivered == args.n == done["sent"], (made, delivered, done)
    assert plain_n == args.n
    console.print(f"links made: {made} in {make_s:.1f} s ({made / make_s:.0f}/s)")
    console.print(f"raad delivered {delivered} in {raad_s:.1f} s ({delivered / raad_s:.0f}/s)")
    console.print(f"plain smtplib loop: {plain_n} in {plain_s:.1f} s ({plain_n / plain_s:.0f}/s)")
    ratio = raad_s / plain_s
    console.print(
        f"ratio raad delivery / plain loop: {ratio:.2f} (target within 2x: "
        f"{'met' if ratio <= 2 else 'not met'})"
    )


if __name__ == "__main__":
    main()
