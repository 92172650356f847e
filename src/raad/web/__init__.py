"""The clinician web app: server-rendered pages (Jinja2) with HTMX, on the API's FastAPI app and
the same services. Business rules live in raad.services and raad.clinical, never in templates."""

from .routes import router

__all__ = ["router"]
