"""Server time of the web pages a clinic uses most, as the registry grows: the patient list,
a patient page and the cohort page at 100, 1,000 and 10,000 synthetic patients, beside the
app's own no-op ``GET /ping`` in the same run.

Run: ``.venv/bin/python bench/web_pages.py [--sizes 100,1000,10000] [--repeat 15]``

For each size a fresh SQLite database is migrated and filled with Core inserts (fast, and
the same rows the services write): one site and clinician, and per patient an identity, an
N2O course (``n2o-50-twice-weekly``) and three MADRS ratings around its start. The app runs
in-process (Starlette's TestClient, no network), logged in through the web login form. Each
page is fetched once (its cold time is printed: for the cohort page, the computation later
requests are served from until a course or rating changes), then ``--repeat`` times, and the
cohort page ``--repeat`` times more, each right after one new rating is stored; the median and p90 of the server
time are printed (``time.perf_counter`` around the request, the TestClient's own overhead
included, as it is for ``/ping``). The last line is the ratio of the cohort page's median at
the largest size to ``/ping``'s, and whether the target (cohort page under 300 ms at 10,000
patients) was met.
"""

from __future__ import annotations

import argparse
import itertools
import re
import secrets
import statistics
import tempfile
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

from rich.console import Console
from rich.progress import Progress
from rich.table import Table

console = Console()
PASSWORD = "correct horse battery staple"


def _fill(url: str, n: int) -> None:
    from raad.clinical.protocols import plan_course
    from raad.knowledge.treatment import knowledge_version
    from raad.services import auth
    from raad.store import Database
    from raad.store.core import table
    from raad.store.migrate import upgrade
    from raad.store.models import Assessment, Course, Patient, PatientIdentity

    db = Database(url)
    upgrade(db)
    with db.transaction() as s:
        site = auth.get_or_create_site(s, "BENCH", "Bench clinic (synthetic)")
        user = auth.create_user(s, "bench.nurse", PASSWORD, "clinician", "BENCH")
        site_id, user_id = site.id, user.id
    plan = plan_course("n2o-50-twice-weekly", date(2026, 1, 5)).to_dict()
    now = datetime.now(UTC)
    patients, identities, courses, ratings = [], [], [], []
    for i in range(1, n + 1):
        patients.append(
            {
                "id": i,
                "research_id": f"B{i:07d}",
                "site_id": site_id,
                "sex": "female",
                "birth_year": 1970 + i % 30,
                "date_shift_days": -(1 + i % 300),
                "facts": {},
                "version": 1,
                "created_at": now,
                "updated_at": now,
                "created_by": user_id,
            }
        )
        identities.append(
            {
                "patient_id": i,
                "given_name": "Bench",
                "family_name": f"Synthetic-{i:05d}",
                "mrn": f"B-{i}",
                "site_id": site_id,
            }
        )
        courses.append(
            {
                "id": i,
                "patient_id": i,
                "regimen": "n2o-50-twice-weekly",
                "agent": "n2o",
                "start_date": date(2026, 1, 5),
                "plan": plan,
                "status": "active",
                "knowledge_version": knowledge_version(),
                "version": 1,
                "created_at": now,
                "created_by": user_id,
            }
        )
        for k, total in enumerate((30, 20 - i % 7, 10 - i % 5)):
            items = {str(j): 0 for j in range(1, 11)}
            for t in range(total):
                items[str(1 + t % 10)] += 1
            ratings.append(
                {
                    "patient_id": i,
                    "instrument": "MADRS",
                    "responses": items,
                    "total": float(total),
                    "severity": None,
                    "suicide_flag": False,
                    "administered_at": datetime(2026, 1, 4, 9, tzinfo=UTC) + timedelta(weeks=k),
                    "created_at": now,
                    "created_by": user_id,
                }
            )
    with db.engine.begin() as conn:
        for model, rows in (
            (Patient, patients),
            (PatientIdentity, identities),
            (Course, courses),
            (Assessment, ratings),
        ):
            conn.execute(table(model).insert(), rows)
    db.dispose()


def _client(url: str):
    from fastapi.testclient import TestClient

    from raad.api import create_app
    from raad.store import Database

    c = TestClient(create_app(Database(url)), raise_server_exceptions=False)
    page = c.get("/ui/login")
    token = re.search(r'name="login_csrf" value="([^"]+)"', page.text).group(1)
    r = c.post(
        "/ui/login",
        data={"username": "bench.nurse", "password": PASSWORD, "login_csrf": token},
        follow_redirects=False,
    )
    assert r.status_code == 303, r.text
    return c


def _time(client, path: str, repeat: int) -> tuple[float, float, float]:
    """(median, p90, first) in ms; the first request is the cold one (for the cohort page: the
    computation the later ones are served from until a course or rating changes)."""
    t0 = time.perf_counter()
    r = client.get(path)
    first = (time.perf_counter() - t0) * 1000
    assert r.status_code == 200, (path, r.status_code, r.text[:200])
    samples = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        r = client.get(path)
        samples.append(time.perf_counter() - t0)
        assert r.status_code == 200
    samples.sort()
    return (
        statistics.median(samples) * 1000,
        samples[int(0.9 * (len(samples) - 1))] * 1000,
        first,
    )


def _time_after_writes(client, url: str, n: int, repeat: int) -> tuple[float, float]:
    """(median, p90) in ms of the cohort page right after one new rating is stored (a Core
    insert of the row the services write, for a random patient): what a clinic sees while
    ratings keep arriving, when nothing can be served unchanged."""
    import random

    from raad.store import Database
    from raad.store.core import table
    from raad.store.models import Assessment

    db = Database(url)
    rng = random.Random(7)
    samples = []
    for k in range(repeat):
        row = {
            "patient_id": rng.randint(1, n),
            "instrument": "MADRS",
            "responses": {str(i): 1 for i in range(1, 11)},
            "total": 10.0,
            "severity": None,
            "suicide_flag": False,
            "administered_at": datetime(2026, 3, 1, 9, tzinfo=UTC) + timedelta(hours=k),
            "created_at": datetime.now(UTC),
            "created_by": 1,
        }
        with db.engine.begin() as conn:
            conn.execute(table(Assessment).insert(), [row])
        t0 = time.perf_counter()
        r = client.get("/ui/cohort")
        samples.append(time.perf_counter() - t0)
        assert r.status_code == 200
    db.dispose()
    samples.sort()
    return statistics.median(samples) * 1000, samples[int(0.9 * (len(samples) - 1))] * 1000


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--sizes", default="100,1000,10000")
    ap.add_argument("--repeat", type=int, default=15)
    args = ap.parse_args()
    sizes = [int(x) for x in args.sizes.split(",")]
    table_ = Table("patients", "page", "median ms", "p90 ms", "first (cold) ms")
    cohort_at: dict[int, float] = {}
    written_at: dict[int, float] = {}
    ping_at: dict[int, float] = {}
    with tempfile.TemporaryDirectory() as tmp, Progress(console=console) as progress:
        task = progress.add_task("sizes", total=len(sizes))
        for n in sizes:
            url = f"sqlite:///{Path(tmp) / f'bench-{n}-{secrets.token_hex(3)}.db'}"
            progress.update(task, description=f"filling {n} patients")
            _fill(url, n)
            client = _client(url)
            progress.update(task, description=f"timing pages at {n} patients")
            for label, path in (
                ("ping", "/ping"),
                ("patient list", "/ui/patients"),
                ("patient page", "/ui/patients/1"),
                ("cohort", "/ui/cohort"),
            ):
                med, p90, first = _time(client, path, args.repeat)
                table_.add_row(str(n), label, f"{med:.1f}", f"{p90:.1f}", f"{first:.1f}")
                if label == "cohort":
                    cohort_at[n] = med
                if label == "ping":
                    ping_at[n] = med
            med, p90 = _time_after_writes(client, url, n, args.repeat)
            written_at[n] = med
            table_.add_row(str(n), "cohort after a new rating", f"{med:.1f}", f"{p90:.1f}", "")
            client.close()
            progress.advance(task)
    console.print(table_)
    big = max(sizes)
    for a, b in itertools.pairwise(sizes):
        growth = cohort_at[b] / cohort_at[a]
        console.print(
            f"cohort page {a} -> {b} patients: x{growth:.2f} for x{b / a:g} patients "
            f"({'not faster than linear' if growth <= b / a else 'FASTER than linear'})"
        )
    for a, b in itertools.pairwise(sizes):
        growth = written_at[b] / written_at[a]
        console.print(
            f"cohort page after a new rating {a} -> {b} patients: x{growth:.2f} for x{b / a:g}"
            f" patients ({'not faster than linear' if growth <= b / a else 'FASTER than linear'})"
        )
    met = max(cohort_at[big], written_at[big]) < 300 if big >= 10_000 else None
    console.print(
        f"target (cohort page < 300 ms at 10,000 patients, unchanged and after a new rating): "
        f"{'met' if met else 'not met' if met is False else 'not measured (size < 10,000)'}"
    )
    console.print(
        f"ratio cohort/ping at {big} patients: {cohort_at[big] / ping_at[big]:.1f}"
        f" ({cohort_at[big]:.1f} ms / {ping_at[big]:.2f} ms)"
    )


if __name__ == "__main__":
    main()
