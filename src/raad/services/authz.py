"""Authorisation, checked in the services (never only in routers).

- admin: every action on every site, user management, the audit trail.
- clinician: read and write patients of their own site, identified.
- researcher: read-only, de-identified (pseudonymous research id), all sites.
"""

from __future__ import annotations

from raad.store.models import Patient

from .context import Actor
from .errors import Forbidden


def require_admin(actor: Actor) -> None:
    if actor.role != "admin":
        raise Forbidden(f"role {actor.role!r} may not do this; allowed: admin", role=actor.role)


def can_write(actor: Actor, patient_site_id: int) -> None:
    """Writing clinical records: admins, and clinicians of the patient's site."""
    if actor.role == "admin":
        return
    if actor.role == "clinician" and actor.site_id == patient_site_id:
        return
    if actor.role == "clinician":
        raise Forbidden("this patient belongs to another site", role=actor.role)
    raise Forbidden(f"role {actor.role!r} is read-only; allowed: admin, clinician", role=actor.role)


def can_read_identified(actor: Actor, patient: Patient) -> None:
    """Reading a patient's identifiers."""
    if actor.role == "admin":
        return
    if actor.role == "clinician":
        if actor.site_id != patient.site_id:
            raise Forbidden("this patient belongs to another site", role=actor.role)
        return
    raise Forbidden(
        f"role {actor.role!r} sees de-identified data only; allowed: admin, clinician",
        role=actor.role,
    )


def reads_every_site(actor: Actor) -> bool:
    """Whether ``actor`` may read the clinical data of every site's patients (admins,
    researchers); a clinician reads their own site's only (:func:`can_read`)."""
    return actor.role in ("admin", "researcher")


def can_read(actor: Actor, patient: Patient) -> None:
    """Reading a patient's clinical (possibly de-identified) data."""
    if reads_every_site(actor):
        return
    if actor.site_id != patient.site_id:
        raise Forbidden("this patient belongs to another site", role=actor.role)
