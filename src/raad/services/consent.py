"""Consent: each site keeps its own consent documents per agent (a new text is a new version,
never an edit), and a patient's consent is signed in raad by the clinician who obtained it:
an electronic signature (username and password again; meaning and words in
``knowledge/esignature.yaml``) on the document version, with the PDF as signed archived and its
SHA-256 kept. A consent is withdrawn with a reason, never deleted."""

from __future__ import annotations

import hashlib
import unicodedata
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from raad.interop.pdf import consent_pdf
from raad.knowledge.treatment import agents
from raad.store.models import Consent, ConsentDocument, Site, utcnow

from . import audit, patients, signatures
from .authz import can_read, can_read_identified, can_write
from .context import Actor
from .documents import site_zone
from .errors import Conflict, Forbidden, InvalidInput, NotFound
from .schemas import SignatureIn


def _document_view(d: ConsentDocument, site: str | None = None) -> dict[str, Any]:
    return {
        "id": d.id,
        "site": site,
        "agent": d.agent,
        "version": d.version,
        "title": d.title,
        "body": d.body,
        "created_at": d.created_at.isoformat(),
    }


def _site(db: Session, actor: Actor, site: str | None) -> Site:
    if actor.role == "clinician":
        found = db.get(Site, actor.site_id)
        if site is not None and (found is None or found.code != site):
            raise Forbidden("clinicians keep the documents of their own site", role=actor.role)
    elif actor.role == "admin":
        if not site:
            codes = ", ".join(db.scalars(select(Site.code).order_by(Site.code)).all()[:50])
            raise InvalidInput("site", site, f"a site code (admins name the site): {codes}")
        found = db.scalar(select(Site).where(Site.code == site))
    else:
        raise Forbidden(
            f"role {actor.role!r} may not do this; allowed: admin, clinician", role=actor.role
        )
    if found is None:
        raise InvalidInput("site", site, "an existing site code")
    return found


def documents(
    db: Session, actor: Actor, site: str | None = None, agent: str | None = None
) -> list[dict[str, Any]]:
    """The site's consent documents, newest version of each agent first."""
    s = _site(db, actor, site)
    q = select(ConsentDocument).where(ConsentDocument.site_id == s.id)
    if agent:
        q = q.where(ConsentDocument.agent == agent)
    rows = db.scalars(q.order_by(ConsentDocument.agent, ConsentDocument.version.desc()))
    return [_document_view(d, s.code) for d in rows]


def add_document(
    db: Session, actor: Actor, agent: str, title: str, body: str, site: str | None = None
) -> dict[str, Any]:
    """A new version of the site's consent document for ``agent`` (clinicians of the site and
    admins); audited.

    Raises:
        InvalidInput: an unknown agent, an empty title or text.
    """
    s = _site(db, actor, site)
    if agent not in agents():
        raise InvalidInput("agent", agent, f"one of {', '.join(agents())}")
    title, body = (title or "").strip(), (body or "").strip()
    if not 1 <= len(title) <= 200:
        raise InvalidInput("title", title, "a title of 1-200 characters")
    if not 1 <= len(body) <= 50_000:
        raise InvalidInput("body", body, "the document's text (1-50,000 characters)")
    latest = db.scalar(
        select(func.max(ConsentDocument.version)).where(
            ConsentDocument.site_id == s.id, ConsentDocument.agent == agent
        )
    )
    d = ConsentDocument(
        site_id=s.id,
        agent=agent,
        version=(latest or 0) + 1,
        title=title,
        body=body,
        created_by=actor.user_id,
    )
    db.add(d)
    db.flush()
    view = _document_view(d, s.code)
    audit.record(db, actor, "create", "consent-document", d.id, after=view)
    return view


def _consent_view(db: Session, c: Consent) -> dict[str, Any]:
    d = db.get(ConsentDocument, c.document_id)
    assert d is not None
    return {
        "id": c.id,
        "patient_id": c.patient_id,
        "document": {"id": d.id, "agent": d.agent, "version": d.version, "title": d.title},
        "patient_name": c.patient_name,
        "signed_at": c.signed_at.isoformat(),
        "pdf_sha256": c.pdf_sha256,
        "withdrawn_at": c.withdrawn_at.isoformat() if c.withdrawn_at else None,
        "withdrawn_reason": c.withdrawn_reason,
        "signatures": signatures.of(db, "consent", [c.id]).get(c.id, []),
    }


def _fold(text: str) -> list[str]:
    """Words of a name compared as people write them: case, accents and punctuation ignored
    ("Muller" matches "Müller", "O'Brien" matches "OBrien")."""
    plain = "".join(
        c for c in unicodedata.normalize("NFKD", text) if not unicodedata.combining(c)
    ).casefold()
    words = "".join(c if c.isalnum() or c.isspace() or c == "-" else "" for c in plain)
    return words.replace("-", " ").split()


def same_person(given: str, family_name: str) -> bool:
    """Whether the name a patient gave contains the family name on their record (every word
    of it, in order). A consent signed for a name that does not is a wrong-patient risk."""
    want, words = _fold(family_name), _fold(given)
    if not want:
        return True  # no family name on record: nothing to compare
    return any(words[i : i + len(want)] == want for i in range(len(words) - len(want) + 1))


def sign(
    db: Session,
    actor: Actor,
    patient_id: int,
    document_id: int,
    patient_name: str,
    signature: SignatureIn | None,
) -> dict[str, Any]:
    """The patient's consent on a document of their site, signed by ``actor`` (meaning:
    responsibility, "I explained this consent document ..."); the PDF as signed is archived.

    Raises:
        NotFound, Forbidden, InvalidInput (no patient name; no signature), Conflict (a document
        of another site), SignatureRefused.
    """
    p = patients.load(db, patient_id)
    can_write(actor, p.site_id)
    d = db.get(ConsentDocument, document_id)
    if d is None:
        raise NotFound(f"consent document {document_id} not found")
    if d.site_id != p.site_id:
        raise Conflict("that consent document belongs to another site than the patient")
    name = " ".join((patient_name or "").split())
    if not 1 <= len(name) <= 200:
        raise InvalidInput("patient_name", patient_name, "the patient's name as they gave it")
    person = patients.get(db, actor, p.id)
    family = (person.get("identity") or {}).get("family_name") or ""
    if not same_person(name, family):
        raise InvalidInput(
            "patient_name",
            patient_name,
            f"the name of the patient whose record this is, with the family name on record "
            f"({family}); if the name has changed, correct the record first",
        )
    signer = signatures.check_signer(db, actor, signature)
    now = utcnow()
    meaning = signatures.meanings()["consent"]
    site = db.get(Site, p.site_id)
    pdf = consent_pdf(
        _document_view(d),
        person,
        name,
        site.name if site else "",
        {
            "printed_name": (signer.full_name or "").strip() or signer.username,
            "username": signer.username,
            "signed_at": now.isoformat(),
            "meaning_label": meaning["meaning"],
            "statement": meaning["statement"],
        },
        zone=site_zone(site),
    )
    c = Consent(
        patient_id=p.id,
        document_id=d.id,
        patient_name=name,
        signed_at=now,
        signed_by=actor.user_id,
        pdf=pdf,
        pdf_sha256=hashlib.sha256(pdf).hexdigest(),
    )
    db.add(c)
    db.flush()
    signatures.sign(db, actor, signer, "consent", c.id, "consent", patient_id=p.id, at=now)
    view = _consent_view(db, c)
    audit.record(db, actor, "create", "consent", c.id, patient_id=p.id, after=view)
    return view


def for_patient(db: Session, actor: Actor, patient_id: int) -> list[dict[str, Any]]:
    """The patient's consents, newest first (researchers: none of them; they hold names)."""
    p = patients.load(db, patient_id)
    can_read(actor, p)
    can_read_identified(actor, p)
    rows = db.scalars(
        select(Consent).where(Consent.patient_id == p.id).order_by(Consent.signed_at.desc())
    )
    return [_consent_view(db, c) for c in rows]


def pdf(db: Session, actor: Actor, consent_id: int) -> bytes:
    """The consent's PDF as signed (an audited identified read)."""
    c = db.get(Consent, consent_id)
    if c is None:
        raise NotFound(f"consent {consent_id} not found")
    p = patients.load(db, c.patient_id)
    can_read_identified(actor, p)
    audit.record(db, actor, "read", "consent-pdf", c.id, patient_id=p.id)
    return c.pdf


def withdraw(db: Session, actor: Actor, consent_id: int, reason: str) -> dict[str, Any]:
    """The patient withdrew this consent: recorded with who, when and why; kept."""
    c = db.get(Consent, consent_id, with_for_update=True)
    if c is None:
        raise NotFound(f"consent {consent_id} not found")
    p = patients.load(db, c.patient_id)
    can_write(actor, p.site_id)
    why = (reason or "").strip()
    if not why:
        raise InvalidInput("reason", reason, "why, as the patient or record says")
    if c.withdrawn_at is not None:
        raise Conflict(f"consent {consent_id} was already withdrawn")
    c.withdrawn_at = utcnow()
    c.withdrawn_by = actor.user_id
    c.withdrawn_reason = why
    db.flush()
    audit.record(
        db,
        actor,
        "update",
        "consent",
        c.id,
        patient_id=p.id,
        before={"withdrawn_at": None},
        after={"withdrawn_at": c.withdrawn_at.isoformat()},
        reason=why,
    )
    return _consent_view(db, c)
