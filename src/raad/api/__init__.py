"""REST API (FastAPI): resources over raad.services, OpenAPI at /docs."""

from .app import create_app

__all__ = ["create_app"]
