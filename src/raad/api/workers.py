"""Serving with several worker processes, each on its own ``SO_REUSEPORT`` socket.

With one shared listening socket (``uvicorn --workers``), whichever process is waiting in
``accept`` takes the next connection, so a burst of keep-alive connections can all land on one
worker while the others idle. Each worker here binds its own socket to the same address with
``SO_REUSEPORT``, and the kernel spreads connections across the sockets by a hash of the
connection's addresses (Linux, see socket(7)).

The parent restarts a worker that dies and stops them all on SIGINT or SIGTERM (uvicorn's
graceful shutdown: open requests finish, up to ``GRACEFUL_S``; a worker still alive after that
is killed). A worker whose parent disappears stops itself, so no worker is left serving alone.
"""

from __future__ import annotations

import multiprocessing
import os
import signal
import socket
import threading
import time
from typing import Any

APP = "raad.api.server:app"
RESTART_PAUSE_S = 1.0  # between restarts of a worker that keeps dying
GRACEFUL_S = 30  # how long a stopping worker may take to finish its open requests
PARENT_CHECK_S = 1.0  # how often a worker checks that its parent is alive


def reuse_port_socket(host: str, port: int) -> socket.socket:
    """A listening TCP socket on ``host:port`` that other processes may bind too."""
    sock = socket.socket(_family(host), socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    sock.bind((host, port))
    sock.listen(2048)
    return sock


def _family(host: str) -> socket.AddressFamily:
    return socket.AF_INET6 if ":" in host else socket.AF_INET


def check_port_free(host: str, port: int) -> None:
    """Raise ``OSError`` (address in use) if anything listens on ``host:port``, including
    another server's ``SO_REUSEPORT`` sockets, which a reuse-port bind would silently join."""
    with socket.socket(_family(host), socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # ignores TIME_WAIT only
        probe.bind((host, port))


def _watch_parent(parent: int) -> None:  # pragma: no cover - child process
    while True:
        time.sleep(PARENT_CHECK_S)
        if os.getppid() != parent:  # re-parented: the server's main process is gone
            os.kill(os.getpid(), signal.SIGTERM)
            return


def _worker(
    host: str, port: int, log_level: str, parent: int, forwarded_allow_ips: str | None = None
) -> None:  # pragma: no cover
    import uvicorn

    threading.Thread(target=_watch_parent, args=(parent,), daemon=True).start()
    sock = reuse_port_socket(host, port)
    config = uvicorn.Config(
        APP,
        host=host,
        port=port,
        log_level=log_level,
        timeout_graceful_shutdown=GRACEFUL_S,
        proxy_headers=True,
        forwarded_allow_ips=forwarded_allow_ips,
    )
    uvicorn.Server(config).run(sockets=[sock])


def serve(
    host: str,
    port: int,
    workers: int,
    log_level: str = "warning",
    forwarded_allow_ips: str | None = None,
) -> None:
    """Run ``workers`` processes of the app on ``host:port`` until SIGINT or SIGTERM;
    ``forwarded_allow_ips``: the proxies whose X-Forwarded-For/-Proto are believed (uvicorn's
    setting; default its own, 127.0.0.1 or FORWARDED_ALLOW_IPS)."""
    if not hasattr(socket, "SO_REUSEPORT"):
        raise RuntimeError("several workers need SO_REUSEPORT (Linux, BSD, macOS)")
    check_port_free(host, port)
    ctx = multiprocessing.get_context("spawn")
    stopping = threading.Event()
    procs: list[Any] = []

    def start() -> Any:
        p = ctx.Process(
            target=_worker, args=(host, port, log_level, os.getpid(), forwarded_allow_ips)
        )
        p.start()
        return p

    def stop(_signum: int, _frame: Any) -> None:
        stopping.set()

    previous = {s: signal.signal(s, stop) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        procs.extend(start() for _ in range(workers))
        while not stopping.is_set():
            for i, p in enumerate(procs):
                if not p.is_alive() and not stopping.wait(RESTART_PAUSE_S):
                    procs[i] = start()
            stopping.wait(0.2)
    finally:
        for p in procs:
            if p.is_alive():
                p.terminate()  # SIGTERM: uvicorn shuts down gracefully
        deadline = time.monotonic() + GRACEFUL_S + 5
        for p in procs:
            p.join(max(0.0, deadline - time.monotonic()))
            if p.is_alive():
                p.kill()
                p.join()
        for s, h in previous.items():
            signal.signal(s, h)
