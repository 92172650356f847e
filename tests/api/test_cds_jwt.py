"""CDS Hooks 2.0 client authentication (issue 22): an EHR signs each call with a JWT whose
key raad reads from the EHR's JWKS URL (served here by a local HTTP server). Valid calls are
answered; an untrusted issuer, an expired token, a replayed jti, a wrong audience and a
wrong key are refused; raad bearer tokens still work."""

from __future__ import annotations

import json
import secrets
import threading
import time
from http.server import BaseHTTPRequestHandler, HTTPServer

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from typer.testing import CliRunner

from raad.interop.cds_hooks import PREFETCH

SERVICE = "http://testserver/cds-services/raad-screening"
REQUEST = {
    "hook": "patient-view",
    "hookInstance": "x",
    "context": {"patientId": "p"},
    "prefetch": {k: None for k in PREFETCH} | {"patient": {"resourceType": "Patient", "id": "p"}},
}


@pytest.fixture(scope="module")
def ehr():
    """An EHR's signing key, and its JWKS served at a local URL."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    jwk = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(key.public_key()))
    jwk.update(kid="ehr-key-1", alg="RS384", use="sig")
    body = json.dumps({"keys": [jwk]}).encode()

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    server = HTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield {"key": key, "jwks_url": f"http://127.0.0.1:{server.server_port}/jwks.json"}
    server.shutdown()


def _token(key, iss="https://ehr.example", aud=SERVICE, exp_in=300, jti=None, kid="ehr-key-1"):
    now = int(time.time())
    claims = {
        "iss": iss,
        "sub": "client",
        "aud": aud,
        "iat": now,
        "exp": now + exp_in,
        "jti": jti or secrets.token_hex(8),
    }
    return jwt.encode(claims, key, algorithm="RS384", headers={"kid": kid})


def _call(api, token):
    return api.client.post(
        "/cds-services/raad-screening", json=REQUEST, headers={"Authorization": f"Bearer {token}"}
    )


def test_signed_calls_from_a_trusted_ehr(api, database, ehr):
    from raad.cli import app

    out = CliRunner().invoke(
        app,
        [
            "cds",
            "trust",
            "https://ehr.example",
            "--jwks-url",
            ehr["jwks_url"],
            "--user",
            api.world.usernames["clinician"],
            "--url",
            str(database.url),
        ],
    )
    assert out.exit_code == 0, out.output
    ok = _call(api, _token(ehr["key"]))
    assert ok.status_code == 200 and len(ok.json()["cards"]) == 4

    token = _token(ehr["key"], jti="once-only")
    assert _call(api, token).status_code == 200
    replay = _call(api, token)
    assert replay.status_code == 401 and "replay" in replay.json()["message"]

    expired = _call(api, _token(ehr["key"], exp_in=-120))
    assert expired.status_code == 401 and "expired" in expired.json()["message"].lower()
    wrong_aud = _call(api, _token(ehr["key"], aud="https://elsewhere.example/cds-services/x"))
    assert wrong_aud.status_code == 401 and "audience" in wrong_aud.json()["message"].lower()
    untrusted = _call(api, _token(ehr["key"], iss="https://other-ehr.example"))
    assert untrusted.status_code == 401 and "not trusted" in untrusted.json()["message"]
    other_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    forged = _call(api, _token(other_key))
    assert forged.status_code == 401

    # a raad bearer token (a service account) still works
    assert (
        api.client.post(
            "/cds-services/raad-screening", json=REQUEST, headers=api.h("clinician")
        ).status_code
        == 200
    )


def test_trust_refuses_bad_settings(database, api):
    from raad.services import cds_trust
    from raad.services.errors import InvalidInput, NotFound

    with database.transaction() as s:
        with pytest.raises(InvalidInput, match="jwks_url"):
            cds_trust.trust(s, None, "https://ehr.example", "http://ehr.example/jwks", "x")
        with pytest.raises(NotFound, match="user"):
            cds_trust.trust(s, None, "https://ehr.example", "https://ehr.example/jwks", "nobody-x")


def test_feedback_is_stored_and_shown(api):
    """CDS Hooks feedback: accepted and overridden cards (with the reason) are kept and counted
    in the cohort view; a malformed item is refused naming its path."""
    from tests.api.helpers import browser_as

    cards = api.client.post(
        "/cds-services/raad-screening", json=REQUEST, headers=api.h("clinician")
    ).json()["cards"]
    warned = [c for c in cards if c["indicator"] != "info"]
    assert all(c["overrideReasons"] for c in warned)
    reason = warned[0]["overrideReasons"][0] if warned else {"code": "x", "display": "X"}
    body = {
        "feedback": [
            {
                "card": cards[0]["uuid"],
                "outcome": "accepted",
                "outcomeTimestamp": "2026-11-30T10:00:00Z",
            },
            {
                "card": cards[1]["uuid"],
                "outcome": "overridden",
                "outcomeTimestamp": "2026-11-30T10:01:00+00:00",
                "overrideReason": {"reason": reason, "userComment": "discussed with the patient"},
            },
        ]
    }
    r = api.client.post(
        "/cds-services/raad-screening/feedback", json=body, headers=api.h("clinician")
    )
    assert r.status_code == 200 and r.json() == {"stored": 2}
    bad = {
        "feedback": [{"card": "c", "outcome": "ignored", "outcomeTimestamp": "2026-11-30T10:00Z"}]
    }
    refused = api.client.post(
        "/cds-services/raad-screening/feedback", json=bad, headers=api.h("clinician")
    )
    assert refused.status_code == 422 and "feedback[0].outcome" in refused.json()["message"]
    assert (
        api.client.post(
            "/cds-services/nope/feedback", json=body, headers=api.h("clinician")
        ).status_code
        == 404
    )
    assert api.client.post("/cds-services/raad-screening/feedback", json=body).status_code == 401
    page = browser_as(api, "clinician").get("/ui/cohort")
    assert "overridden" in page.text and reason["display"] in page.text
