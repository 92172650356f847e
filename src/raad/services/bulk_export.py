"""FHIR Bulk Data export (``$export``) of the de-identified research cohort, as NDJSON.

HL7 FHIR Bulk Data Access IG 2.0.0 (STU2), page "Export" (export.html), on the FHIR
Asynchronous Request Pattern (https://hl7.org/fhir/R4/async.html):

- *Bulk Data Kick-off Request*: :func:`check_parameters` and :func:`kick_off` take the request
  (``_type``, ``_since``, ``_outputFormat``; the routes check ``Prefer: respond-async``) and
  store it as ``accepted``; the caller then runs :func:`run` after answering 202.
- *Bulk Data Status Request*: :func:`status` (202 while accepted or running, with ``progress``
  for ``X-Progress``; the manifest's parts when completed; the reason when failed).
- *Bulk Data Delete Request*: :func:`cancel` (the files are deleted; the status is 404 after).
- *Bulk Data Output File Request*: :func:`file` (one NDJSON file; the same bearer token).

What is exported: every patient an admin or researcher may read (all sites, as the CSV/Parquet
research export), each through ``services.fhir.everything`` read as a researcher, so the files
are the research cohort's de-identified view whoever asks (an admin's export too): the
pseudonymous research id, no name, record number or birth date, no free text, every date moved
by the patient's own secret shift (services/deid.py; ``export.DICTIONARY["fhir/$export"]``).
Resources are split by type into NDJSON files of at most ``MAX_RESOURCES_PER_FILE`` lines,
kept in the database (``bulk_export_files``) so any application host can serve them.

``_since`` ("Query Parameters": resources whose state changed after the time): raad keeps no
``meta.lastUpdated``, so a resource's change time is read from what raad records:

- Patient and the screening-fact resources (Condition, AllergyIntolerance, the facts'
  MedicationStatement and Observation): ``patients.updated_at`` (set at registration and at
  every change of the record, its facts included);
- antidepressant-trial MedicationStatements: a trial recorded (``created_at``) or deleted
  (the audit trail) at or after ``_since`` marks all of the patient's trial statements changed,
  since their ids are numbered in order;
- a session's MedicationAdministration, blood-pressure Observations and AdverseEvents: the
  session's ``created_at`` and any change the audit trail records for it (update, override,
  signature; reads do not count);
- a rating's QuestionnaireResponse and total Observation: ``created_at`` (ratings are never
  edited);
- an alert's Flag and DetectedIssue: the latest of raised, acknowledged and cleared.

A resource is exported when that time is at or after ``_since``, together with the resources
it references (its Patient, the session an alert implicates), which the IG allows for
Patient-level requests; patients with no such change are skipped. Deleted resources are not
listed (the manifest's optional ``deleted`` array is not produced).

``transactionTime`` is the instant the export's database snapshot was taken (one read
transaction, REPEATABLE READ on PostgreSQL, a WAL snapshot on SQLite) less
``COMMIT_MARGIN_S``: a change stamped just before the snapshot whose transaction committed
just after it is then repeated by the next ``_since=transactionTime`` export instead of being
missed by both. The table has no column of its own for it: ``completed_at`` holds it.

Several hosts, and processes that die: a job is claimed with ``UPDATE ... SET
status='running' WHERE status='accepted'`` (one host wins; the others skip it). While running,
``expires_at`` is the runner's lease (``LEASE_S``), renewed with every progress write by a
compare-and-set on the value it last wrote, so a runner that lost its job (cancelled, or given
up as dead) stops at its next write without writing anything. A job still ``accepted``
``LEFT_BEHIND_S`` after kick-off (its host died before starting it) is handed by the next
status request, on any host, to a background run there (:func:`recover`; :func:`resume` does
the same for a scheduler). A ``running`` job whose lease passed (its process
died) is marked failed with the reason, never restarted (an export that kills its process
would otherwise do so again and again): its status answers the error and the client starts a
new export. Files of an unfinished run are never served, and the completed state and the last
files are written in one transaction.
"""

from __future__ import annotations

import json
import logging
import re
import secrets
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import delete, func, or_, select, update
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from raad.store import Database
from raad.store.models import (
    Administration,
    Alert,
    AntidepressantTrial,
    Assessment,
    AuditEvent,
    BulkExport,
    BulkExportFile,
    Patient,
    User,
    utcnow,
)

from . import audit, fhir
from .context import Actor
from .errors import Forbidden, InvalidInput, NotFound, ServiceError, TooManyRequests
from .paging import MAX_LIMIT

log = logging.getLogger("raad.bulk_export")

EXPORT_ROLES = ("admin", "researcher")
# what raad's patient Bundles hold (interop/fhir_export.py), in the order the manifest lists them
RESOURCE_TYPES = (
    "Patient",
    "Condition",
    "AllergyIntolerance",
    "MedicationStatement",
    "Observation",
    "MedicationAdministration",
    "AdverseEvent",
    "QuestionnaireResponse",
    "Flag",
    "DetectedIssue",
)
ERROR_TYPE = "OperationOutcome"  # files of the manifest's ``error`` array
# "Query Parameters", _outputFormat: the full and the two abbreviated NDJSON names
OUTPUT_FORMATS = ("application/fhir+ndjson", "application/ndjson", "ndjson")
PARAMETERS = ("_outputFormat", "_since", "_type")
UNSUPPORTED = {
    "_elements": "not supported: raad exports whole resources; leave _elements out",
    "_typeFilter": "not supported: narrow the export with _type and _since",
    "includeAssociatedData": "not supported: raad keeps no Provenance resources",
    "patient": "not supported (a POST Parameters body); export all patients and filter",
}
MAX_RESOURCES_PER_FILE = 5000
LEASE_S = 300  # a running job's lease; renewed at least every PROGRESS_EVERY_S
PROGRESS_EVERY_S = 2.0
LEFT_BEHIND_S = 30  # an accepted job not started this long after kick-off is run elsewhere
KEEP_H = 24  # completed files (and a failed job's status) are kept this long
COMMIT_MARGIN_S = 60  # transactionTime lies this far before the snapshot (module docstring)
POLL_AFTER_S = 5  # Retry-After while in progress, and when a kick-off is refused as too soon
RECOVER_AT_ONCE = 3  # left-behind jobs one request hands to background runs

STALE = "the export stopped: the process running it ended before it finished; start a new export"
FAILED = "the export failed on the server (the cause is in the server's log); start a new export"

# "YYYY-MM-DDThh:mm:ss[.sss](Z|+hh:mm|-hh:mm)": FHIR R4 instant (datatypes.html#instant)
_INSTANT = re.compile(
    r"([0-9]([0-9]([0-9][1-9]|[1-9]0)|[1-9]00)|[1-9]000)-(0[1-9]|1[0-2])-(0[1-9]|[1-2][0-9]|3[0-1])"
    r"T([01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9](\.[0-9]{1,9})?(Z|[+-]((0[0-9]|1[0-3]):[0-5][0-9]|14:00))"
)
_UNIT = re.compile(r"-(session|rating|alert)-(\d+)(?:-.*)?")
_TRIAL = re.compile(r"-trial-\d+")


class _LeaseLostError(Exception):
    """The job is no longer this runner's (cancelled, or given up as dead)."""


class _RefusedError(Exception):
    """The job cannot run (the account that asked may no longer export): fails with this."""


def require_exporter(actor: Actor) -> None:
    """Only admins and researchers export (the research cohort); Forbidden (403) otherwise."""
    if actor.role not in EXPORT_ROLES:
        raise Forbidden(
            f"role {actor.role!r} may not run a bulk export; allowed: {', '.join(EXPORT_ROLES)}",
            role=actor.role,
        )


def check_parameters(items: Iterable[tuple[str, str]]) -> tuple[list[str] | None, str | None]:
    """The kick-off's query parameters (name, value pairs, repeats included) checked:
    ``_type`` (repeats joined, "Query Parameters": as if comma-delimited), ``_since`` and
    ``_outputFormat`` once each, an NDJSON ``_outputFormat``; anything else is refused
    (InvalidInput naming the parameter), the IG's optional parameters raad does not support
    among them. Returns the raw ``_type`` values (None when absent) and ``_since``."""
    types: list[str] | None = None
    seen: dict[str, str] = {}
    for name, value in items:
        if name in UNSUPPORTED:
            raise InvalidInput(name, value, UNSUPPORTED[name])
        if name not in PARAMETERS:
            raise InvalidInput(
                name, value, f"not a parameter of $export; allowed: {', '.join(PARAMETERS)}"
            )
        if name == "_type":
            types = [*(types or []), value]
            continue
        if name in seen:
            raise InvalidInput(name, value, f"{name} once (given again after {seen[name]!r})")
        seen[name] = value
    fmt = seen.get("_outputFormat")
    if fmt is not None and fmt.strip().lower() not in OUTPUT_FORMATS:
        raise InvalidInput("_outputFormat", fmt, ", ".join(OUTPUT_FORMATS))
    return types, seen.get("_since")


def parse_types(values: Iterable[str] | str | None) -> tuple[str, ...] | None:
    """``_type`` as resource types raad exports, in ``RESOURCE_TYPES`` order (None: all).
    Values are comma-delimited and may repeat; an unknown or empty type is InvalidInput."""
    if values is None:
        return None
    raw = [values] if isinstance(values, str) else list(values)
    asked: set[str] = set()
    for value in raw:
        for name in (v.strip() for v in value.split(",")):
            if name not in RESOURCE_TYPES:
                raise InvalidInput(
                    "_type",
                    name if name else value,
                    f"comma-separated resource types raad exports: {', '.join(RESOURCE_TYPES)}",
                )
            asked.add(name)
    return tuple(t for t in RESOURCE_TYPES if t in asked)


def parse_since(value: str | datetime | None) -> datetime | None:
    """``_since`` as an aware datetime: a FHIR instant (seconds and a time zone required, e.g.
    2026-01-05T00:00:00Z); InvalidInput naming ``_since`` otherwise."""
    if value is None or isinstance(value, datetime):
        if isinstance(value, datetime) and value.tzinfo is None:
            raise InvalidInput("_since", value.isoformat(), "an aware date-time (a time zone)")
        return value
    allowed = "a FHIR instant with seconds and a time zone, e.g. 2026-01-05T00:00:00Z"
    if " " in value and _INSTANT.fullmatch(value.replace(" ", "+")):
        allowed += " (a '+' in a query string is sent as %2B)"
    if not _INSTANT.fullmatch(value):
        raise InvalidInput("_since", value, allowed)
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise InvalidInput("_since", value, allowed) from None


def kick_off(
    db: Session,
    actor: Actor,
    request_url: str,
    types: Iterable[str] | str | None,
    since: str | datetime | None,
    *,
    now: datetime | None = None,
) -> str:
    """Accept an export ("Bulk Data Kick-off Request"); returns its id (the status URL's
    last part). ``types``: ``_type`` values (None: every type raad exports); ``since``:
    ``_since``. Forbidden for other roles than admin and researcher; InvalidInput naming
    ``_type`` or ``_since``; TooManyRequests (429, ``retry_after``) while another export of
    the same user is in progress (the IG's advice for one export at a time). The caller runs
    :func:`run` once this transaction is committed."""
    require_exporter(actor)
    wanted = parse_types(types)
    after = parse_since(since)
    now = now or utcnow()
    purge(db, now)
    busy = db.scalar(
        select(func.count())
        .select_from(BulkExport)
        .where(BulkExport.user_id == actor.user_id, _in_progress(now))
    )
    if busy:
        raise TooManyRequests(
            "an export of yours is still in progress: wait for it (or cancel it with DELETE "
            "on its status URL) before starting another",
            retry_after=POLL_AFTER_S,
        )
    export_id = secrets.token_hex(16)
    db.add(
        BulkExport(
            id=export_id,
            user_id=actor.user_id,
            request_url=request_url,
            types=",".join(wanted) if wanted else None,
            since=after,
            status="accepted",
            progress="queued",
            created_at=now,
        )
    )
    db.flush()
    audit.record(
        db,
        actor,
        "create",
        "fhir-bulk-export",
        export_id,
        detail=f"types {','.join(wanted) if wanted else 'all'}; since {after or '-'}",
    )
    return export_id


def _in_progress(now: datetime) -> Any:
    """Accepted and not left behind, or running with a live lease."""
    return or_(
        (BulkExport.status == "accepted")
        & (BulkExport.created_at > now - timedelta(seconds=LEFT_BEHIND_S)),
        (BulkExport.status == "running") & (BulkExport.expires_at > now),
    )


def _own(db: Session, actor: Actor, export_id: str, now: datetime) -> BulkExport:
    """The export if ``actor`` asked for it (or is an admin) and it is still there; NotFound
    otherwise (another user's export is not confirmed to exist)."""
    row = db.get(BulkExport, export_id, populate_existing=True)
    gone = row is None or row.status == "cancelled"
    if row is not None and row.status in ("completed", "failed") and row.expires_at is not None:
        gone = gone or row.expires_at <= now
    if gone or (row.user_id != actor.user_id and actor.role != "admin"):
        raise NotFound(
            f"no bulk export {export_id!r}: never started, cancelled, expired or another user's"
        )
    return row


def status(
    db: Session, actor: Actor, export_id: str, *, now: datetime | None = None
) -> dict[str, Any]:
    """The export's state ("Bulk Data Status Request"), for its owner or an admin (NotFound
    otherwise, and once cancelled or expired)::

        {"id", "status": accepted|running|completed|failed, "progress": "12/40 patients",
         "error": str | None, "request": kick-off URL, "transaction_time": datetime | None,
         "expires_at": datetime | None,
         "output": [{"type", "seq", "count"}], "errors": [{"type", "seq", "count"}],
         "retry_after": seconds, "resume": [export ids to run in the background here]}

    A running job whose lease passed is marked failed here (module docstring); ``resume``
    lists jobs left behind in ``accepted`` (this one or others) for the caller to run."""
    now = now or utcnow()
    resume = recover(db, now)
    row = _own(db, actor, export_id, now)
    out: dict[str, Any] = {
        "id": row.id,
        "status": row.status,
        "progress": row.progress,
        "error": row.error,
        "request": row.request_url,
        "transaction_time": row.completed_at if row.status == "completed" else None,
        "expires_at": row.expires_at if row.status in ("completed", "failed") else None,
        "output": [],
        "errors": [],
        "retry_after": POLL_AFTER_S,
        "resume": resume,
    }
    if row.status == "completed":
        files = db.execute(
            select(BulkExportFile.resource_type, BulkExportFile.seq, BulkExportFile.count).where(
                BulkExportFile.export_id == row.id
            )
        ).all()
        order = {t: i for i, t in enumerate(RESOURCE_TYPES)}
        for t, seq, count in sorted(files, key=lambda f: (order.get(f[0], 99), f[1])):
            key = "errors" if t == ERROR_TYPE else "output"
            out[key].append({"type": t, "seq": seq, "count": count})
    return out


def file(db: Session, actor: Actor, export_id: str, resource_type: str, seq: int) -> str:
    """One output file's NDJSON ("Bulk Data Output File Request"): the owner's or an admin's,
    of a completed export only; NotFound otherwise."""
    now = utcnow()
    row = _own(db, actor, export_id, now)
    if row.status != "completed":
        raise NotFound(f"bulk export {export_id!r} is {row.status}: no files yet")
    text = db.scalar(
        select(BulkExportFile.ndjson).where(
            BulkExportFile.export_id == row.id,
            BulkExportFile.resource_type == resource_type,
            BulkExportFile.seq == seq,
        )
    )
    if text is None:
        raise NotFound(f"bulk export {export_id!r} has no file {resource_type}.{seq}")
    return text


def cancel(
    db: Session, actor: Actor, export_id: str, *, now: datetime | None = None
) -> dict[str, Any]:
    """Cancel an export, or release a completed one's files ("Bulk Data Delete Request"): the
    files are deleted and its status is NotFound from then on; a running job stops at its next
    write. Returns ``{"id", "was": previous status, "files_deleted": n}``."""
    now = now or utcnow()
    row = _own(db, actor, export_id, now)
    was = row.status
    db.execute(
        update(BulkExport)
        .where(BulkExport.id == row.id)
        .values(status="cancelled", progress=None, expires_at=now)
        .execution_options(synchronize_session=False)
    )
    n = db.execute(delete(BulkExportFile).where(BulkExportFile.export_id == row.id)).rowcount
    audit.record(
        db, actor, "delete", "fhir-bulk-export", row.id, detail=f"cancelled ({was}); {n} files"
    )
    return {"id": row.id, "was": was, "files_deleted": n}


def purge(db: Session, now: datetime | None = None) -> int:
    """Delete exports whose files expired (completed, failed or cancelled); returns how many."""
    now = now or utcnow()
    ids = list(
        db.scalars(
            select(BulkExport.id).where(
                BulkExport.status.in_(("completed", "failed", "cancelled")),
                BulkExport.expires_at <= now,
            )
        )
    )
    if ids:
        db.execute(delete(BulkExportFile).where(BulkExportFile.export_id.in_(ids)))
        db.execute(delete(BulkExport).where(BulkExport.id.in_(ids)))
    return len(ids)


def recover(db: Session, now: datetime | None = None) -> list[str]:
    """Jobs left behind: a running job whose lease passed is marked failed (``STALE``); the
    ids of jobs still accepted ``LEFT_BEHIND_S`` after kick-off are returned (at most
    ``RECOVER_AT_ONCE``, oldest first) for the caller to :func:`run`, whose claim makes sure
    only one host runs each."""
    now = now or utcnow()
    db.execute(
        update(BulkExport)
        .where(BulkExport.status == "running", BulkExport.expires_at < now)
        .values(
            status="failed",
            error=STALE,
            progress=None,
            completed_at=None,
            expires_at=now + timedelta(hours=KEEP_H),
        )
        .execution_options(synchronize_session=False)
    )
    return list(
        db.scalars(
            select(BulkExport.id)
            .where(
                BulkExport.status == "accepted",
                BulkExport.created_at <= now - timedelta(seconds=LEFT_BEHIND_S),
            )
            .order_by(BulkExport.created_at)
            .limit(RECOVER_AT_ONCE)
        )
    )


def resume(database: Database) -> list[str]:
    """One round for a scheduler: fail stale jobs, run the left-behind ones here; returns the
    ids this process ran to the end."""
    with database.transaction() as s:
        ids = recover(s)
    return [i for i in ids if run(database, i) in ("completed", "failed")]


def claim(database: Database, export_id: str, now: datetime | None = None) -> datetime | None:
    """Take an accepted job for this process (``UPDATE ... WHERE status='accepted'``): the
    lease it holds, or None when the job is not accepted (another host has it, or it is
    finished, cancelled or unknown)."""
    lease = (now or utcnow()) + timedelta(seconds=LEASE_S)
    with database.transaction() as s:
        taken = s.execute(
            update(BulkExport)
            .where(BulkExport.id == export_id, BulkExport.status == "accepted")
            .values(status="running", progress="starting", expires_at=lease)
            .execution_options(synchronize_session=False)
        ).rowcount
        if taken != 1:
            return None
        s.execute(delete(BulkExportFile).where(BulkExportFile.export_id == export_id))
    return lease


def run(database: Database, export_id: str) -> str:
    """Claim and build the export: every readable patient's de-identified Bundle, split by type
    into NDJSON files, stored, then marked completed with its transactionTime. Never raises;
    returns what became of it: ``completed``, ``failed`` (the reason kept for the status),
    ``skipped`` (not this process's to run) or ``stopped`` (cancelled or given up mid-run)."""
    lease = claim(database, export_id)
    if lease is None:
        return "skipped"
    writer = _Writer(database, export_id, lease)
    try:
        _build(database, export_id, writer)
        return "completed"
    except _LeaseLostError:
        log.info("bulk export %s: stopped (cancelled or given up)", export_id)
        return "stopped"
    except _RefusedError as exc:
        writer.fail(str(exc))
        return "failed"
    except Exception:
        log.exception("bulk export %s failed", export_id)
        writer.fail(FAILED)
        return "failed"


@dataclass
class _Writer:
    """Buffers NDJSON lines per type; writes a file when a type reaches the limit, and the
    progress, each in a transaction that first renews the lease by compare-and-set."""

    database: Database
    export_id: str
    lease: datetime
    lines: dict[str, list[str]] = field(default_factory=dict)
    seq: dict[str, int] = field(default_factory=dict)
    total: int = 0
    progress: str = "starting"
    last: float = field(default_factory=time.monotonic)

    def add(self, resource: dict[str, Any]) -> None:
        kind = resource["resourceType"]
        buf = self.lines.setdefault(kind, [])
        buf.append(json.dumps(resource, ensure_ascii=False, separators=(",", ":")))
        if kind != ERROR_TYPE:
            self.total += 1
        if len(buf) >= MAX_RESOURCES_PER_FILE:
            self._commit([kind])

    def tick(self, progress: str) -> None:
        self.progress = progress
        if time.monotonic() - self.last >= PROGRESS_EVERY_S:
            self._commit([])

    def _renew(self, s: Session, **values: Any) -> None:
        held = s.execute(
            update(BulkExport)
            .where(
                BulkExport.id == self.export_id,
                BulkExport.status == "running",
                BulkExport.expires_at == self.lease,
            )
            .values(**values)
            .execution_options(synchronize_session=False)
        ).rowcount
        if held != 1:
            raise _LeaseLostError

    def _files(self, s: Session, kinds: Iterable[str]) -> None:
        for kind in kinds:
            buf = self.lines.get(kind)
            if not buf:
                continue
            self.seq[kind] = self.seq.get(kind, 0) + 1
            s.add(
                BulkExportFile(
                    export_id=self.export_id,
                    resource_type=kind,
                    seq=self.seq[kind],
                    count=len(buf),
                    ndjson="\n".join(buf) + "\n",
                )
            )
            self.lines[kind] = []

    def _commit(self, kinds: list[str]) -> None:
        lease = utcnow() + timedelta(seconds=LEASE_S)
        with self.database.transaction() as s:
            self._renew(s, expires_at=lease, progress=self.progress[:128])
            self._files(s, kinds)
        self.lease, self.last = lease, time.monotonic()

    def finish(self, transaction_time: datetime, requester: Actor, detail: str) -> None:
        """The last files, the completed state and the audit row, in one transaction."""
        now = utcnow()
        with self.database.transaction() as s:
            self._renew(
                s,
                status="completed",
                progress=self.progress[:128],
                completed_at=transaction_time,
                expires_at=now + timedelta(hours=KEEP_H),
            )
            self._files(s, list(self.lines))
            audit.record(s, requester, "export", "fhir-bulk-export", self.export_id, detail=detail)

    def fail(self, reason: str) -> None:
        """Mark the job failed with ``reason`` if it is still this runner's; files go."""
        try:
            with self.database.transaction() as s:
                self._renew(
                    s,
                    status="failed",
                    error=reason,
                    progress=None,
                    expires_at=utcnow() + timedelta(hours=KEEP_H),
                )
                s.execute(delete(BulkExportFile).where(BulkExportFile.export_id == self.export_id))
        except _LeaseLostError:
            pass
        except Exception:  # the database itself failing: the lease runs out, status says so
            log.exception("bulk export %s: could not record its failure", self.export_id)


def reader_for(user: User) -> tuple[Actor, Actor]:
    """The account that asked (for the audit trail) and the researcher view it reads through:
    the same user as a researcher, so an admin's export is the de-identified cohort too."""
    from .auth import actor_of

    requester = actor_of(user)
    return requester, Actor(user.id, user.username, "researcher", None, requester.time_zone)


def _build(database: Database, export_id: str, writer: _Writer) -> None:
    with database.transaction(write=False) as s:
        job = s.get(BulkExport, export_id)
        user = s.get(User, job.user_id) if job is not None else None
        if job is None or user is None:
            raise _RefusedError("the export's request is gone")
        if not user.active or user.role not in EXPORT_ROLES:
            raise _RefusedError(
                f"the account {user.username!r} is disabled or may no longer export "
                f"(role {user.role!r})"
            )
        requester, reader = reader_for(user)
        # no _type: every type the Bundles hold (a type added to them is exported, never dropped)
        types = set(job.types.split(",")) if job.types else None
        since = job.since
    with database.transaction(write=False, replica=True) as s:  # the replica, if configured
        if database.dialect == "postgresql":
            # one snapshot for the whole export (transactionTime means one instant)
            s.connection(execution_options={"isolation_level": "REPEATABLE READ"})
        snapshot = utcnow()
        patients = s.execute(select(Patient.id, Patient.research_id).order_by(Patient.id)).all()
        changes = _changes(s, since) if since is not None else None
        if changes is not None:
            patients = [p for p in patients if p.id in changes.touched]
        capped = _capped(s)
        done = 0
        writer.progress = f"0/{len(patients)} patients"
        for n, (pid, rid) in enumerate(patients, start=1):
            for what, count in capped.get(pid, []):
                writer.add(
                    _outcome(
                        "warning",
                        "too-costly",
                        f"Patient/{rid}: {count} {what}; the first {MAX_LIMIT} are exported",
                        f"{rid}-{what}",
                    )
                )
            try:
                bundle = fhir.everything(s, reader, pid)
            except (SQLAlchemyError, ServiceError):
                raise
            except Exception:  # one record the FHIR builder refuses: listed, the rest goes on
                log.exception("bulk export %s: patient %s could not be exported", export_id, pid)
                writer.add(
                    _outcome(
                        "error",
                        "exception",
                        f"Patient/{rid}: the record could not be exported (logged on the server)",
                        f"{rid}-failed",
                    )
                )
                continue
            resources = [e["resource"] for e in bundle.get("entry") or []]
            if changes is not None:
                resources = changes.only_changed(resources, pid, rid)
            for r in resources:
                if types is None or r["resourceType"] in types:
                    writer.add(r)
            done += 1
            writer.tick(f"{n}/{len(patients)} patients")
    writer.finish(
        snapshot - timedelta(seconds=COMMIT_MARGIN_S),
        requester,
        f"{done} patients, {writer.total} resources; types "
        f"{job.types or 'all'}; since {since.isoformat() if since else '-'}",
    )


def _outcome(severity: str, code: str, text: str, rid: str) -> dict[str, Any]:
    return {
        "resourceType": "OperationOutcome",
        "id": rid,
        "issue": [{"severity": severity, "code": code, "diagnostics": text}],
    }


def _capped(s: Session) -> dict[int, list[tuple[str, int]]]:
    """Patients with more sessions or alerts than a patient's Bundle holds (``MAX_LIMIT``):
    listed in the error file, never silently cut."""
    out: dict[int, list[tuple[str, int]]] = {}
    for model, what in ((Administration, "sessions"), (Alert, "alerts")):
        rows = s.execute(
            select(model.patient_id, func.count())
            .group_by(model.patient_id)
            .having(func.count() > MAX_LIMIT)
        ).all()
        for pid, count in rows:
            out.setdefault(pid, []).append((what, count))
    return out


@dataclass
class _Changes:
    """What changed at or after ``_since`` (module docstring), by row id."""

    patients: set[int]  # patients.updated_at
    trials: set[int]  # patient ids whose trial list changed
    sessions: set[int]  # administration ids
    ratings: set[int]  # assessment ids
    alerts: set[int]  # alert ids
    touched: set[int]  # patient ids with any of the above

    def changed(self, resource: dict[str, Any], pid: int, rid: str) -> bool:
        if resource["resourceType"] == "Patient":
            return pid in self.patients
        rest = str(resource.get("id", ""))[len(rid) :]
        unit = _UNIT.fullmatch(rest)
        if unit:
            kind, n = unit.group(1), int(unit.group(2))
            return (
                n in {"session": self.sessions, "rating": self.ratings, "alert": self.alerts}[kind]
            )
        if _TRIAL.fullmatch(rest):
            return pid in self.trials
        return pid in self.patients  # the screening facts, kept in the patient row

    def only_changed(
        self, resources: list[dict[str, Any]], pid: int, rid: str
    ) -> list[dict[str, Any]]:
        """The changed resources and what they reference (its Patient, an implicated
        session), in the Bundle's order."""
        by_ref = {f"{r['resourceType']}/{r['id']}": r for r in resources}
        keep = {ref for ref, r in by_ref.items() if self.changed(r, pid, rid)}
        queue = list(keep)
        while queue:
            for target in references(by_ref[queue.pop()]):
                if target in by_ref and target not in keep:
                    keep.add(target)
                    queue.append(target)
        return [r for ref, r in by_ref.items() if ref in keep]


def _changes(s: Session, since: datetime) -> _Changes:
    def ids(query: Any) -> list[tuple[int, int]]:
        return [(int(a), int(b)) for a, b in s.execute(query).all() if str(a).isdigit()]

    changed_audit = (AuditEvent.at >= since) & (AuditEvent.action != "read")
    patients = set(s.scalars(select(Patient.id).where(Patient.updated_at >= since)))
    trials = set(
        s.scalars(
            select(AntidepressantTrial.patient_id).where(AntidepressantTrial.created_at >= since)
        )
    ) | set(
        s.scalars(
            select(AuditEvent.patient_id).where(
                changed_audit,
                AuditEvent.entity == "antidepressant-trial",
                AuditEvent.patient_id.is_not(None),
            )
        )
    )
    sessions = ids(
        select(Administration.id, Administration.patient_id).where(
            Administration.created_at >= since
        )
    ) + ids(
        select(AuditEvent.entity_id, AuditEvent.patient_id).where(
            changed_audit, AuditEvent.entity == "session", AuditEvent.patient_id.is_not(None)
        )
    )
    ratings = ids(
        select(Assessment.id, Assessment.patient_id).where(Assessment.created_at >= since)
    )
    alerts = ids(
        select(Alert.id, Alert.patient_id).where(
            or_(Alert.raised_at >= since, Alert.acknowledged_at >= since, Alert.cleared_at >= since)
        )
    )
    touched = patients | trials | {p for rows in (sessions, ratings, alerts) for _, p in rows}
    return _Changes(
        patients,
        trials,
        {i for i, _ in sessions},
        {i for i, _ in ratings},
        {i for i, _ in alerts},
        touched,
    )


def references(obj: Any) -> Iterator[str]:
    """Every ``reference`` ("Type/id") in a resource (a canonical, such as
    QuestionnaireResponse.questionnaire, is not a reference)."""
    if isinstance(obj, dict):
        for k, v in obj.items():
            if k == "reference" and isinstance(v, str) and "/" in v and not v.startswith("#"):
                yield v
            else:
                yield from references(v)
    elif isinstance(obj, list):
        for v in obj:
            yield from references(v)


def actor_for(db: Session, username: str) -> Actor:
    """The active admin or researcher account ``username`` (for ``raad export --fhir-ndjson``);
    NotFound or Forbidden otherwise."""
    user = db.scalar(select(User).where(User.username == username))
    if user is None or not user.active:
        raise NotFound(f"no active user {username!r}")
    requester, _ = reader_for(user)
    require_exporter(requester)
    return requester


def files(db: Session, actor: Actor, export_id: str) -> list[tuple[str, int, str]]:
    """Every file of a completed export as (type, seq, NDJSON), outputs then errors."""
    state = status(db, actor, export_id)
    return [
        (part["type"], part["seq"], file(db, actor, export_id, part["type"], part["seq"]))
        for part in (*state["output"], *state["errors"])
    ]
