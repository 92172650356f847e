"""A local EHR for the SMART App Launch tests: an authorization server (SMART configuration,
authorize, token, JWKS) and a FHIR server serving the Synthea patient in
tests/fixtures/synthea/, run by uvicorn in a thread on a free port.

It behaves as SMART App Launch 2.2.0 asks of an EHR: the authorize request must name the
registered client and redirect URI, ``aud`` equal to the FHIR base URL and a PKCE S256
challenge; the token request must authenticate the client (HTTP Basic) and send the verifier
whose SHA-256 is the challenge; a code is used once. ``knobs`` changes what it answers (an id
token for another audience, an expired one, another user...) so the tests can see raad refuse.
"""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
import threading
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import jwt
import uvicorn
from cryptography.hazmat.primitives.asymmetric import rsa
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, RedirectResponse

from tests.serving import free_port

FIXTURE = Path(__file__).parent / "fixtures" / "synthea" / "patient-6a4160eb.ndjson"
PATIENT_ID = "6a4160eb-a793-2f86-2302-378626f46cce"
CLIENT_ID = "raad-test-client"
CLIENT_SECRET = "a-client-secret-of-some-length"
PRACTITIONER = "Practitioner/9a1f3c"
ENCOUNTER = "enc-77"


class Ehr:
    def __init__(self, redirect_uri: str, host: str = "127.0.0.1") -> None:
        """``host``: the name the EHR is addressed by (``localhost`` makes it another site than
        a raad at 127.0.0.1, as a real EHR is); it listens on 127.0.0.1 either way."""
        self.port = free_port()
        self.base = f"http://{host}:{self.port}"
        self.fhir = f"{self.base}/fhir"
        self.redirect_uri = redirect_uri
        self.key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self.resources = [json.loads(line) for line in FIXTURE.read_text().splitlines() if line]
        self.codes: dict[str, dict[str, Any]] = {}
        self.tokens: set[str] = set()
        self.launches = {"L-1": {"patient": PATIENT_ID, "encounter": ENCOUNTER}}
        self.knobs: dict[str, Any] = {}
        self.requests: list[str] = []
        self.app = self._app()
        self._server: uvicorn.Server | None = None

    # -- server ----------------------------------------------------------------------------

    def start(self) -> Ehr:
        config = uvicorn.Config(self.app, host="127.0.0.1", port=self.port, log_level="warning")
        self._server = uvicorn.Server(config)
        thread = threading.Thread(target=self._server.run, daemon=True)
        thread.start()
        deadline = time.time() + 20
        while not self._server.started:
            if time.time() > deadline:
                raise AssertionError("the local EHR did not start")
            time.sleep(0.05)
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.should_exit = True

    # -- tokens ----------------------------------------------------------------------------

    def jwks(self) -> dict[str, Any]:
        jwk = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(self.key.public_key()))
        jwk.update(kid="ehr-1", alg="RS256", use="sig")
        return {"keys": [jwk]}

    def id_token(self, nonce: str) -> str:
        now = int(time.time())
        claims = {
            "iss": self.knobs.get("id_token_iss", self.fhir),
            "sub": "user-1",
            "aud": self.knobs.get("id_token_aud", CLIENT_ID),
            "iat": now,
            "exp": now + self.knobs.get("id_token_exp_in", 300),
            "nonce": self.knobs.get("id_token_nonce", nonce),
            "fhirUser": self.knobs.get("fhir_user", f"{self.fhir}/{PRACTITIONER}"),
        }
        key = self.knobs.get("signing_key", self.key)
        return jwt.encode(claims, key, algorithm="RS256", headers={"kid": "ehr-1"})

    # -- the app ---------------------------------------------------------------------------

    def _app(self) -> FastAPI:
        app = FastAPI()
        ehr = self

        @app.middleware("http")
        async def log(request: Request, call_next):
            ehr.requests.append(f"{request.method} {request.url.path}")
            return await call_next(request)

        @app.get("/fhir/.well-known/smart-configuration")
        def configuration() -> dict[str, Any]:
            return {
                "issuer": ehr.fhir,
                "jwks_uri": f"{ehr.base}/auth/jwks",
                "authorization_endpoint": f"{ehr.base}/auth/authorize",
                "token_endpoint": f"{ehr.base}/auth/token",
                "grant_types_supported": ["authorization_code"],
                "token_endpoint_auth_methods_supported": ["client_secret_basic"],
                "scopes_supported": ["openid", "fhirUser", "launch", "launch/patient"],
                "response_types_supported": ["code"],
                "capabilities": [
                    "launch-ehr",
                    "launch-standalone",
                    "client-confidential-symmetric",
                    "sso-openid-connect",
                    "context-ehr-patient",
                    "context-ehr-encounter",
                    "context-standalone-patient",
                    "permission-v2",
                ],
                "code_challenge_methods_supported": ehr.knobs.get("pkce", ["S256"]),
            }

        @app.get("/auth/jwks")
        def keys() -> dict[str, Any]:
            return ehr.jwks()

        @app.get("/auth/authorize")
        def authorize(request: Request):
            q = dict(request.query_params)
            problems = []
            if q.get("response_type") != "code":
                problems.append("response_type")
            if q.get("client_id") != CLIENT_ID:
                problems.append("client_id")
            if q.get("redirect_uri") != ehr.redirect_uri:
                problems.append("redirect_uri")
            if q.get("aud") != ehr.fhir:
                problems.append("aud")
            if q.get("code_challenge_method") != "S256" or not q.get("code_challenge"):
                problems.append("code_challenge")
            scopes = set(q.get("scope", "").split())
            if "launch" in scopes:
                context = ehr.launches.get(q.get("launch", ""))
                if context is None:
                    problems.append("launch")
            elif "launch/patient" in scopes:
                context = {"patient": PATIENT_ID}  # the user picks her in the EHR's picker
            else:
                problems.append("scope")
            if problems:
                return JSONResponse({"error": "invalid_request", "bad": problems}, 400)
            code = secrets.token_urlsafe(16)
            ehr.codes[code] = {
                "challenge": q["code_challenge"],
                "nonce": q.get("nonce", ""),
                "scope": q["scope"],
                "redirect_uri": q["redirect_uri"],
                **context,
            }
            state = ehr.knobs.get("state", q.get("state", ""))
            return RedirectResponse(
                f"{q['redirect_uri']}?{urlencode({'code': code, 'state': state})}", 302
            )

        @app.post("/auth/token")
        async def token(request: Request):
            form = dict(await request.form())
            basic = request.headers.get("authorization", "")
            expected = base64.b64encode(f"{CLIENT_ID}:{CLIENT_SECRET}".encode()).decode()
            if basic != f"Basic {expected}":
                return JSONResponse({"error": "invalid_client"}, 401)
            grant = ehr.codes.pop(form.get("code", ""), None)
            if grant is None or form.get("grant_type") != "authorization_code":
                return JSONResponse({"error": "invalid_grant"}, 400)
            if form.get("redirect_uri") != grant["redirect_uri"]:
                return JSONResponse({"error": "invalid_grant", "bad": "redirect_uri"}, 400)
            verifier = form.get("code_verifier", "")
            digest = hashlib.sha256(verifier.encode()).digest()
            challenge = base64.urlsafe_b64encode(digest).rstrip(b"=").decode()
            if challenge != grant["challenge"]:
                return JSONResponse({"error": "invalid_grant", "bad": "code_verifier"}, 400)
            access = secrets.token_urlsafe(24)
            ehr.tokens.add(access)
            body = {
                "access_token": access,
                "token_type": "Bearer",
                "expires_in": ehr.knobs.get("expires_in", 3600),
                "scope": grant["scope"],
                "id_token": ehr.id_token(grant["nonce"]),
                "patient": grant["patient"],
            }
            if grant.get("encounter"):
                body["encounter"] = grant["encounter"]
            return body

        def authorised(request: Request) -> bool:
            scheme, _, tok = request.headers.get("authorization", "").partition(" ")
            return scheme == "Bearer" and tok in ehr.tokens

        @app.get("/fhir/Patient/{pid}")
        def patient(request: Request, pid: str):
            if not authorised(request):
                return JSONResponse({"resourceType": "OperationOutcome"}, 401)
            for r in ehr.resources:
                if r["resourceType"] == "Patient" and r["id"] == pid:
                    return JSONResponse(r, media_type="application/fhir+json")
            return JSONResponse({"resourceType": "OperationOutcome"}, 404)

        @app.get("/fhir/{kind}")
        def search(request: Request, kind: str):
            if not authorised(request):
                return JSONResponse({"resourceType": "OperationOutcome"}, 401)
            pid = request.query_params.get("patient")
            found = [
                r
                for r in ehr.resources
                if r["resourceType"] == kind
                and (r.get("subject") or r.get("patient") or {}).get("reference")
                == f"Patient/{pid}"
            ]
            return JSONResponse(
                {
                    "resourceType": "Bundle",
                    "type": "searchset",
                    "total": len(found),
                    "entry": [
                        {"fullUrl": f"{ehr.fhir}/{kind}/{r['id']}", "resource": r} for r in found
                    ],
                },
                media_type="application/fhir+json",
            )

        return app
