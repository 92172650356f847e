"""Real server processes for the tests that need one (crash, workers, browser)."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time

import httpx

UVICORN = ("-m", "uvicorn", "raad.api.server:app", "--port", "{port}", "--log-level", "warning")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def raad_serve(workers: int) -> tuple[str, ...]:
    return ("-m", "raad", "serve", "--port", "{port}", "--workers", str(workers))


def start_server(
    db_url: str, args: tuple[str, ...] = UVICORN, quiet: bool = True, timeout: float = 60
) -> tuple[subprocess.Popen, str]:
    """``python <args>`` (``{port}`` filled in) on ``db_url``; returns the process and its base
    URL once ``/health`` answers, or kills it and fails."""
    port = free_port()
    out = subprocess.DEVNULL if quiet else None
    proc = subprocess.Popen(
        [sys.executable, *(a.format(port=port) for a in args)],
        env={**os.environ, "RAAD_DATABASE_URL": db_url},
        stdout=out,
        stderr=out,
    )
    base = f"http://127.0.0.1:{port}"
    deadline = time.time() + timeout
    while True:
        try:
            if httpx.get(f"{base}/health", timeout=1).status_code == 200:
                return proc, base
        except httpx.HTTPError:
            pass
        if proc.poll() is not None or time.time() > deadline:
            proc.kill()
            raise AssertionError("server did not start")
        time.sleep(0.1)
