"""SMART App Launch (issue 22): raad opened from a local EHR (an authorization server and a FHIR
server serving a Synthea patient, tests/smart_ehr.py). A full EHR launch ends on the patient's
raad page with the context right (patient, encounter, user, site); a standalone launch works;
a bad or replayed ``state``, an id token for another audience, an expired or forged one, a
wrong nonce, an EHR user linked to no account, an unregistered EHR and an EHR without PKCE are
refused, and a refused launch opens no session. The EHR's tokens never reach the browser."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from typer.testing import CliRunner

from raad.api.deps import SESSION_COOKIE
from raad.services import smart
from raad.web.smart import STATE_COOKIE
from tests.smart_ehr import (
    CLIENT_ID,
    CLIENT_SECRET,
    ENCOUNTER,
    PATIENT_ID,
    PRACTITIONER,
    Ehr,
)

RAAD = "http://testserver"


@pytest.fixture(scope="module")
def ehr(database, world):
    e = Ehr(f"{RAAD}/smart/callback").start()
    with database.transaction() as s:
        smart.register(s, None, e.fhir, CLIENT_ID, CLIENT_SECRET, world.site)
        smart.link_user(s, None, e.fhir, PRACTITIONER, world.usernames["clinician"])
    yield e
    e.stop()


@pytest.fixture
def browser_client(database):
    """A client of its own (its own cookie jar), as one browser."""
    from fastapi.testclient import TestClient

    from raad.api import create_app

    with TestClient(create_app(database), raise_server_exceptions=False) as c:
        yield c


@pytest.fixture(autouse=True)
def _reset(ehr):
    ehr.knobs.clear()
    yield
    ehr.knobs.clear()


def _to_ehr(client, params) -> str:
    """raad's launch: the redirect to the EHR's authorize endpoint."""
    r = client.get("/smart/launch", params=params, follow_redirects=False)
    assert r.status_code == 302, r.text
    return r.headers["location"]


def _authorize(url: str) -> str:
    """The EHR approves and sends the browser back: raad's callback URL (path and query)."""
    r = httpx.get(url, follow_redirects=False)
    assert r.status_code == 302, r.text
    back = r.headers["location"]
    assert back.startswith(f"{RAAD}/smart/callback?")
    return back[len(RAAD) :]


def _launch(client, ehr, launch: str | None = "L-1"):
    params = {"iss": ehr.fhir} | ({"launch": launch} if launch else {})
    return client.get(_authorize(_to_ehr(client, params)), follow_redirects=False)


def test_ehr_launch_ends_on_the_patients_page_with_the_context(browser_client, ehr, api, world):
    url = _to_ehr(browser_client, {"iss": ehr.fhir, "launch": "L-1"})
    q = parse_qs(urlsplit(url).query)
    assert q["aud"] == [ehr.fhir] and q["launch"] == ["L-1"] and q["client_id"] == [CLIENT_ID]
    assert q["code_challenge_method"] == ["S256"] and len(q["code_challenge"][0]) == 43
    assert {"launch", "openid", "fhirUser"} <= set(q["scope"][0].split())
    r = browser_client.get(_authorize(url), follow_redirects=False)
    assert r.status_code == 200, r.text
    assert SESSION_COOKIE in r.cookies
    for t in ehr.tokens:  # the EHR's access token stays on the server
        assert t not in r.text and all(t not in v for v in r.cookies.values())
    ctx = browser_client.get("/smart/context").json()
    assert ctx["ehr_patient"] == PATIENT_ID and ctx["ehr_encounter"] == ENCOUNTER
    assert ctx["fhir_user"] == PRACTITIONER and ctx["site"] == world.site
    assert ctx["iss"] == ehr.fhir and "access_token" not in ctx
    pid = ctx["patient_id"]
    assert f'url=/ui/patients/{pid}"' in r.text
    page = browser_client.get(f"/ui/patients/{pid}")
    assert page.status_code == 200 and "Cummings51" in page.text  # the Synthea patient's name
    # the record was read from the EHR by the one FHIR reader: her hypertension is a fact
    record = api.client.get(f"/patients/{pid}", headers=api.h("clinician")).json()
    codes = {c.get("code") for c in record["facts"]["conditions"]}
    assert "59621000" in codes  # SNOMED CT essential hypertension, in the Synthea record
    assert record["site"] == world.site
    assert "GET /fhir/Condition" in ehr.requests and "GET /fhir/MedicationRequest" in ehr.requests


def test_a_second_launch_matches_the_same_patient(browser_client, ehr):
    first = _launch(browser_client, ehr)
    pid = browser_client.get("/smart/context").json()["patient_id"]
    assert first.status_code == 200
    again = _launch(browser_client, ehr)
    assert again.status_code == 200
    assert browser_client.get("/smart/context").json()["patient_id"] == pid


def test_standalone_launch(browser_client, ehr):
    url = _to_ehr(browser_client, {"iss": ehr.fhir})
    assert "launch/patient" in parse_qs(urlsplit(url).query)["scope"][0].split()
    r = browser_client.get(_authorize(url), follow_redirects=False)
    assert r.status_code == 200, r.text
    ctx = browser_client.get("/smart/context").json()
    assert ctx["ehr_patient"] == PATIENT_ID and ctx["ehr_encounter"] is None


def test_a_forged_state_is_refused(browser_client, ehr):
    ehr.knobs["state"] = "not-the-state-raad-sent"
    r = _launch(browser_client, ehr)
    assert r.status_code == 401 and "state" in r.text
    assert SESSION_COOKIE not in r.cookies


def test_a_replayed_callback_is_refused(browser_client, ehr, database):
    back = _authorize(_to_ehr(browser_client, {"iss": ehr.fhir, "launch": "L-1"}))
    bound = browser_client.cookies.get(STATE_COOKIE)
    assert browser_client.get(back, follow_redirects=False).status_code == 200
    again = browser_client.get(back, follow_redirects=False)
    assert again.status_code == 401 and "state" in again.text  # its cookie is gone
    # even with the state's cookie copied, the server has spent the state
    from fastapi.testclient import TestClient

    from raad.api import create_app

    with TestClient(create_app(database), raise_server_exceptions=False) as other:
        other.cookies.set(STATE_COOKIE, bound, path="/smart/callback")
        replay = other.get(back, follow_redirects=False)
    assert replay.status_code == 401 and "already used" in replay.text, replay.text[-800:]


def test_a_callback_carried_to_another_browser_is_refused(browser_client, ehr, database):
    """Login CSRF: someone starts a launch with their own EHR account and sends the callback
    URL to another person; that browser did not start the launch and is not logged in."""
    back = _authorize(_to_ehr(browser_client, {"iss": ehr.fhir, "launch": "L-1"}))
    from fastapi.testclient import TestClient

    from raad.api import create_app

    with TestClient(create_app(database), raise_server_exceptions=False) as victim:
        r = victim.get(back, follow_redirects=False)
        assert r.status_code == 401
        assert "this browser" in r.text and SESSION_COOKIE not in r.cookies
        assert victim.get("/smart/context").status_code == 404
    # the launch is still the starter's to finish
    assert browser_client.get(back, follow_redirects=False).status_code == 200


@pytest.mark.parametrize(
    ("knob", "value", "words"),
    [
        ("id_token_aud", "another-app", "audience"),
        ("id_token_exp_in", -600, "expired"),
        ("id_token_iss", "https://elsewhere.example/fhir", "issuer"),
        ("id_token_nonce", "another-nonce", "nonce"),
        ("expires_in", 0, "expired"),
    ],
)
def test_a_bad_token_is_refused(browser_client, ehr, knob, value, words):
    ehr.knobs[knob] = value
    r = _launch(browser_client, ehr)
    assert r.status_code == 401, r.text
    assert words in r.text.lower()
    assert SESSION_COOKIE not in r.cookies
    assert browser_client.get("/smart/context").status_code == 404


def test_an_id_token_signed_with_another_key_is_refused(browser_client, ehr):
    ehr.knobs["signing_key"] = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    r = _launch(browser_client, ehr)
    assert r.status_code == 401 and "signature" in r.text.lower()


def test_an_ehr_user_linked_to_no_account_is_refused(browser_client, ehr):
    ehr.knobs["fhir_user"] = "Practitioner/unknown-1"
    r = _launch(browser_client, ehr)
    assert r.status_code == 403
    assert "raad smart link" in r.text and "Practitioner/unknown-1" in r.text
    assert SESSION_COOKIE not in r.cookies


def test_a_user_of_another_site_is_refused(browser_client, ehr, database, world):
    with database.transaction() as s:
        smart.link_user(
            s, None, ehr.fhir, "Practitioner/elsewhere", world.usernames["other_clinician"]
        )
    ehr.knobs["fhir_user"] = "Practitioner/elsewhere"
    r = _launch(browser_client, ehr)
    assert r.status_code == 403 and "site" in r.text


def test_the_ehr_refusing_ends_the_launch(browser_client, ehr):
    url = _to_ehr(browser_client, {"iss": ehr.fhir, "launch": "L-1"})
    state = parse_qs(urlsplit(url).query)["state"][0]
    r = browser_client.get("/smart/callback", params={"error": "access_denied", "state": state})
    assert r.status_code == 401 and "access_denied" in r.text


def test_an_unregistered_ehr_is_never_contacted(browser_client, ehr):
    before = len(ehr.requests)
    r = browser_client.get(
        "/smart/launch",
        params={"iss": "http://127.0.0.1:9/fhir", "launch": "x"},
        follow_redirects=False,
    )
    assert r.status_code == 422 and "iss" in r.text
    assert browser_client.get("/smart/launch", follow_redirects=False).status_code == 422
    assert len(ehr.requests) == before


def test_an_ehr_without_pkce_s256_is_refused(browser_client, ehr):
    ehr.knobs["pkce"] = ["plain"]
    r = browser_client.get(
        "/smart/launch", params={"iss": ehr.fhir, "launch": "L-1"}, follow_redirects=False
    )
    assert r.status_code == 502 and "S256" in r.text


def test_cli_registers_links_and_lists_without_the_secret(database, world, tmp_path):
    from raad.cli import app

    secret = tmp_path / "secret"
    secret.write_text("another-secret-value-123\n")
    url = database.url
    runner = CliRunner()
    r = runner.invoke(
        app,
        [
            "smart",
            "register",
            "https://ehr.example.org/fhir",
            "--client-id",
            "raad-1",
            "--site",
            world.site,
            "--client-secret-file",
            str(secret),
            "--url",
            url,
        ],
    )
    assert r.exit_code == 0, r.output
    r = runner.invoke(
        app,
        [
            "smart",
            "link",
            "https://ehr.example.org/fhir",
            "https://ehr.example.org/fhir/Practitioner/7",
            world.usernames["clinician"],
            "--url",
            url,
        ],
    )
    assert r.exit_code == 0 and "Practitioner/7 at" in r.output, r.output
    r = runner.invoke(app, ["smart", "list", "--url", url])
    assert "https://ehr.example.org/fhir" in r.output and "raad-1" in r.output
    assert "another-secret-value" not in r.output
    r = runner.invoke(
        app,
        [
            "smart",
            "register",
            "ftp://x",
            "--client-id",
            "c",
            "--site",
            world.site,
            "--client-secret-file",
            str(secret),
            "--url",
            url,
        ],
    )
    assert r.exit_code != 0 and "iss" in r.output
