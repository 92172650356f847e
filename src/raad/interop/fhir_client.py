"""Reading from an EHR's FHIR server (CDS Hooks' ``fhirServer``) when data was not prefetched.

``fetch(server, query, token)`` GETs ``{server}/{query}`` as ``application/fhir+json`` with the
bearer token, follows a searchset Bundle's ``next`` links (at most ``MAX_PAGES`` pages, each on
the same server) and returns the resource or a Bundle holding every page's entries. Only
servers a site lists in ``RAAD_CDS_FHIR_SERVERS`` (comma-separated base URLs), or the ones the
caller names in ``allowed`` (a SMART launch: the registered EHR), are read: a caller cannot make
raad send an EHR's token to, or probe, any other address. Errors raise ``FhirServerError``.
"""

from __future__ import annotations

import os
from typing import Any

import httpx

MAX_PAGES = 20
TIMEOUT_S = 10.0


class FhirServerError(RuntimeError):
    pass


def allowed_servers() -> tuple[str, ...]:
    raw = os.environ.get("RAAD_CDS_FHIR_SERVERS", "")
    return tuple(s.strip().rstrip("/") for s in raw.split(",") if s.strip())


def _allowed(url: str, servers: tuple[str, ...]) -> bool:
    return any(url == base or url.startswith(base + "/") for base in servers)


def fetch(
    server: str, query: str, token: str | None, allowed: tuple[str, ...] | None = None
) -> Any:
    servers = allowed_servers() if allowed is None else tuple(a.rstrip("/") for a in allowed)
    if not server.startswith(("https://", "http://")):
        raise FhirServerError("fhirServer is not an http(s) URL")
    if not _allowed(server.rstrip("/"), servers):
        raise FhirServerError("fhirServer is not one this site lists in RAAD_CDS_FHIR_SERVERS")
    headers = {"Accept": "application/fhir+json"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    url = f"{server.rstrip('/')}/{query.lstrip('/')}"
    entries: list[Any] = []
    first: Any = None
    with httpx.Client(timeout=TIMEOUT_S, headers=headers, follow_redirects=False) as client:
        for _ in range(MAX_PAGES):
            try:
                resp = client.get(url)
            except httpx.HTTPError as exc:
                raise FhirServerError(f"GET {url}: {type(exc).__name__}") from None
            if resp.status_code != 200:
                raise FhirServerError(f"GET {url}: HTTP {resp.status_code}")
            try:
                body = resp.json()
            except ValueError:
                raise FhirServerError(f"GET {url}: the answer is not JSON") from None
            if not isinstance(body, dict) or body.get("resourceType") != "Bundle":
                return body
            first = first or body
            entries += body.get("entry") or []
            nxt = next(
                (
                    link.get("url")
                    for link in body.get("link") or []
                    if isinstance(link, dict) and link.get("relation") == "next"
                ),
                None,
            )
            if not nxt:
                break
            if not _allowed(nxt, servers):
                raise FhirServerError("a next page outside the listed fhirServer")
            url = nxt
        else:
            raise FhirServerError(f"GET {url}: more than {MAX_PAGES} pages")
    return {**first, "entry": entries}
