"""Consent (issue 18): versioned consent documents per agent and site, a patient's consent
signed in raad by the clinician who obtained it (password again; name, time and meaning on the
record), the PDF as signed archived with its SHA-256, withdrawal kept."""

from __future__ import annotations

import hashlib
import io

from pypdf import PdfReader

from tests.api.helpers import new_patient, signature

TEXT = "Esketamine nasal spray for depression.\n\nYou will be observed for at least two hours."


def _document(api, version_text=TEXT):
    r = api.client.post(
        "/consent-documents",
        json={"agent": "esketamine", "title": "Consent to esketamine", "body": version_text},
        headers=api.h("clinician"),
    )
    assert r.status_code == 201, r.text
    return r.json()


def test_documents_are_versioned_per_site_and_agent(api):
    first = _document(api)
    second = _document(api, TEXT + "\n\nRevised wording.")
    assert second["version"] == first["version"] + 1 and second["site"] == api.world.site
    listed = api.client.get(
        "/consent-documents", params={"agent": "esketamine"}, headers=api.h("clinician")
    ).json()
    assert [d["version"] for d in listed][:2] == [second["version"], first["version"]]
    # another site's clinician sees none of them; an unknown agent is refused by name
    other = api.client.get("/consent-documents", headers=api.h("other_clinician")).json()
    assert first["id"] not in {d["id"] for d in other}
    bad = api.client.post(
        "/consent-documents",
        json={"agent": "lsd", "title": "x", "body": "y"},
        headers=api.h("clinician"),
    )
    assert bad.status_code == 422 and bad.json()["field"] == "agent"
    assert api.client.get("/consent-documents", headers=api.h("researcher")).status_code == 403


def test_signing_a_consent(api):
    d = _document(api)
    p = new_patient(api)
    url = f"/patients/{p['id']}/consents"
    name = f"Test {p['identity']['family_name']}"
    body = {"document_id": d["id"], "patient_name": name}
    assert api.client.post(url, json=body, headers=api.h("clinician")).status_code == 422
    wrong = dict(
        body, signature={"username": api.world.usernames["clinician"], "password": "nope nope nope"}
    )
    assert api.client.post(url, json=wrong, headers=api.h("clinician")).status_code == 401
    assert api.client.get(url, headers=api.h("clinician")).json() == []
    r = api.client.post(url, json=dict(body, signature=signature(api)), headers=api.h("clinician"))
    assert r.status_code == 201, r.text
    c = r.json()
    (sig,) = c["signatures"]
    assert sig["meaning"] == "consent" and sig["meaning_label"] == "responsibility"
    assert sig["signed_at"] == c["signed_at"]
    pdf = api.client.get(f"/consents/{c['id']}.pdf", headers=api.h("clinician"))
    assert pdf.status_code == 200 and pdf.headers["content-type"] == "application/pdf"
    assert hashlib.sha256(pdf.content).hexdigest() == c["pdf_sha256"]
    text = "\n".join(pg.extract_text() for pg in PdfReader(io.BytesIO(pdf.content)).pages)
    for expected in (
        "Consent to esketamine",
        "observed for at least two hours",
        name,
        api.world.usernames["clinician"],
        "I explained this consent document",
    ):
        assert expected in text, expected
    check = api.client.get(
        "/signatures", params={"entity": "consent", "entity_id": c["id"]}, headers=api.h("admin")
    ).json()
    assert [x["record_matches"] for x in check["signatures"]] == [True]
    # a newer version of the text does not change what was signed
    _document(api, TEXT + "\n\nNew paragraph.")
    again = api.client.get(f"/consents/{c['id']}.pdf", headers=api.h("clinician"))
    assert again.content == pdf.content
    # withdrawal is kept, with its reason
    w = api.client.post(
        f"/consents/{c['id']}/withdraw",
        json={"reason": "patient changed their mind"},
        headers=api.h("clinician"),
    )
    assert w.status_code == 200 and w.json()["withdrawn_reason"] == "patient changed their mind"
    assert (
        api.client.post(
            f"/consents/{c['id']}/withdraw", json={"reason": "again"}, headers=api.h("clinician")
        ).status_code
        == 409
    )
    # who may read: not researchers, not another site
    assert api.client.get(url, headers=api.h("researcher")).status_code == 403
    assert (
        api.client.get(f"/consents/{c['id']}.pdf", headers=api.h("other_clinician")).status_code
        == 403
    )


def test_a_document_of_another_site_cannot_be_signed(api):
    theirs = api.client.post(
        "/consent-documents",
        json={"agent": "n2o", "title": "Other clinic", "body": "text"},
        headers=api.h("other_clinician"),
    ).json()
    p = new_patient(api)
    r = api.client.post(
        f"/patients/{p['id']}/consents",
        json={"document_id": theirs["id"], "patient_name": "X", "signature": signature(api)},
        headers=api.h("clinician"),
    )
    assert r.status_code == 409 and "another site" in r.json()["message"]


def test_the_name_given_must_be_the_patients(api):
    """A break test: a consent was signed for any name typed (a wrong-patient risk). The name
    given must hold the family name on the record; case, accents and hyphens aside."""
    d = _document(api)
    p = new_patient(api)
    family = p["identity"]["family_name"]  # "Synthetic-xxxxxx"
    url = f"/patients/{p['id']}/consents"
    other = {"document_id": d["id"], "patient_name": "Jane Doe", "signature": signature(api)}
    r = api.client.post(url, json=other, headers=api.h("clinician"))
    assert r.status_code == 422 and r.json()["field"] == "patient_name"
    assert family in r.json()["allowed"]
    assert api.client.get(url, headers=api.h("clinician")).json() == []
    spelled = family.upper().replace("-", " ")
    ok = dict(other, patient_name=f"test {spelled}")
    assert api.client.post(url, json=ok, headers=api.h("clinician")).status_code == 201


def test_names_outside_latin_print_as_written(api):
    """A break test: the consent PDF drew non-Latin names as boxes (Helvetica has no
    Cyrillic or Greek). DejaVu Sans draws them; the text layer holds the same letters."""
    d = _document(api)
    p = new_patient(api)
    family = p["identity"]["family_name"]
    name = f"Анна Ωμέγα {family}"
    r = api.client.post(
        f"/patients/{p['id']}/consents",
        json={"document_id": d["id"], "patient_name": name, "signature": signature(api)},
        headers=api.h("clinician"),
    )
    assert r.status_code == 201, r.text
    pdf = api.client.get(f"/consents/{r.json()['id']}.pdf", headers=api.h("clinician")).content
    reader = PdfReader(io.BytesIO(pdf))
    assert name in "\n".join(pg.extract_text() for pg in reader.pages)
    fonts = {
        str(f["/BaseFont"])
        for pg in reader.pages
        for f in pg["/Resources"]["/Font"].values()
        if "/BaseFont" in f.get_object()
    }
    assert any("DejaVuSans" in f for f in fonts), fonts
