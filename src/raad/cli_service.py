"""Service commands of the ``raad`` CLI: ``db upgrade|backup|restore``, ``serve``, ``user add|list|disable|
enable|unlock|set-password|set-role``.

Imports of the web stack happen inside the commands so the analysis commands start fast.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape

console = Console()
err = Console(stderr=True)

db_app = typer.Typer(
    help="The registry database (RAAD_DATABASE_URL, default sqlite:///raad.db).",
    no_args_is_help=True,
)
user_app = typer.Typer(help="Users of the registry service.", no_args_is_help=True)
site_app = typer.Typer(help="Sites (clinics) of the registry service.", no_args_is_help=True)
jobs_app = typer.Typer(
    help="Scheduled work: self-report links as they fall due, reminders, the outbox.",
    no_args_is_help=True,
)
_URL = Annotated[str | None, typer.Option(help="Database URL (default: RAAD_DATABASE_URL).")]


def _fail(message: str) -> None:
    err.print(f"[bold red]error:[/] {escape(message)}", soft_wrap=True)
    raise typer.Exit(code=2)


@db_app.command("upgrade")
def db_upgrade(
    url: Annotated[
        str | None, typer.Option(help="Database URL (default: RAAD_DATABASE_URL).")
    ] = None,
) -> None:
    """Create or migrate the schema to the newest revision."""
    from raad.store import Database
    from raad.store.migrate import current_revision, upgrade

    db = Database(url)
    upgrade(db)
    console.print(f"database {db.dialect} at schema revision {current_revision(db)}", markup=False)


@db_app.command("backup")
def db_backup(
    target: Annotated[Path, typer.Argument(help="The backup file to write (never overwritten).")],
    url: _URL = None,
) -> None:
    """A consistent backup while raad runs: SQLite's online backup API (WAL included, checked
    with integrity_check), or pg_dump's custom format for PostgreSQL."""
    from raad.store import Database
    from raad.store.backup import BackupError, backup

    db = Database(url)
    try:
        out = backup(db, target)
    except BackupError as exc:
        _fail(str(exc))
        return
    console.print(
        f"backup of the {db.dialect} database written to {out} ({out.stat().st_size} bytes)",
        markup=False,
    )


@db_app.command("restore")
def db_restore(
    source: Annotated[Path, typer.Argument(help="A file written by raad db backup.")],
    url: _URL = None,
    yes: Annotated[
        bool, typer.Option("--yes", help="Replace the database without asking.")
    ] = False,
) -> None:
    """Replace the database with a backup (refused while raad serves it); every session and
    token is revoked afterwards and the restore is audited."""
    from raad.services.maintenance import after_restore
    from raad.store import Database
    from raad.store.backup import BackupError, restore

    db = Database(url)
    if not yes and not typer.confirm(f"Replace the {db.dialect} database with {source}?"):
        _fail("not restored")
    try:
        restore(db, source)
    except BackupError as exc:
        _fail(str(exc))
        return
    n = after_restore(db, source)
    console.print(
        f"restored from {source}; {n} session(s) and token(s) revoked: everyone logs in again",
        markup=False,
    )


@db_app.command("prune")
def db_prune(url: _URL = None) -> None:
    """Remove stored idempotent responses past their time to live and long-expired tokens (the
    audit trail is never pruned); run it daily (cron, a systemd timer)."""
    from raad.services.maintenance import prune
    from raad.store import Database

    with Database(url).transaction() as s:
        gone = prune(s)
    console.print(
        f"pruned {gone['idempotency_records']} idempotency record(s) and {gone['tokens']} token(s)",
        markup=False,
    )


@user_app.command("add")
def user_add(
    name: Annotated[str, typer.Argument(help="Username.")],
    role: Annotated[str, typer.Option(help="admin, clinician or researcher.")],
    site: Annotated[str | None, typer.Option(help="Site code (required for clinicians).")] = None,
    full_name: Annotated[
        str | None, typer.Option(help="The printed name on the user's e-signatures.")
    ] = None,
    url: Annotated[
        str | None, typer.Option(help="Database URL (default: RAAD_DATABASE_URL).")
    ] = None,
) -> None:
    """Create a user; the password is read from standard input (no default password exists)."""
    from raad.services import ServiceError, auth
    from raad.store import Database
    from raad.store.migrate import upgrade

    password = _read_password()
    db = Database(url)
    upgrade(db)
    try:
        with db.transaction() as s:
            u = auth.create_user(s, name, password, role, site, full_name=full_name)
            uid = u.id
    except ServiceError as exc:
        _fail(exc.message)
    console.print(
        f"user {name} ({role}{', site ' + site if site else ''}) created with id {uid}",
        markup=False,
    )


def _read_password(prompt: str = "password: ") -> str:
    if sys.stdin.isatty():
        import getpass

        return getpass.getpass(prompt)
    return sys.stdin.readline().rstrip("\n")


def _update_user(url: str | None, name: str, **change) -> dict:
    from raad.services import ServiceError, auth
    from raad.store import Database

    db = Database(url)
    try:
        with db.transaction() as s:
            return auth.update_user(s, None, name, **change)
    except ServiceError as exc:
        _fail(exc.message)
        raise  # unreachable: _fail exits


@user_app.command("list")
def user_list(url: _URL = None) -> None:
    """Every user with role, site, whether active and whether locked."""
    from rich.table import Table

    from raad.services import auth
    from raad.store import Database

    with Database(url).transaction(write=False) as s:
        users = auth.list_users(s, None)
    table = Table(
        "username", "full name", "role", "site", "active", "locked until", "failed logins"
    )
    for u in users:
        table.add_row(
            u["username"],
            u["full_name"] or "",
            u["role"],
            u["site"] or "",
            "yes" if u["active"] else "NO",
            u["locked_until"] or "",
            str(u["failed_logins"]),
        )
    console.print(table)


@user_app.command("disable")
def user_disable(name: Annotated[str, typer.Argument(help="Username.")], url: _URL = None) -> None:
    """Disable an account (its sessions end; nothing it recorded is removed)."""
    _update_user(url, name, active=False)
    console.print(f"user {name} disabled; its sessions have ended", markup=False)


@user_app.command("enable")
def user_enable(name: Annotated[str, typer.Argument(help="Username.")], url: _URL = None) -> None:
    """Enable a disabled account."""
    _update_user(url, name, active=True)
    console.print(f"user {name} enabled", markup=False)


@user_app.command("unlock")
def user_unlock(name: Annotated[str, typer.Argument(help="Username.")], url: _URL = None) -> None:
    """Lift a lock-out after failed logins."""
    _update_user(url, name, unlock=True)
    console.print(f"user {name} unlocked", markup=False)


@user_app.command("set-password")
def user_set_password(
    name: Annotated[str, typer.Argument(help="Username.")], url: _URL = None
) -> None:
    """Set a new password, read from standard input (the user's sessions end)."""
    _update_user(url, name, password=_read_password("new password: "))
    console.print(f"password of {name} set; its sessions have ended", markup=False)


@user_app.command("mfa-enrol")
def user_mfa_enrol(
    name: Annotated[str, typer.Argument(help="Username.")], url: _URL = None
) -> None:
    """Turn two-factor on for a user now and print the key to give them (admins need it to log
    in); the user's sessions end."""
    from raad.services import ServiceError, auth
    from raad.store import Database

    try:
        with Database(url).transaction() as s:
            out = auth.mfa_admin(s, None, name, enrol=True)
    except ServiceError as exc:
        _fail(exc.message)
        return
    console.print(
        f"two-factor is on for {out['username']}; give them this key (shown once):", markup=False
    )
    console.print(f"  key: {out['secret']}", markup=False)
    console.print(f"  or as a link for an authenticator app: {out['uri']}", markup=False)


@user_app.command("mfa-reset")
def user_mfa_reset(
    name: Annotated[str, typer.Argument(help="Username.")], url: _URL = None
) -> None:
    """Turn two-factor off for a user (a lost phone); enrol them again afterwards."""
    from raad.services import ServiceError, auth
    from raad.store import Database

    try:
        with Database(url).transaction() as s:
            auth.mfa_admin(s, None, name, enrol=False)
    except ServiceError as exc:
        _fail(exc.message)
        return
    console.print(f"two-factor is off for {name}", markup=False)


@user_app.command("set-name")
def user_set_name(
    name: Annotated[str, typer.Argument(help="Username.")],
    full_name: Annotated[str, typer.Argument(help="The printed name on e-signatures.")],
    url: _URL = None,
) -> None:
    """Set the printed name a user's electronic signatures carry."""
    u = _update_user(url, name, full_name=full_name)
    console.print(f"user {name} signs as {u['full_name']}", markup=False)


@site_app.command("time-zone")
def site_time_zone(
    code: Annotated[str, typer.Argument(help="Site code.")],
    zone: Annotated[str, typer.Argument(help="IANA time zone, e.g. Europe/London.")],
    url: _URL = None,
) -> None:
    """Set the time zone a site's times are shown and typed in (they are stored in UTC)."""
    from raad.services import ServiceError, auth
    from raad.store import Database

    try:
        with Database(url).transaction() as s:
            out = auth.set_time_zone(s, None, code, zone)
    except ServiceError as exc:
        _fail(exc.message)
        return
    console.print(f"site {out['code']} shows times in {out['time_zone']}", markup=False)


@user_app.command("set-role")
def user_set_role(
    name: Annotated[str, typer.Argument(help="Username.")],
    role: Annotated[str, typer.Argument(help="admin, clinician or researcher.")],
    site: Annotated[str | None, typer.Option(help="Site code (clinicians need one).")] = None,
    url: _URL = None,
) -> None:
    """Change a user's role (and site); the user's sessions end."""
    u = _update_user(url, name, role=role, site_code=site)
    console.print(
        f"user {name} is now {u['role']}" + (f" at {u['site']}" if u["site"] else ""), markup=False
    )


def _upgrade_or_read_only(db) -> bool:
    """Migrate the schema; on a read-only database at the newest schema say so and serve
    reads (every change answers 503), and on one that needs migrating stop with one line.
    Returns whether the database is read-only."""
    from sqlalchemy.exc import OperationalError

    from raad.store.migrate import current_revision, head_revision, upgrade
    from raad.store.probe import write_problem

    try:
        upgrade(db)
        if write_problem(db) is None:
            return False
    except OperationalError as exc:
        text = str(exc.orig if exc.orig is not None else exc).lower()
        if "readonly" not in text and "read-only" not in text:
            _fail(f"the database cannot be opened or migrated: {str(exc.orig or exc)[:300]}")
    at, head = current_revision(db), head_revision(db)
    if at != head:
        _fail(
            f"the database is read-only and its schema is at {at or 'nothing'}, not {head}: "
            "make it writable once so raad can migrate it, then start again"
        )
    err.print(
        "warning: the database is read-only: raad serves reads, and every change answers "
        "503 until it is writable again (GET /health says so)",
        soft_wrap=True,
        markup=False,
    )
    return True


@jobs_app.command("run")
def jobs_run() -> None:
    """One round of the scheduled work (for cron), when no other process is doing it: make the
    self-report links that fell due, queue reminders, and send the outbox (SMTP and SMS from
    RAAD_SMTP_* and RAAD_SMS_*, links to RAAD_PUBLIC_URL)."""
    import os

    from raad.interop.messaging import senders_from_env
    from raad.services import jobs
    from raad.store import Database

    db = Database()
    leader = jobs.Leader(db)
    if not leader.acquire():
        console.print("another process is running the jobs; nothing done", markup=False)
        return
    try:
        senders = senders_from_env()
        base = os.environ.get("RAAD_PUBLIC_URL")
        if not base:
            console.print(
                "RAAD_PUBLIC_URL is not set: links are made but no message is queued",
                markup=False,
            )
        for channel in sorted({"email", "sms"} - set(senders)):
            console.print(
                f"no {channel} sender configured: patients who chose {channel} get no message "
                "(links are still made)",
                markup=False,
            )
        done = jobs.run_once(db, senders, base)
    finally:
        leader.release()
        db.dispose()
    console.print(", ".join(f"{k} {v}" for k, v in done.items()), markup=False)


@jobs_app.command("status")
def jobs_status() -> None:
    """The outbox by state, and the messages that failed or whose fate is unknown (no
    addresses or texts are printed)."""
    from raad.services import outbox
    from raad.store import Database

    db = Database()
    with db.transaction(write=False) as s:
        counts = outbox.summary(s)
        bad = outbox.failed(s)
    db.dispose()
    console.print(
        "outbox: " + (", ".join(f"{k} {v}" for k, v in sorted(counts.items())) or "empty"),
        markup=False,
    )
    for m in bad:
        console.print(
            f"  #{m['id']} {m['status']} {m['kind']} by {m['channel']} (link {m['link_id']}, "
            f"{m['attempts']} attempts): {m['last_error']}",
            markup=False,
        )
    if bad:
        console.print("send one again with: raad jobs resend <id>", markup=False)


@jobs_app.command("resend")
def jobs_resend(
    message_id: Annotated[int, typer.Argument(help="The message's id (raad jobs status).")],
) -> None:
    """Send again, with a fresh link token, a message that failed or whose fate is unknown
    (after a crash mid-send an e-mail may have gone out: check with the patient first)."""
    import os

    from raad.services import ServiceError, schedules
    from raad.store import Database

    db = Database()
    try:
        with db.transaction() as s:
            out = schedules.resend(s, message_id, os.environ.get("RAAD_PUBLIC_URL"))
    except ServiceError as exc:
        _fail(exc.message)
    finally:
        db.dispose()
    console.print(f"message {out['resent']} queued again for link {out['link_id']}", markup=False)


def serve(
    host: Annotated[str, typer.Option(help="Interface to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port.")] = 8000,
    demo: Annotated[
        bool, typer.Option(help="Create clearly synthetic demo patients and users on first run.")
    ] = False,
    workers: Annotated[
        int,
        typer.Option(
            min=1,
            help="Worker processes, each with its own SO_REUSEPORT socket (SQLite and PostgreSQL).",
        ),
    ] = 1,
    jobs: Annotated[
        bool,
        typer.Option(
            help="Run the scheduled work (self-report links, reminders, the outbox) every "
            "minute while this process leads (one leader among all processes).",
        ),
    ] = True,
    forwarded_allow_ips: Annotated[
        str | None,
        typer.Option(
            help="Behind a reverse proxy: the proxies' addresses (comma-separated, or *) whose "
            "X-Forwarded-For and X-Forwarded-Proto are believed (the client's address for the "
            "audit trail and rate limits, https for cookies). Default: FORWARDED_ALLOW_IPS, "
            "else 127.0.0.1.",
        ),
    ] = None,
) -> None:
    """Upgrade the database and serve the API (OpenAPI at /docs)."""
    import uvicorn

    from raad.services import demo as demo_data
    from raad.store import Database
    from raad.store.backup import serving_marker

    db = Database()
    read_only = _upgrade_or_read_only(db)
    if demo and read_only:
        _fail("--demo needs a writable database (the demo data is written at first start)")
    if demo:
        with db.transaction() as s:
            passwords = demo_data.seed(s)
        if passwords:
            console.print(
                "Demo users created (synthetic data; passwords shown once):", markup=False
            )
            for user, pw in passwords.items():
                console.print(f"  {user}  {pw}", markup=False)
        else:
            console.print(
                "Demo data already present (passwords were shown when it was created).",
                markup=False,
            )
    if not read_only:
        from raad.services import living

        with db.transaction() as s:
            update = living.refresh(s)
        if update is not None and not update["first_version"]:
            console.print(
                f"trial base changed: {len(update['changes'])} pooled answer(s) moved "
                "(raad evidence living)",
                markup=False,
            )
    db.dispose()
    console.print(
        f"raad on http://{host}:{port}  (API documentation: /docs; database {db.dialect})",
        markup=False,
    )
    console.print("raad supports clinical judgement and never replaces it.", markup=False)
    scheduler = None
    if jobs and not read_only:
        import os

        from raad.interop.messaging import senders_from_env
        from raad.services import jobs as job_runner

        scheduler = job_runner.start(
            Database(), senders_from_env(), os.environ.get("RAAD_PUBLIC_URL")
        )
    with serving_marker(db):  # a restore refuses while this is held
        if workers > 1:
            from raad.api.workers import serve as serve_workers

            serve_workers(host, port, workers, forwarded_allow_ips=forwarded_allow_ips)
        else:
            from raad.api.server import app

            uvicorn.run(
                app,
                host=host,
                port=port,
                log_level="warning",
                proxy_headers=True,
                forwarded_allow_ips=forwarded_allow_ips,
            )
    if scheduler is not None:
        scheduler.shutdown(wait=False)
        scheduler.raad_leader.release()


def export(
    out: Annotated[Path, typer.Option(help="Directory for the files.")] = Path("raad-export"),
    fmt: Annotated[str, typer.Option("--format", help="csv or parquet")] = "csv",
    url: Annotated[
        str | None, typer.Option(help="Database URL (default: RAAD_DATABASE_URL).")
    ] = None,
    fhir_ndjson: Annotated[
        Path | None,
        typer.Option(
            "--fhir-ndjson",
            help="Instead of the tables: the FHIR Bulk Data NDJSON files (what GET /fhir/$export "
            "serves) in this directory; needs --user.",
        ),
    ] = None,
    user: Annotated[
        str | None,
        typer.Option(help="With --fhir-ndjson: the admin or researcher account it runs as."),
    ] = None,
) -> None:
    """De-identified research export: assessments and sessions (CSV or Parquet) and a data dictionary."""
    import pandas as pd

    from raad.services import export as ex
    from raad.store import Database

    if fhir_ndjson is not None:
        _fhir_ndjson(fhir_ndjson, user, url)
        return
    if fmt not in ("csv", "parquet"):
        _fail(f"--format: got {fmt!r}; allowed: csv, parquet")
    db = Database(url)
    with db.transaction(write=False, replica=True) as s:
        tables = ex.cohort(s, None, audited=False)
    with db.transaction() as s:
        ex.record_export(s, None, tables)
    out.mkdir(parents=True, exist_ok=True)
    for name, rows in tables.items():
        frame = pd.DataFrame(rows, columns=ex.columns(rows) or list(ex.DICTIONARY[name]))
        target = out / f"{name}.{fmt}"
        if fmt == "csv":
            frame.to_csv(target, index=False)
        else:
            ex.to_parquet(frame, target)
        console.print(f"{target}: {len(rows)} rows", markup=False)
    dictionary = [
        {"table": t, "column": c, "description": d}
        for t, cols in ex.DICTIONARY.items()
        for c, d in cols.items()
    ]
    pd.DataFrame(dictionary).to_csv(out / "data_dictionary.csv", index=False)
    console.print(
        f"{out / 'data_dictionary.csv'}: {len(dictionary)} columns described", markup=False
    )


def _fhir_ndjson(out: Path, username: str | None, url: str | None) -> None:
    """The bulk export run here, as ``username``: its files written to ``out`` (one
    ``<type>.<seq>.ndjson`` per file), then released from the database."""
    from raad.services import ServiceError, bulk_export
    from raad.store import Database

    if not username:
        _fail("--user: needed with --fhir-ndjson (an admin or researcher account)")
    db = Database(url)
    try:
        with db.transaction() as s:
            actor = bulk_export.actor_for(s, username)
            export_id = bulk_export.kick_off(s, actor, "raad export --fhir-ndjson", None, None)
        ended = bulk_export.run(db, export_id)
        with db.transaction() as s:
            state = bulk_export.status(s, actor, export_id)
            if ended != "completed" or state["status"] != "completed":
                _fail(f"the export {ended}: {state['error'] or state['status']}")
            parts = bulk_export.files(s, actor, export_id)
            bulk_export.cancel(s, actor, export_id)  # on disk now: the database copy goes
    except ServiceError as exc:
        _fail(exc.message)
    finally:
        db.dispose()
    out.mkdir(parents=True, exist_ok=True)
    for kind, seq, text in parts:
        target = out / f"{kind}.{seq}.ndjson"
        target.write_text(text, encoding="utf-8")
        console.print(f"{target}: {text.count(chr(10))} resources", markup=False)
    console.print(f"transactionTime {state['transaction_time'].isoformat()}", markup=False)


audit_app = typer.Typer(help="The audit trail.", no_args_is_help=True)


@audit_app.command("verify")
def audit_verify(url: _URL = None) -> None:
    """Recompute the audit trail's hash chain: exit 0 when every row follows the one before and
    matches its hash, 1 with each break listed. Prints the head hash: note it elsewhere, since
    removing the newest rows shows only against a head noted before."""
    from raad.services import audit
    from raad.store import Database

    with Database(url).transaction(write=False) as s:
        check = audit.verify(s)
    console.print(
        f"{check.rows} audit rows read; {check.rows - check.unchained} in the chain"
        + (f" ({check.unchained} older rows written before it began)" if check.unchained else "")
        + f"; head {check.head or '(none)'}",
        markup=False,
    )
    for problem in check.problems:
        err.print(f"[bold red]broken:[/] {escape(problem)}", soft_wrap=True)
    if not check.ok:
        raise typer.Exit(code=1)
    console.print("the chain is whole", markup=False)


cds_app = typer.Typer(
    help="CDS Hooks: the EHRs trusted to call raad's CDS services with signed JWTs.",
    no_args_is_help=True,
)


@cds_app.command("trust")
def cds_trust_cmd(
    issuer: Annotated[str, typer.Argument(help="The EHR's JWT issuer (iss).")],
    jwks_url: Annotated[str, typer.Option(help="Where the EHR's public keys are (https).")],
    user: Annotated[str, typer.Option(help="The raad account its calls act as.")],
    url: Annotated[
        str | None, typer.Option(help="Database URL (default: RAAD_DATABASE_URL).")
    ] = None,
) -> None:
    """Trust an EHR's signed CDS Hooks calls (CDS Hooks 2.0 client authentication)."""
    from raad.services import ServiceError, cds_trust
    from raad.store import Database

    try:
        with Database(url).transaction() as s:
            row = cds_trust.trust(s, None, issuer, jwks_url, user)
    except ServiceError as exc:
        _fail(exc.message)
    console.print(
        f"trusted {row['iss']} (keys at {row['jwks_url']}) as {row['user']}", markup=False
    )


@cds_app.command("list")
def cds_list_cmd(
    url: Annotated[
        str | None, typer.Option(help="Database URL (default: RAAD_DATABASE_URL).")
    ] = None,
) -> None:
    """The trusted EHR issuers."""
    from raad.services import cds_trust
    from raad.store import Database

    with Database(url).transaction(write=False) as s:
        rows = cds_trust.trusted(s)
    for r in rows:
        console.print(f"{r['iss']}  keys {r['jwks_url']}  as {r['user']}", markup=False)
    if not rows:
        console.print("no trusted issuer (CDS calls need a raad bearer token)", markup=False)


smart_app = typer.Typer(
    help="SMART App Launch: the EHRs raad opens from, and which EHR users act as which account.",
    no_args_is_help=True,
)


@smart_app.command("register")
def smart_register_cmd(
    iss: Annotated[str, typer.Argument(help="The EHR's FHIR base URL (the launch's iss).")],
    client_id: Annotated[str, typer.Option(help="The client id the EHR issued to raad.")],
    site: Annotated[str, typer.Option(help="The raad site its patients belong to.")],
    client_secret_file: Annotated[
        Path | None,
        typer.Option(help="A file holding the client secret (default: RAAD_SMART_CLIENT_SECRET)."),
    ] = None,
    scope: Annotated[str | None, typer.Option(help="Scopes to ask for (default: raad's).")] = None,
    url: Annotated[
        str | None, typer.Option(help="Database URL (default: RAAD_DATABASE_URL).")
    ] = None,
) -> None:
    """Register raad at an EHR as a SMART confidential client (authorization code + PKCE).
    The secret is read from a file or the environment, never from the command line."""
    import os

    from raad.services import ServiceError, smart
    from raad.store import Database

    if client_secret_file is not None:
        secret = client_secret_file.read_text(encoding="utf-8").strip()
    else:
        secret = os.environ.get("RAAD_SMART_CLIENT_SECRET", "")
    if not secret:
        _fail("no client secret: give --client-secret-file or set RAAD_SMART_CLIENT_SECRET")
    try:
        with Database(url).transaction() as s:
            row = smart.register(s, None, iss, client_id, secret, site, scope)
    except ServiceError as exc:
        _fail(exc.message)
    console.print(
        f"registered at {row['iss']} as {row['client_id']} for site {row['site']}; "
        "the EHR's redirect URI for raad is <raad's public URL>/smart/callback and its "
        "launch URL <raad's public URL>/smart/launch",
        markup=False,
    )


@smart_app.command("link")
def smart_link_cmd(
    iss: Annotated[str, typer.Argument(help="The EHR's FHIR base URL.")],
    fhir_user: Annotated[str, typer.Argument(help="The EHR user, e.g. Practitioner/123.")],
    username: Annotated[str, typer.Argument(help="The raad account launches by them act as.")],
    url: Annotated[
        str | None, typer.Option(help="Database URL (default: RAAD_DATABASE_URL).")
    ] = None,
) -> None:
    """Link an EHR user (the id token's fhirUser) to a raad account."""
    from raad.services import ServiceError, smart
    from raad.store import Database

    try:
        with Database(url).transaction() as s:
            row = smart.link_user(s, None, iss, fhir_user, username)
    except ServiceError as exc:
        _fail(exc.message)
    console.print(f"{row['fhir_user']} at {row['iss']} acts as {row['user']}", markup=False)


@smart_app.command("list")
def smart_list_cmd(
    url: Annotated[
        str | None, typer.Option(help="Database URL (default: RAAD_DATABASE_URL).")
    ] = None,
) -> None:
    """The EHRs raad is registered at (no secrets) and their linked users."""
    from raad.services import smart
    from raad.store import Database

    with Database(url).transaction(write=False) as s:
        rows = smart.registered(s)
    for r in rows:
        console.print(f"{r['iss']}  client {r['client_id']}  site {r['site']}", markup=False)
        for f, u in r["users"].items():
            console.print(f"  {f} -> {u}", markup=False)
    if not rows:
        console.print("no EHR registered (raad smart register)", markup=False)


def register(app: typer.Typer) -> None:
    app.add_typer(cds_app, name="cds")
    app.add_typer(smart_app, name="smart")
    app.add_typer(db_app, name="db")
    app.add_typer(user_app, name="user")
    app.add_typer(site_app, name="site")
    app.add_typer(jobs_app, name="jobs")
    app.add_typer(audit_app, name="audit")
    app.command("serve")(serve)
    app.command("export")(export)
