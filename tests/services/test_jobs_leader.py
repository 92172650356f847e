"""Scheduled jobs run once across hosts (issue 23): two processes run ``jobs.start`` on the
same database for a few seconds; every round is run by one of them only (the PostgreSQL
advisory lock, or the file lock beside a SQLite database), and when that process stops the
other takes over."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import time

SCRIPT = textwrap.dedent(
    """
    import os, sys, time
    from raad.services import jobs
    from raad.store import Database

    url, out, seconds = sys.argv[1], sys.argv[2], float(sys.argv[3])

    def round_(*args, **kw):
        with open(out, "a") as f:
            f.write(f"{os.getpid()}\\n")
        return {}

    jobs.run_once = round_
    scheduler = jobs.start(Database(url), {}, None, interval=1)
    time.sleep(seconds)
    scheduler.shutdown(wait=True)
    with open(out, "a") as f:
        f.write(f"stop-{os.getpid()}\\n")  # before the lock is let go
    scheduler.raad_leader.release()
    """
)


def _spawn(url: str, out, seconds: float) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-c", SCRIPT, url, str(out), str(seconds)])


def test_one_process_runs_the_rounds_and_the_other_takes_over(database, tmp_path):
    out = tmp_path / "rounds.txt"
    first = _spawn(database.url, out, 8.0)
    deadline = time.monotonic() + 60
    while not (out.exists() and out.read_text().strip()):  # the first leads a round
        assert time.monotonic() < deadline and first.poll() is None, "the first never ran"
        time.sleep(0.05)
    second = _spawn(database.url, out, 14.0)
    assert first.wait(timeout=60) == 0
    assert second.wait(timeout=60) == 0
    lines = out.read_text().split()
    stop = lines.index(f"stop-{first.pid}")
    during, after = lines[:stop], [x for x in lines[stop + 1 :] if not x.startswith("stop-")]
    assert len(during) >= 2, lines  # rounds ran while both were up
    assert set(during) == {str(first.pid)}, lines  # only the first (the leader) ran them
    assert after and set(after) == {str(second.pid)}, lines  # the other took over
