"""The ASGI application object for uvicorn (``raad.api.server:app``), bound to
``RAAD_DATABASE_URL``."""

from __future__ import annotations

from .app import create_app

app = create_app()
