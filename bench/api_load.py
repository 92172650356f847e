"""Load benchmark of the registry API: a mixed workload from concurrent clients against a running
uvicorn server, on SQLite and PostgreSQL, against the app's own no-op endpoint in the same run.

Run: ``.venv/bin/python bench/api_load.py [--backend sqlite|postgresql|both] [--clients 32]
[--workers 2] [--seconds 10] [--patients 1000] [--http raw|httpx] [--hosts N] [--quick]``

With ``--hosts N`` the mixed phase runs once more on N ``raad serve`` processes on different
ports (each with ``--workers / N`` workers, so the machine runs as many workers), the clients
split in N groups as a proxy would spread them; the ratio of that throughput to one host's is
printed last.

Per backend a fresh database is migrated (SQLite: a temporary file; PostgreSQL: a new database
``raad_bench_<hex>`` on ``RAAD_TEST_POSTGRES``, default the local server, dropped at the end).
One clinician and ``--patients`` patients, each with an N2O course (``n2o-50-twice-weekly``),
are created through the services in one transaction. Then ``python -m raad serve --workers
N`` (default 2, one per core, each worker on its own ``SO_REUSEPORT`` socket) is started on that
database and a bearer token is fetched from ``POST /auth/token``. 1000 patients by default:
with few patients each one piles up dozens of sessions and unacknowledged alerts within
seconds, so the summary, which lists them, grows heavier the longer the run (``--patients 64``
shows that case).

``--clients`` virtual users (asyncio; by default a minimal keep-alive HTTP/1.1 client, or with
``--http httpx`` one ``httpx.AsyncClient`` each, which costs the machine far more CPU per
request; closed loop: a user
sends its next request when the previous one has answered) run two phases of ``--seconds`` each,
after a short unmeasured warm-up (requests finishing inside the measured window are counted):

1. no-op: ``GET /ping`` (no database, no authentication), the peer;
2. mixed: 50% ``GET /patients/{id}/summary``, 30% ``POST /sessions`` (a valid N2O session for a
   random patient's course, start time varied over the last 60 days), 20%
   ``POST /patients/{id}/assessments`` (a complete PHQ-9, items 0-3 at random, administered
   in the past). Patients are drawn uniformly. "writes/s" counts the two POSTs only (the summary
   carries no identifiers, so it is not an audited read).

Latency is measured in the client (``time.perf_counter`` around each request), so it includes
queueing in the load generator's own event loop. Any non-2xx status or transport error is an
error and is reported by operation and status. The CPU time of the server's processes (Linux
``/proc``) and of the load generator in the window is printed per request, with the 1-minute
load average (other jobs on the machine skew the numbers). The last lines are the ratios mixed/no-op
(throughput and p99) and whether the target (>= 500 writes/s and p99 < 50 ms with 32 clients on
SQLite) was met. The load generator runs on the same machine as the server and competes with it
for the CPU; the caveat is printed.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import math
import os
import random
import secrets
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import asynccontextmanager, contextmanager, suppress
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from raad.services import auth, courses, patients
from raad.services.schemas import CourseIn, IdentityIn, PatientIn
from raad.store import Database
from raad.store.migrate import upgrade

PG_URL = os.environ.get("RAAD_TEST_POSTGRES", "postgresql+psycopg://root@127.0.0.1:5432/postgres")
USERNAME = "bench.clinician"
PASSWORD = "correct horse battery staple"
SITE = "BENCH"
REGIMEN = "n2o-50-twice-weekly"
WEIGHTS = (("summary", 0.5), ("session", 0.3), ("assessment", 0.2))
WRITES = {"session", "assessment"}
TARGET_WRITES_PER_S = 500.0
TARGET_P99_MS = 50.0
TARGET_CLIENTS = 32
PG_TARGET_RATIO = 0.15  # PostgreSQL: mixed/no-op throughput of the same run
PG_TARGET_P99_MS = 150.0


# --- databases ---------------------------------------------------------------------------------


@contextmanager
def fresh_database(backend: str) -> Iterator[Database]:
    """A migrated, empty database, removed afterwards (as tests/dbfixtures.py does)."""
    if backend == "sqlite":
        tmp = Path(tempfile.mkdtemp(prefix="raad_bench_"))
        db = Database(f"sqlite:///{tmp / 'raad.db'}")
        try:
            upgrade(db)
            yield db
        finally:
            db.dispose()
            shutil.rmtree(tmp, ignore_errors=True)
        return
    name = f"raad_bench_{uuid.uuid4().hex[:12]}"
    admin = create_engine(PG_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as c:
        c.execute(text(f'CREATE DATABASE "{name}"'))
    db = None
    try:
        url = make_url(PG_URL).set(database=name).render_as_string(hide_password=False)
        db = Database(url)
        upgrade(db)
        yield db
    finally:
        if db is not None:
            db.dispose()
        with admin.connect() as c:
            c.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@dataclass
class Fixture:
    patient_ids: list[int]
    course_of: dict[int, int]  # patient id -> course id
    course_start: date


def populate(db: Database, n_patients: int) -> Fixture:
    """A clinician at a site and ``n_patients`` patients with an active course each."""
    start = datetime.now(UTC).date() - timedelta(days=60)
    ids: list[int] = []
    course_of: dict[int, int] = {}
    with db.transaction() as s:
        actor = auth.actor_of(auth.create_user(s, USERNAME, PASSWORD, "clinician", SITE))
        for i in range(n_patients):
            p = patients.register(
                s,
                actor,
                PatientIn(
                    identity=IdentityIn(
                        given_name="Bench",
                        family_name=f"Synthetic-{i}",
                        mrn=f"B-{i:05d}-{secrets.token_hex(2)}",
                        birth_date=date(1970 + i % 30, 1 + i % 12, 1 + i % 28),
                    ),
                    sex=("female", "male")[i % 2],
                ),
            )
            c = courses.plan(s, actor, p["id"], CourseIn(regimen=REGIMEN, start=start))
            ids.append(p["id"])
            course_of[p["id"]] = c["id"]
    return Fixture(ids, course_of, start)


# --- server ------------------------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def server(db_url: str, workers: int = 1) -> Iterator[tuple[str, int]]:
    """``python -m raad serve`` (``workers`` processes) on ``db_url``; yields its base URL and the
    process id of the main process."""
    port = _free_port()
    env = {**os.environ, "RAAD_DATABASE_URL": db_url}
    with tempfile.TemporaryFile() as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "raad", "serve", "--port", str(port), "--workers", str(workers)],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        base = f"http://127.0.0.1:{port}"
        try:
            deadline = time.monotonic() + 60
            while True:
                if proc.poll() is not None:
                    log.seek(0)
                    raise RuntimeError(f"server exited ({proc.returncode}):\n{log.read().decode()}")
                try:
                    if httpx.get(f"{base}/health", timeout=1).status_code == 200:
                        break
                except httpx.HTTPError:
                    pass
                if time.monotonic() > deadline:
                    raise RuntimeError("server did not answer /health within 60 s")
                time.sleep(0.1)
            yield base, proc.pid
        finally:
            if proc.poll() is None:
                proc.terminate()
                try:
                    proc.wait(timeout=15)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()


def get_token(base: str) -> str:
    r = httpx.post(
        f"{base}/auth/token", data={"username": USERNAME, "password": PASSWORD}, timeout=30
    )
    r.raise_for_status()
    return r.json()["access_token"]


# --- load --------------------------------------------------------------------------------------

Request = tuple[str, str, str, dict[str, Any] | None]  # (operation, method, path, json body)


def ping_request(_rng: random.Random) -> Request:
    return ("ping", "GET", "/ping", None)


def mixed_requests(fx: Fixture) -> Callable[[random.Random], Request]:
    ops = [op for op, _ in WEIGHTS]
    weights = [w for _, w in WEIGHTS]
    course_start = datetime.combine(fx.course_start, datetime.min.time(), tzinfo=UTC)

    def make(rng: random.Random) -> Request:
        op = rng.choices(ops, weights)[0]
        pid = rng.choice(fx.patient_ids)
        if op == "summary":
            return (op, "GET", f"/patients/{pid}/summary", None)
        if op == "session":
            start = course_start + timedelta(
                days=rng.randrange(59), hours=8 + rng.randrange(9), minutes=rng.randrange(60)
            )
            body = {
                "course_id": fx.course_of[pid],
                "start": start.isoformat(),
                "duration_min": 60,
                "n2o_fraction": 0.5,
                "bp_pre": {
                    "systolic": 115 + rng.randrange(20),
                    "diastolic": 70 + rng.randrange(15),
                },
                "bp_post": {
                    "systolic": 115 + rng.randrange(20),
                    "diastolic": 70 + rng.randrange(15),
                },
                "observation_min": 30,
            }
            return (op, "POST", "/sessions", body)
        when = datetime.now(UTC) - timedelta(minutes=1 + rng.randrange(60 * 24 * 30))
        body = {
            "instrument": "PHQ-9",
            "responses": {str(i): rng.randrange(4) for i in range(1, 10)},
            "administered_at": when.isoformat(),
        }
        return (op, "POST", f"/patients/{pid}/assessments", body)

    return make


Send = Callable[[str, str, dict[str, Any] | None], Awaitable[tuple[int, str]]]


@asynccontextmanager
async def httpx_client(base: str, token: str) -> AsyncIterator[Send]:
    """One keep-alive ``httpx.AsyncClient`` (one connection)."""
    limits = httpx.Limits(max_connections=1, max_keepalive_connections=1)
    headers = {"Authorization": f"Bearer {token}"}
    async with httpx.AsyncClient(
        base_url=base, headers=headers, limits=limits, timeout=30
    ) as client:

        async def send(method: str, path: str, body: dict[str, Any] | None) -> tuple[int, str]:
            r = await client.request(method, path, json=body)
            return r.status_code, r.text

        yield send


@asynccontextmanager
async def raw_client(base: str, token: str) -> AsyncIterator[Send]:
    """A minimal HTTP/1.1 keep-alive client on asyncio streams (``--http raw``): much less CPU
    per request than httpx, so the load generator takes less of the machine from the server.
    It relies on the server sending Content-Length (uvicorn does for these JSON responses)."""
    url = httpx.URL(base)
    host, port = url.host, url.port or 80
    conn: list[tuple[asyncio.StreamReader, asyncio.StreamWriter]] = []
    auth_line = f"Authorization: Bearer {token}\r\n"

    async def send(method: str, path: str, body: dict[str, Any] | None) -> tuple[int, str]:
        if not conn:
            conn.append(await asyncio.open_connection(host, port))
        reader, writer = conn[0]
        payload = b"" if body is None else json.dumps(body).encode()
        head = (
            f"{method} {path} HTTP/1.1\r\nHost: {host}:{port}\r\n{auth_line}"
            + (
                f"Content-Type: application/json\r\nContent-Length: {len(payload)}\r\n"
                if body is not None
                else ""
            )
            + "\r\n"
        )
        try:
            writer.write(head.encode() + payload)
            raw = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 30)
            lines = raw.decode("latin-1").split("\r\n")
            status = int(lines[0].split(" ", 2)[1])
            fields = {
                k.strip().lower(): v.strip()
                for k, _, v in (x.partition(":") for x in lines[1:] if x)
            }
            if "content-length" not in fields:
                raise ValueError("response without Content-Length")
            data = await reader.readexactly(int(fields["content-length"]))
            if fields.get("connection", "").lower() == "close":
                raise ConnectionResetError("server closed the connection")
        except BaseException:
            writer.close()
            conn.clear()
            raise
        return status, data.decode(errors="replace")

    try:
        yield send
    finally:
        if conn:
            conn[0][1].close()


CLIENTS = {"httpx": httpx_client, "raw": raw_client}


@dataclass
class Sample:
    op: str
    status: int  # 0: transport error
    latency_s: float
    host: int = 0  # which server (--hosts)


@dataclass
class PhaseResult:
    name: str
    clients: int
    seconds: float  # measured wall time
    samples: list[Sample] = field(default_factory=list)
    error_examples: list[str] = field(default_factory=list)
    server_cpu_s: float = float("nan")  # CPU time of the server process in the window
    client_cpu_s: float = float("nan")  # CPU time of this (load generator) process
    database_cpu_s: float = float("nan")  # CPU time of a local PostgreSQL server's processes
    loadavg: float = float("nan")  # 1-minute load average at the end of the window

    def select(self, op: str | None = None) -> list[Sample]:
        return [x for x in self.samples if op is None or x.op == op]

    def errors(self, op: str | None = None) -> int:
        return sum(1 for x in self.select(op) if not 200 <= x.status < 300)

    def rate(self, op: str | None = None) -> float:
        return len(self.select(op)) / self.seconds

    def writes_per_s(self) -> float:
        ok = sum(1 for x in self.samples if x.op in WRITES and 200 <= x.status < 300)
        return ok / self.seconds

    def percentile(self, q: float, op: str | None = None) -> float:
        """Latency percentile in ms (nearest rank)."""
        xs = sorted(x.latency_s for x in self.select(op))
        if not xs:
            return float("nan")
        k = min(len(xs) - 1, max(0, math.ceil(q / 100 * len(xs)) - 1))
        return xs[k] * 1000


async def run_phase(
    base: str | list[str],
    server_pid: int | list[int],
    token: str,
    make: Callable[[random.Random], Request],
    clients: int,
    seconds: float,
    warmup: float,
    name: str,
    seed: int,
    http: str = "httpx",
) -> PhaseResult:
    """``clients`` closed-loop virtual users for ``warmup`` + ``seconds``; requests that finish
    inside the measured window are kept."""
    connect = CLIENTS[http]
    bases = [base] if isinstance(base, str) else list(base)
    pids = [server_pid] if isinstance(server_pid, int) else list(server_pid)
    t_start = time.perf_counter() + warmup
    t_end = t_start + seconds
    samples: list[Sample] = []
    error_bodies: list[str] = []

    async def user(i: int) -> None:
        rng = random.Random(seed * 1000 + i)
        async with connect(bases[i % len(bases)], token) as send:  # client groups per host
            while True:
                op, method, path, body = make(rng)
                t0 = time.perf_counter()
                if t0 >= t_end:
                    return
                try:
                    status, detail = await send(method, path, body)
                except (httpx.HTTPError, OSError, ValueError, asyncio.IncompleteReadError) as exc:
                    status, detail = 0, f"transport error: {exc!r}"
                detail = detail[:300]
                t1 = time.perf_counter()
                if t_start <= t1 <= t_end:
                    samples.append(Sample(op, status, t1 - t0, i % len(bases)))
                    if not 200 <= status < 300 and len(error_bodies) < 5:
                        error_bodies.append(f"{op} {status}: {detail}")

    cpu: dict[str, float] = {}

    async def meter() -> None:
        await asyncio.sleep(max(0.0, t_start - time.perf_counter()))
        srv0, cli0 = sum(map(process_cpu_s, pids)), time.process_time()
        db0 = database_cpu_s()
        await asyncio.sleep(max(0.0, t_end - time.perf_counter()))
        cpu["server"] = sum(map(process_cpu_s, pids)) - srv0
        cpu["client"] = time.process_time() - cli0
        cpu["database"] = database_cpu_s() - db0

    await asyncio.gather(meter(), *(user(i) for i in range(clients)))
    res = PhaseResult(name, clients, seconds, samples, error_bodies)
    res.server_cpu_s = cpu.get("server", float("nan"))
    res.client_cpu_s = cpu.get("client", float("nan"))
    res.database_cpu_s = cpu.get("database", float("nan"))
    res.loadavg = os.getloadavg()[0]
    return res


def _children(pid: int) -> list[int]:
    out: list[int] = []
    for task in Path(f"/proc/{pid}/task").glob("*/children"):
        with suppress(OSError):
            out += [int(x) for x in task.read_text().split()]
    return out


def process_cpu_s(pid: int) -> float:
    """User + system CPU seconds of a process and its worker processes (Linux /proc; NaN
    elsewhere)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return float("nan")
    own = (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    return own + sum(process_cpu_s(c) for c in _children(pid))


def database_cpu_s() -> float:
    """User + system CPU seconds of every process of a PostgreSQL server on this machine (its
    backends and background processes, named ``postgres``; Linux /proc, readable as root),
    with those of the backends that have ended (a connection closed by a pool), which the kernel
    adds to their parent's ``cutime``/``cstime`` when it reaps them; NaN when there is none
    (SQLite, or a server elsewhere)."""
    total, found = 0, False
    for stat in Path("/proc").glob("[0-9]*/stat"):
        with suppress(OSError):
            head, rest = stat.read_text().rsplit(")", 1)
            if head.split("(", 1)[1] == "postgres":
                fields = rest.split()
                # utime + stime, and cutime + cstime: the time of reaped children (the
                # postmaster's ended backends; zero for a backend, which has none)
                total += sum(int(f) for f in fields[11:15])
                found = True
    return total / os.sysconf("SC_CLK_TCK") if found else float("nan")


# --- report ------------------------------------------------------------------------------------


def _fmt(x: float, nd: int = 1) -> str:
    return f"{x:,.{nd}f}"


def report(backend: str, noop: PhaseResult, mixed: PhaseResult, clients: int) -> bool | None:
    """Print the table and ratios; return whether the target was met (None: not applicable)."""
    head = ("phase", "requests", "errors", "req/s", "writes/s", "p50 ms", "p99 ms")
    rows = [
        (
            "no-op GET /ping",
            len(noop.samples),
            noop.errors(),
            noop.rate(),
            None,
            noop.percentile(50),
            noop.percentile(99),
        ),
        (
            "mixed (all)",
            len(mixed.samples),
            mixed.errors(),
            mixed.rate(),
            mixed.writes_per_s(),
            mixed.percentile(50),
            mixed.percentile(99),
        ),
    ]
    for op, _ in WEIGHTS:
        rows.append(
            (
                f"  {op}",
                len(mixed.select(op)),
                mixed.errors(op),
                mixed.rate(op),
                None,
                mixed.percentile(50, op),
                mixed.percentile(99, op),
            )
        )
    text_rows = [head] + [
        (
            r[0],
            str(r[1]),
            str(r[2]),
            _fmt(r[3]),
            "" if r[4] is None else _fmt(r[4]),
            _fmt(r[5]),
            _fmt(r[6]),
        )
        for r in rows
    ]
    widths = [max(len(r[i]) for r in text_rows) for i in range(len(head))]
    print(f"\n== {backend}: {clients} clients, {mixed.seconds:g} s per phase ==")
    for j, r in enumerate(text_rows):
        cells = [r[0].ljust(widths[0])] + [
            c.rjust(w) for c, w in zip(r[1:], widths[1:], strict=True)
        ]
        print("  ".join(cells))
        if j == 0:
            print("  ".join("-" * w for w in widths))
    for label, res in (("no-op", noop), ("mixed", mixed)):
        bad = Counter((x.op, x.status) for x in res.samples if not 200 <= x.status < 300)
        if bad:
            print(
                f"{label} errors: "
                + ", ".join(f"{op} {st or 'transport'} x{n}" for (op, st), n in bad.items())
            )
            for e in res.error_examples:
                print(f"  e.g. {e}")
    for res in (noop, mixed):
        n = max(1, len(res.samples))
        print(
            f"{res.name}: CPU per request {1000 * res.server_cpu_s / n:.2f} ms server, "
            f"{1000 * res.client_cpu_s / n:.2f} ms load generator; CPU busy "
            f"{100 * res.server_cpu_s / res.seconds:.0f}% server, "
            f"{100 * res.client_cpu_s / res.seconds:.0f}% load generator (of one core); "
            f"load average {res.loadavg:.2f}"
        )
        if backend == "postgresql" and not math.isnan(res.database_cpu_s):
            print(
                f"{res.name}: PostgreSQL's processes on this machine: CPU per request "
                f"{1000 * res.database_cpu_s / n:.2f} ms, busy "
                f"{100 * res.database_cpu_s / res.seconds:.0f}% (of one core)"
            )
    thr = mixed.rate() / noop.rate() if noop.rate() else float("nan")
    p99 = mixed.percentile(99) / noop.percentile(99)
    print(
        f"ratio mixed/no-op: throughput {thr:.3f} ({_fmt(mixed.rate())} / {_fmt(noop.rate())} req/s), "
        f"p99 {p99:.2f}x ({_fmt(mixed.percentile(99))} / {_fmt(noop.percentile(99))} ms)"
    )
    if backend == "postgresql":
        return pg_target(mixed, thr, clients)
    if backend != "sqlite":
        return None
    w, p, e = mixed.writes_per_s(), mixed.percentile(99), mixed.errors()
    target = (
        f"target (>= {TARGET_WRITES_PER_S:g} writes/s and p99 < {TARGET_P99_MS:g} ms with "
        f"{TARGET_CLIENTS} clients on SQLite)"
    )
    measured = f"{_fmt(w)} writes/s, p99 {_fmt(p)} ms, {e} errors"
    met = w >= TARGET_WRITES_PER_S and p < TARGET_P99_MS and e == 0
    return _verdict(target, measured, clients, met)


def _verdict(target: str, measured: str, clients: int, met: bool) -> bool | None:
    """Print whether ``target`` was met (decided only with ``TARGET_CLIENTS`` clients)."""
    if clients != TARGET_CLIENTS:
        print(f"{target}: not decided by this run ({clients} clients): {measured}")
        return None
    print(f"{target}: {'MET' if met else 'NOT MET'}: {measured}")
    return met


def pg_target(mixed: PhaseResult, ratio: float, clients: int) -> bool | None:
    """Print whether PostgreSQL's target was met: mixed/no-op throughput >= ``PG_TARGET_RATIO``
    and p99 < ``PG_TARGET_P99_MS`` with ``TARGET_CLIENTS`` clients (the no-op phase of the same
    run is the peer, so the ratio is comparable between machines; the p99 is not)."""
    p, e = mixed.percentile(99), mixed.errors()
    target = (
        f"target (ratio >= {PG_TARGET_RATIO:g} and p99 < {PG_TARGET_P99_MS:g} ms with "
        f"{TARGET_CLIENTS} clients on PostgreSQL)"
    )
    measured = f"ratio {ratio:.3f}, p99 {_fmt(p)} ms, {e} errors"
    met = ratio >= PG_TARGET_RATIO and p < PG_TARGET_P99_MS and e == 0
    return _verdict(target, measured, clients, met)


# --- main --------------------------------------------------------------------------------------


def bench_backend(backend: str, args: argparse.Namespace) -> bool | None:
    with fresh_database(backend) as db:
        t0 = time.perf_counter()
        fx = populate(db, args.patients)
        print(
            f"[{backend}] {args.patients} patients with courses created in "
            f"{time.perf_counter() - t0:.1f} s; starting server",
            flush=True,
        )
        url = db.url
        db.dispose()
        with server(url, args.workers) as (base, pid):
            token = get_token(base)
            warmup = min(2.0, args.seconds / 5)
            results = []
            for name, make in (("no-op", ping_request), ("mixed", mixed_requests(fx))):
                res = asyncio.run(
                    run_phase(
                        base,
                        pid,
                        token,
                        make,
                        args.clients,
                        args.seconds,
                        warmup,
                        name,
                        args.seed,
                        args.http,
                    )
                )
                print(f"[{backend}] {name} phase done: {len(res.samples)} requests", flush=True)
                results.append(res)
        noop, mixed = results
        met = report(backend, noop, mixed, args.clients)
        if args.hosts > 1:
            hosts_report(backend, url, fx, mixed, args)
        return met


def hosts_report(
    backend: str, url: str, fx: Fixture, one: PhaseResult, args: argparse.Namespace
) -> None:
    """The mixed phase again on ``--hosts`` raad processes (different ports, the clients split
    in groups between them, as a proxy would), each with ``--workers / --hosts`` workers so the
    machine runs as many workers as before: the throughput they add up to, against one host."""
    per = max(1, args.workers // args.hosts)
    with contextlib.ExitStack() as stack:
        started = [stack.enter_context(server(url, per)) for _ in range(args.hosts)]
        bases, pids = [b for b, _ in started], [p for _, p in started]
        token = get_token(bases[0])  # one token: sessions live in the database
        res = asyncio.run(
            run_phase(
                bases,
                pids,
                token,
                mixed_requests(fx),
                args.clients,
                args.seconds,
                min(2.0, args.seconds / 5),
                f"mixed on {args.hosts} hosts",
                args.seed,
                args.http,
            )
        )
    shares = [sum(1 for x in res.samples if x.host == h) / res.seconds for h in range(args.hosts)]
    print(
        f"\n== {backend}: {args.hosts} hosts x {per} worker(s), {args.clients} clients in "
        f"{args.hosts} groups =="
    )
    for h, rate in enumerate(shares):
        print(f"host {h + 1}: {_fmt(rate)} req/s")
    print(
        f"all hosts: {_fmt(res.rate())} req/s, {_fmt(res.writes_per_s())} writes/s, "
        f"p99 {_fmt(res.percentile(99))} ms, {res.errors()} errors"
    )
    print(
        f"ratio {args.hosts} hosts / 1 host ({args.workers} workers): throughput "
        f"{res.rate() / one.rate():.3f} ({_fmt(res.rate())} / {_fmt(one.rate())} req/s; "
        f"sum of hosts {_fmt(sum(shares))})"
    )


def pg_reachable() -> str | None:
    eng = create_engine(PG_URL)
    try:
        with eng.connect() as c:
            c.execute(text("SELECT 1"))
        return None
    except Exception as exc:
        return str(exc).splitlines()[0]
    finally:
        eng.dispose()


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--backend", choices=("sqlite", "postgresql", "both"), default="both")
    ap.add_argument("--clients", type=int, default=32)
    ap.add_argument("--workers", type=int, default=2, help="server worker processes")
    ap.add_argument("--seconds", type=float, default=10.0, help="measured seconds per phase")
    ap.add_argument("--patients", type=int, default=1000)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument(
        "--http",
        choices=tuple(CLIENTS),
        default="raw",
        help="load generator's HTTP client: a minimal raw HTTP/1.1 client (default) or "
        "httpx.AsyncClient, which uses much more CPU per request",
    )
    ap.add_argument(
        "--hosts",
        type=int,
        default=1,
        help="also run the mixed phase on this many raad processes on different ports (the "
        "clients split between them), each with --workers/--hosts workers",
    )
    ap.add_argument("--quick", action="store_true", help="smoke run: 4 clients, 2 s per phase")
    args = ap.parse_args(argv)
    if args.quick:
        args.clients, args.seconds = 4, 2.0
    backends = ["sqlite", "postgresql"] if args.backend == "both" else [args.backend]
    print(
        f"raad API load bench: {args.clients} clients, {args.seconds:g} s per phase, "
        f"{args.patients} patients, {args.workers} server workers, client {args.http}; "
        f"{datetime.now(UTC):%Y-%m-%d %H:%M} UTC; python {sys.version.split()[0]}, "
        f"{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.2f} at start"
    )
    print(
        "caveat: the load generator runs on the same machine as the server and competes with "
        "it for the CPU; latencies are measured in the client."
    )
    for backend in backends:
        if backend == "postgresql":
            why = pg_reachable()
            if why is not None:
                print(f"\n[postgresql] skipped: not reachable at {PG_URL}: {why}")
                continue
        bench_backend(backend, args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
