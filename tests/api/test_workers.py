"""``raad serve --workers 2``: two processes, each with its own SO_REUSEPORT socket, share the
port; concurrent writes from many connections all land, on SQLite and on PostgreSQL; SIGTERM
stops every worker."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import pytest
from sqlalchemy import func, select

from raad.api.workers import reuse_port_socket
from raad.services import auth, courses, patients
from raad.services.schemas import CourseIn, IdentityIn, PatientIn
from raad.store.models import Administration, AuditEvent
from tests.dbfixtures import BACKENDS, PASSWORD, fresh_database


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _workers(pid: int) -> list[int]:
    """Worker processes under ``pid`` (multiprocessing's resource tracker left out)."""
    out: list[int] = []
    for task in Path(f"/proc/{pid}/task").glob("*/children"):
        for child in task.read_text().split():
            cmd = Path(f"/proc/{child}/cmdline").read_bytes().replace(b"\0", b" ")
            if b"resource_tracker" not in cmd:
                out.append(int(child))
    return out


def test_two_sockets_may_bind_the_same_port():
    port = _free_port()
    a = reuse_port_socket("127.0.0.1", port)
    b = reuse_port_socket("127.0.0.1", port)
    try:
        assert a.getsockname() == b.getsockname()
    finally:
        a.close()
        b.close()


@pytest.mark.parametrize("backend", BACKENDS)
def test_two_workers_serve_and_every_write_lands(backend, request, tmp_path_factory):
    pg = request.getfixturevalue("pg_server_url") if backend == "postgresql" else None
    db, cleanup = fresh_database(backend, tmp_path_factory, pg)
    try:
        with db.transaction() as s:
            u = auth.create_user(s, "workers.clinician", PASSWORD, "clinician", "WORK")
            actor = auth.actor_of(u)
            p = patients.register(
                s,
                actor,
                PatientIn(identity=IdentityIn(given_name="W", family_name="Orker", mrn="W-1")),
            )
            course = courses.plan(
                s, actor, p["id"], CourseIn(regimen="n2o-50-twice-weekly", start="2026-01-05")
            )
        port = _free_port()
        env = {**os.environ, "RAAD_DATABASE_URL": db.url}
        server = subprocess.Popen(
            [sys.executable, "-m", "raad", "serve", "--port", str(port), "--workers", "2"],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        base = f"http://127.0.0.1:{port}"
        try:
            deadline = time.time() + 60
            while True:
                try:
                    if httpx.get(f"{base}/health", timeout=1).status_code == 200:
                        break
                except httpx.HTTPError:
                    pass
                assert server.poll() is None and time.time() < deadline, "server did not start"
                time.sleep(0.1)
            assert len(_workers(server.pid)) == 2
            token = httpx.post(
                f"{base}/auth/token", data={"username": "workers.clinician", "password": PASSWORD}
            ).json()["access_token"]
            statuses: list[int] = []
            ids: list[int] = []
            lock = threading.Lock()

            def writer(w: int) -> None:
                with httpx.Client(
                    base_url=base, headers={"Authorization": f"Bearer {token}"}, timeout=30
                ) as c:
                    for i in range(15):
                        r = c.post(
                            "/sessions",
                            json={
                                "course_id": course["id"],
                                "start": f"2026-01-{5 + i % 20:02d}T10:{w:02d}:00+00:00",
                                "duration_min": 30,
                                "n2o_fraction": 0.5,
                                "observation_min": 30,
                            },
                        )
                        with lock:
                            statuses.append(r.status_code)
                            if r.status_code == 201:
                                ids.append(r.json()["id"])

            threads = [threading.Thread(target=writer, args=(w,)) for w in range(12)]
            for t in threads:
                t.start()
            for t in threads:
                t.join(timeout=120)
            server.send_signal(signal.SIGTERM)
            assert server.wait(timeout=30) == 0
        finally:
            if server.poll() is None:
                server.kill()
        assert statuses == [201] * 180
        assert len(set(ids)) == 180
        with db.transaction(write=False) as s:
            assert s.scalar(select(func.count()).select_from(Administration)) == 180
            audited = s.scalar(
                select(func.count())
                .select_from(AuditEvent)
                .where(AuditEvent.entity == "session", AuditEvent.action == "create")
            )
            assert audited == 180
    finally:
        cleanup()
