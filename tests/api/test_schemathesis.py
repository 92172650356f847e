"""The REST API against its own OpenAPI document, with schemathesis (issue 17): for every
operation, examples generated from the document (a bounded number, derandomised so CI is
repeatable) are sent as a clinician, a researcher and an admin, on SQLite and on PostgreSQL, and every
answer must be free of server errors and conform to the document: a declared status code, a
declared content type, declared headers, a body that matches the declared schema, and a 405
that names every method the path takes.

Not checked here: whether the server accepts every schema-valid value (it refuses, on purpose,
values the document cannot express: business rules, dates outside 1850-2200, NUL).
"""

from __future__ import annotations

import secrets

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import (
    allow_header_conformance,
    content_type_conformance,
    not_a_server_error,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from raad.services import auth
from tests.dbfixtures import PASSWORD

CHECKS = [
    not_a_server_error,
    allow_header_conformance,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
]
EXAMPLES = 20  # per operation, role and database


@pytest.fixture(scope="module")
def fuzz_users(api, database):
    """A clinician, a researcher and an admin of their own (so failed-password confirmations
    the fuzzing sends lock nobody else out), with their bearer tokens."""
    tag = secrets.token_hex(3)
    headers = {}
    with database.transaction() as s:
        for role, site in (("clinician", api.world.site), ("researcher", None), ("admin", None)):
            auth.create_user(s, f"fuzz.{role}.{tag}", PASSWORD, role, site)
    for role in ("clinician", "researcher", "admin"):
        r = api.client.post(
            "/auth/token", data={"username": f"fuzz.{role}.{tag}", "password": PASSWORD}
        )
        headers[role] = {"Authorization": f"Bearer {r.json()['access_token']}"}
    return headers


@pytest.fixture(scope="module")
def api_schema(api):
    # /auth/logout ends the session the calls use; it has its own tests
    return schemathesis.openapi.from_asgi("/openapi.json", api.client.app).exclude(
        path="/auth/logout"
    )


_SETTINGS = settings(
    max_examples=EXAMPLES,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=list(HealthCheck),
)


def _fuzz(api_schema, headers: dict[str, str]) -> list[str]:
    """Every operation, EXAMPLES cases each; the failures as "METHOD /path: what failed"."""
    failures: list[str] = []
    for result in api_schema.get_all_operations():
        operation = result.ok()

        @_SETTINGS
        @given(case=operation.as_strategy())
        def run(case):
            case.call_and_validate(headers=headers, checks=CHECKS)

        try:
            run()
        except (Exception, BaseExceptionGroup) as exc:  # checks failed: note them, go on
            failures.append(f"{operation.label}: {str(exc)[:1500]}")
    return failures


@pytest.fixture(autouse=True)
def _no_lock_out(monkeypatch):
    # wrong current passwords are counted toward the lock-out, which would end the token
    monkeypatch.setattr(auth, "MAX_FAILED_LOGINS", 10**9)


@pytest.mark.parametrize("role", ["clinician", "researcher", "admin"])
def test_every_operation_conforms(api_schema, fuzz_users, role):
    failures = _fuzz(api_schema, fuzz_users[role])
    assert not failures, "\n\n".join(failures)
