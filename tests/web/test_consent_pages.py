"""Consent on the web (issue 18): a site adds its document, the patient page records a consent
signed with the clinician's password, shows it with its PDF, and records a withdrawal."""

from __future__ import annotations

from tests.api.helpers import browser_as, new_patient
from tests.dbfixtures import PASSWORD


def test_consent_from_document_to_withdrawal(api):
    web = browser_as(api)
    p = new_patient(api)
    page = web.get(f"/ui/patients/{p['id']}").text
    assert "No consent recorded." in page and 'href="/ui/consent-documents"' in page
    r = web.post(
        "/ui/consent-documents",
        data={
            "agent": "ketamine",
            "title": "Ketamine infusion consent",
            "body": "Para one.\n\nPara two.",
        },
    )
    assert r.status_code == 204, r.text
    docs = web.get("/ui/consent-documents").text
    assert "Ketamine infusion consent" in docs and "<p>Para two.</p>" in docs
    page = web.get(f"/ui/patients/{p['id']}").text
    assert "Record consent" in page and "I explained this consent document" in page
    doc_id = page.split('name="document_id"><option value="')[1].split('"')[0]
    no_pw = web.post(
        f"/ui/patients/{p['id']}/consents",
        data={"document_id": doc_id, "patient_name": f"Test {p['identity']['family_name']}"},
    )
    assert "signature" in no_pw.text
    ok = web.post(
        f"/ui/patients/{p['id']}/consents",
        data={
            "document_id": doc_id,
            "patient_name": f"Test {p['identity']['family_name']}",
            "sign_username": api.world.usernames["clinician"],
            "sign_password": PASSWORD,
        },
    )
    assert ok.status_code == 204, ok.text
    page = web.get(f"/ui/patients/{p['id']}").text
    assert "Ketamine infusion consent (ketamine, version 1)" in page and "PDF as signed" in page
    consent_id = page.split('href="/consents/')[1].split(".pdf")[0]
    assert web.get(f"/consents/{consent_id}.pdf").content.startswith(b"%PDF")
    w = web.post(
        f"/ui/consents/{consent_id}/withdraw", data={"reason": "declined further sessions"}
    )
    assert w.status_code == 204
    assert "declined further sessions" in web.get(f"/ui/patients/{p['id']}").text
