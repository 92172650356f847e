"""A server killed with SIGKILL in the middle of writes loses no acknowledged write and leaves
no partial record (a real uvicorn process, on SQLite and on PostgreSQL)."""

from __future__ import annotations

import signal
import threading
import time

import httpx
import pytest
from sqlalchemy import func, select, text

from raad.services import auth, courses, patients
from raad.services.schemas import CourseIn, IdentityIn, PatientIn
from raad.store.models import Administration, Alert, AuditEvent
from tests.dbfixtures import BACKENDS, PASSWORD, fresh_database
from tests.serving import start_server


@pytest.mark.parametrize("backend", BACKENDS)
def test_sigkill_during_writes(backend, request, tmp_path_factory):
    pg = request.getfixturevalue("pg_server_url") if backend == "postgresql" else None
    db, cleanup = fresh_database(backend, tmp_path_factory, pg)
    try:
        with db.transaction() as s:
            u = auth.create_user(s, "crash.clinician", PASSWORD, "clinician", "CRASH")
            actor = auth.actor_of(u)
            p = patients.register(
                s,
                actor,
                PatientIn(identity=IdentityIn(given_name="K", family_name="Ill", mrn="K-1")),
            )
            course = courses.plan(
                s, actor, p["id"], CourseIn(regimen="n2o-50-twice-weekly", start="2026-01-05")
            )
        server, base = start_server(db.url)
        try:
            token = httpx.post(
                f"{base}/auth/token", data={"username": "crash.clinician", "password": PASSWORD}
            ).json()["access_token"]
            acknowledged: list[tuple[int, int]] = []  # (session id, duration sent)
            lock = threading.Lock()
            stop = threading.Event()

            def writer(w: int) -> None:
                with httpx.Client(
                    base_url=base, headers={"Authorization": f"Bearer {token}"}, timeout=5
                ) as c:
                    i = 0
                    while not stop.is_set():
                        i += 1
                        duration = 1 + (w * 1000 + i) % 200
                        body = {
                            "course_id": course["id"],
                            "start": f"2026-01-05T10:{w:02d}:00+00:00",
                            "duration_min": duration,
                            "n2o_fraction": 0.5,
                            "bp_pre": {"systolic": 120, "diastolic": 80},
                            "observation_min": 30,
                            "notes": f"w{w}-i{i}",
                        }
                        try:
                            r = c.post("/sessions", json=body)
                        except httpx.HTTPError:
                            return  # the server died mid-request: not acknowledged
                        if r.status_code == 201:
                            with lock:
                                acknowledged.append((r.json()["id"], duration))

            threads = [threading.Thread(target=writer, args=(w,)) for w in range(6)]
            for t in threads:
                t.start()
            while len(acknowledged) < 40:
                time.sleep(0.02)
            server.send_signal(signal.SIGKILL)
            server.wait(timeout=10)
            stop.set()
            for t in threads:
                t.join(timeout=10)
        finally:
            if server.poll() is None:
                server.kill()
        assert len(acknowledged) >= 40
        with db.transaction(write=False) as s:
            rows = {a.id: a for a in s.scalars(select(Administration))}
            for sid, duration in acknowledged:  # no acknowledged write is lost, and it is whole
                assert sid in rows, f"acknowledged session {sid} lost"
                assert rows[sid].duration_min == duration
            audited = set(
                s.scalars(
                    select(AuditEvent.entity_id).where(
                        AuditEvent.entity == "session", AuditEvent.action == "create"
                    )
                )
            )
            assert audited == {
                str(i) for i in rows
            }  # every stored session has its audit row, no orphans
            orphan_alerts = s.scalar(
                select(func.count())
                .select_from(Alert)
                .where(
                    Alert.administration_id.is_not(None),
                    Alert.administration_id.not_in(list(rows) or [0]),
                )
            )
            assert orphan_alerts == 0
            if db.dialect == "sqlite":
                assert s.execute(text("PRAGMA integrity_check")).scalar() == "ok"
    finally:
        cleanup()
