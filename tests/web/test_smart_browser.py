"""SMART App Launch in a real browser (issue 22): Chromium goes from raad to the EHR's
authorize page (another site: localhost against raad's 127.0.0.1), back to raad's callback and
on to the patient's page, logged in by the launch alone."""

from __future__ import annotations

import pytest

from raad.services import smart
from tests.smart_ehr import CLIENT_ID, CLIENT_SECRET, ENCOUNTER, PATIENT_ID, PRACTITIONER, Ehr
from tests.web.conftest import serve_fresh


@pytest.fixture(scope="module")
def launched_server(tmp_path_factory):
    """A raad server whose site is registered at an EHR on another site (localhost vs
    127.0.0.1), as a real EHR and raad are."""
    ehr = Ehr("set below", host="localhost").start()

    def setup(s):
        smart.register(s, None, ehr.fhir, CLIENT_ID, CLIENT_SECRET, "EHR1")
        smart.link_user(s, None, ehr.fhir, PRACTITIONER, "dr.smart")

    gen = serve_fresh(tmp_path_factory, [("dr.smart", "clinician", "EHR1")], setup)
    base = next(gen)
    ehr.redirect_uri = f"{base}/smart/callback"
    yield base, ehr
    ehr.stop()
    next(gen, None)


def test_a_real_browser_launched_from_the_ehr_lands_on_the_patient(launched_server, page):
    """Chromium follows the whole launch: raad -> the EHR's authorize page (another site) ->
    raad's callback -> the patient's page, logged in by the launch alone (no raad password)."""
    base, ehr = launched_server
    page.goto(f"{base}/smart/launch?iss={ehr.fhir}&launch=L-1")
    page.wait_for_url(f"{base}/ui/patients/*")
    assert "Cummings51" in page.content()
    ctx = page.request.get(f"{base}/smart/context").json()
    assert ctx["ehr_patient"] == PATIENT_ID and ctx["ehr_encounter"] == ENCOUNTER
    assert ctx["site"] == "EHR1" and page.url.endswith(f"/ui/patients/{ctx['patient_id']}")
