"""The web app's pages, one module per page or group of pages (login, patients, courses,
sessions, ratings, research, admin, account); this module gathers their routers for the app.

Every page calls the same services as the REST API (authorisation, audit and the clinical core
included); templates only display what the services return, and no page queries the store.
"""

from __future__ import annotations

from fastapi import APIRouter

from . import (
    account,
    admin,
    clinic,
    consent,
    courses,
    login,
    patients,
    ratings,
    research,
    self_report_clinic,
    sessions,
    smart,
)
from .common import LoginRequired, fault_page, login_redirect

router = APIRouter()
for _page in (
    login,
    clinic,
    patients,
    courses,
    sessions,
    ratings,
    research,
    consent,
    admin,
    account,
    self_report_clinic,
    smart,
):
    router.include_router(_page.router)
root = login.root

__all__ = ["LoginRequired", "fault_page", "login_redirect", "root", "router"]
