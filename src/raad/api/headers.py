"""Security headers on every response (pure ASGI: the headers are added as the response
starts, whatever produced it - a route, an error handler or the request guard):

- ``Content-Security-Policy``: scripts only from raad itself (no inline script, nothing from
  elsewhere; the API docs page, whose Swagger UI starts with an inline script, is the one page
  allowed inline script), no framing (``frame-ancestors 'none'``), no plugins, forms posting
  only to raad;
- ``X-Frame-Options: DENY`` for browsers without ``frame-ancestors``; ``X-Content-Type-Options:
  nosniff``; ``Referrer-Policy: no-referrer`` (a patient id in a URL never leaves);
- ``Cache-Control: no-store`` on everything but the static assets: patient data is never kept
  in a browser's or a proxy's cache.
"""

from __future__ import annotations

from typing import Any

_POLICY = (
    "default-src 'self'; script-src 'self'{docs}; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data:; connect-src 'self'; object-src 'none'; base-uri 'none'; "
    "form-action 'self'; frame-ancestors 'none'"
)
_STATIC = ("/static/", "/docs-static/")


def security_headers(path: str) -> list[tuple[bytes, bytes]]:
    docs = " 'unsafe-inline'" if path.startswith("/docs") and not path.startswith(_STATIC) else ""
    out = [
        (b"content-security-policy", _POLICY.format(docs=docs).encode()),
        (b"x-frame-options", b"DENY"),
        (b"x-content-type-options", b"nosniff"),
        (b"referrer-policy", b"no-referrer"),
    ]
    if not path.startswith(_STATIC):
        out.append((b"cache-control", b"no-store"))
    return out


class SecurityHeaders:
    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        extra = security_headers(scope["path"])

        async def send_with_headers(message: dict) -> None:
            if message["type"] == "http.response.start":
                names = {k.lower() for k, _ in message.get("headers", [])}
                message = {
                    **message,
                    "headers": [
                        *message.get("headers", []),
                        *((k, v) for k, v in extra if k not in names),
                    ],
                }
            await send(message)

        await self.app(scope, receive, send_with_headers)
