"""``raad serve --workers 2``: two processes, each with its own SO_REUSEPORT socket, share the
port; concurrent writes from many connections all land, on SQLite and on PostgreSQL; SIGTERM
stops every worker."""

from __future__ import annotations

import os
import signal
import threading
import time
from pathlib import Path

import httpx
import pytest
from sqlalchemy import func, select

from raad.api.workers import check_port_free, reuse_port_socket
from raad.services import auth, courses, patients
from raad.services.schemas import CourseIn, IdentityIn, PatientIn
from raad.store.models import Administration, AuditEvent
from tests.dbfixtures import BACKENDS, PASSWORD, fresh_database
from tests.serving import free_port, raad_serve, start_server


def _workers(pid: int) -> list[int]:
    """Worker processes under ``pid`` (multiprocessing's resource tracker left out)."""
    out: list[int] = []
    for task in Path(f"/proc/{pid}/task").glob("*/children"):
        for child in task.read_text().split():
            cmd = Path(f"/proc/{child}/cmdline").read_bytes().replace(b"\0", b" ")
            if b"resource_tracker" not in cmd:
                out.append(int(child))
    return out


def _clinician_with_a_course(db, username: str, site: str) -> dict:
    """A clinician at ``site`` and one synthetic patient with an N2O course; the course."""
    with db.transaction() as s:
        actor = auth.actor_of(auth.create_user(s, username, PASSWORD, "clinician", site))
        p = patients.register(
            s,
            actor,
            PatientIn(identity=IdentityIn(given_name="W", family_name="Orker", mrn=f"{site}-1")),
        )
        return courses.plan(
            s, actor, p["id"], CourseIn(regimen="n2o-50-twice-weekly", start="2026-01-05")
        )


def test_two_sockets_may_bind_the_same_port():
    port = free_port()
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
        course = _clinician_with_a_course(db, "workers.clinician", "WORK")
        server, base = start_server(db.url, raad_serve(2))
        try:
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


def test_a_port_held_by_another_server_is_refused():
    port = free_port()
    held = reuse_port_socket("127.0.0.1", port)  # another raad's worker socket
    try:
        with pytest.raises(OSError):
            check_port_free("127.0.0.1", port)
    finally:
        held.close()
    check_port_free("127.0.0.1", port)


def _gone(pids: list[int], within: float) -> bool:
    deadline = time.time() + within
    while time.time() < deadline:
        if not any(Path(f"/proc/{p}").exists() for p in pids):
            return True
        time.sleep(0.1)
    return False


def test_workers_stop_when_the_main_process_dies(tmp_path):
    server, _ = start_server(f"sqlite:///{tmp_path / 'raad.db'}", raad_serve(2))
    try:
        workers = _workers(server.pid)
        assert len(workers) == 2
        server.kill()  # SIGKILL: no chance to stop its workers
        server.wait(10)
        assert _gone(workers, 15), "workers kept serving without their main process"
    finally:
        if server.poll() is None:
            server.kill()


def test_sigterm_while_a_worker_restarts_stops_everything(tmp_path):
    server, _ = start_server(f"sqlite:///{tmp_path / 'raad.db'}", raad_serve(2))
    try:
        first = _workers(server.pid)
        os.kill(first[0], signal.SIGKILL)  # the main process will restart it after a pause
        time.sleep(0.3)
        server.send_signal(signal.SIGTERM)
        assert server.wait(timeout=45) == 0
        time.sleep(0.5)
        assert _gone(first, 15)
        leftover = [
            p
            for p in Path("/proc").iterdir()
            if p.name.isdigit()
            and (p / "status").exists()
            and f"PPid:\t{server.pid}\n" in (p / "status").read_text()
        ]
        assert leftover == []
    finally:
        if server.poll() is None:
            server.kill()


def _hold_writer(url: str, started, seconds: float) -> None:
    from raad.store import Database

    db = Database(url)
    with db.transaction():
        started.set()
        time.sleep(seconds)
    db.dispose()


def test_a_long_write_elsewhere_does_not_hold_up_the_event_loop(tmp_path_factory):
    import multiprocessing

    db, cleanup = fresh_database("sqlite", tmp_path_factory)
    try:
        course = _clinician_with_a_course(db, "stall.clinician", "STALL")
        server, base = start_server(db.url, raad_serve(1))
        try:
            token = httpx.post(
                f"{base}/auth/token", data={"username": "stall.clinician", "password": PASSWORD}
            ).json()["access_token"]
            ctx = multiprocessing.get_context("spawn")
            started = ctx.Event()
            holder = ctx.Process(target=_hold_writer, args=(db.url, started, 2.0))
            holder.start()
            assert started.wait(60)
            result: dict[str, object] = {}

            def write() -> None:
                r = httpx.post(
                    f"{base}/sessions",
                    headers={"Authorization": f"Bearer {token}"},
                    json={"course_id": course["id"], "start": "2026-01-05T10:00:00+00:00"},
                    timeout=30,
                )
                result["status"] = r.status_code
                result["done"] = time.monotonic()

            t0 = time.monotonic()
            writer = threading.Thread(target=write)
            writer.start()
            time.sleep(0.3)  # the write is now waiting for the other process
            ping0 = time.monotonic()
            assert httpx.get(f"{base}/ping", timeout=5).status_code == 200
            assert time.monotonic() - ping0 < 0.5  # the loop still answers
            writer.join(30)
            holder.join(30)
            assert result["status"] == 201  # the write went through once the gate opened
            assert result["done"] - t0 > 1.0
        finally:
            server.terminate()
            server.wait(30)
    finally:
        cleanup()
