"""Serving with several worker processes, each on its own ``SO_REUSEPORT`` socket.

With one shared listening socket (``uvicorn --workers``), whichever process is waiting in
``accept`` takes the next connection, so a burst of keep-alive connections can all land on one
worker while the others idle. Each worker here binds its own socket to the same address with
``SO_REUSEPORT``, and the kernel spreads connections across the sockets by a hash of the
connection's addresses (Linux, see socket(7)). The parent restarts a worker that dies and
stops them all on SIGINT or SIGTERM (each finishes its open requests: uvicorn's graceful
shutdown).
"""

from __future__ import annotations

import multiprocessing
import signal
import socket
import time
from typing import Any

APP = "raad.api.server:app"
RESTART_PAUSE_S = 1.0  # between restarts of a worker that keeps dying


def reuse_port_socket(host: str, port: int) -> socket.socket:
    """A listening TCP socket on ``host:port`` that other processes may bind too."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    sock.bind((host, port))
    sock.listen(2048)
    return sock


def _worker(host: str, port: int, log_level: str) -> None:  # pragma: no cover - child process
    import uvicorn

    sock = reuse_port_socket(host, port)
    server = uvicorn.Server(uvicorn.Config(APP, host=host, port=port, log_level=log_level))
    server.run(sockets=[sock])


def serve(host: str, port: int, workers: int, log_level: str = "warning") -> None:
    """Run ``workers`` processes of the app on ``host:port`` until SIGINT or SIGTERM."""
    if not hasattr(socket, "SO_REUSEPORT"):
        raise RuntimeError("several workers need SO_REUSEPORT (Linux, BSD, macOS)")
    reuse_port_socket(host, port).close()  # fail here, not in every child, if the port is taken
    ctx = multiprocessing.get_context("spawn")
    stopping = False

    def start() -> Any:
        p = ctx.Process(target=_worker, args=(host, port, log_level), daemon=False)
        p.start()
        return p

    def stop(_signum: int, _frame: Any) -> None:
        nonlocal stopping
        stopping = True
        for p in procs:
            if p.is_alive():
                p.terminate()  # SIGTERM: uvicorn shuts down gracefully

    procs = [start() for _ in range(workers)]
    previous = {s: signal.signal(s, stop) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        while not stopping:
            for i, p in enumerate(procs):
                if not p.is_alive() and not stopping:
                    time.sleep(RESTART_PAUSE_S)
                    procs[i] = start()
            time.sleep(0.2)
        for p in procs:
            p.join()
    finally:
        for s, h in previous.items():
            signal.signal(s, h)
