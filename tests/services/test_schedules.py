"""Self-report schedules: the slots a schedule asks for (after each session, or daily at a
local time through clock changes), no two closer than the instrument's recall period; a
course at an opted-in site starts with its agent's default; the jobs make each due link once,
e-mail the invitation over real SMTP with nothing identifying in it, and remind once before
expiry with a fresh token."""

from __future__ import annotations

import itertools
import re
from datetime import UTC, date, datetime, timedelta
from email import message_from_bytes, policy
from types import SimpleNamespace
from zoneinfo import ZoneInfo

from raad.interop.messaging import SmtpSender
from raad.services import jobs
from raad.services.schedules import due_slots
from tests.api.helpers import new_course, new_patient, session_body
from tests.services.test_outbox import smtp  # noqa: F401 - the SMTP server fixture

T0 = datetime(2026, 1, 5, 10, tzinfo=UTC)


def _s(**kw):
    base = {"anchor": "session", "offsets_hours": [168, 336], "instrument": "QIDS-SR16"}
    return SimpleNamespace(**{**base, **kw})


def test_session_slots_keep_the_recall_period_apart():
    """Twice-weekly sessions (days 0 and 3): one and two weeks after each would ask the
    QIDS-SR16 (past 7 days) every 3-4 days; slots closer than 168 h to the last kept are
    dropped."""
    sessions = [(1, T0), (2, T0 + timedelta(days=3)), (3, T0 + timedelta(days=7))]
    slots = due_slots(_s(), T0.date(), sessions, ZoneInfo("UTC"))
    gaps = [(b.due - a.due) for a, b in itertools.pairwise(slots)]
    assert all(g >= timedelta(hours=168) for g in gaps)
    assert slots[0].key == "s1+168h" and slots[0].due == T0 + timedelta(days=7)
    assert [s.key for s in slots] == ["s1+168h", "s1+336h", "s3+336h"]


def test_daily_slots_follow_the_sites_clock_through_a_clock_change():
    """20:00 in London is 20:00 UTC before 29 March 2026 and 19:00 UTC after (BST)."""
    s = SimpleNamespace(anchor="daily", local_time="20:00", days=3, instrument="LDN-DIARY")
    slots = due_slots(s, date(2026, 3, 28), [], ZoneInfo("Europe/London"))
    assert [x.key for x in slots] == ["d2026-03-28", "d2026-03-29", "d2026-03-30"]
    assert [x.due.astimezone(UTC).hour for x in slots] == [20, 19, 19]


def _body(raw: bytes) -> str:
    """The text of an e-mail as its reader sees it (transfer encoding undone)."""
    msg = message_from_bytes(raw, policy=policy.default)
    return msg["Subject"] + "\n" + msg.get_content()


def _enable(api) -> None:
    r = api.client.patch(
        f"/sites/{api.world.site}",
        json={"self_report": True, "crisis_text": "Call 999 in an emergency."},
        headers=api.h("admin"),
    )
    assert r.status_code == 200, r.text


def test_a_course_starts_with_its_agents_default(api):
    _enable(api)
    p = new_patient(api)
    c = new_course(api, p["id"], regimen="naltrexone-ldn")
    (s,) = api.client.get(
        f"/courses/{c['id']}/self-report-schedules", headers=api.h("clinician")
    ).json()
    assert s["origin"] == "ldn-daily-diary" and s["instrument"] == "LDN-DIARY"
    assert s["anchor"] == "daily" and s["days"] == 21 and s["local_time"] == "20:00"
    stopped = api.client.patch(
        f"/self-report-schedules/{s['id']}", json={"active": False}, headers=api.h("clinician")
    )
    assert stopped.status_code == 200 and stopped.json()["active"] is False
    added = api.client.post(
        f"/courses/{c['id']}/self-report-schedules",
        json={"instrument": "PHQ-9", "anchor": "daily", "local_time": "25:00", "days": 3},
        headers=api.h("clinician"),
    )
    assert added.status_code == 422 and added.json()["field"] == "local_time"
    other = api.client.patch(
        f"/self-report-schedules/{s['id']}",
        json={"active": True},
        headers=api.h("other_clinician"),
    )
    assert other.status_code == 403


def test_the_jobs_make_each_link_once_send_it_and_remind_once(api, database, smtp):  # noqa: F811
    controller, inbox = smtp
    _enable(api)
    p = new_patient(api)
    contact = api.client.put(
        f"/patients/{p['id']}/contact",
        json={"email": "patient@example.org", "channel": "email", "consent": True},
        headers=api.h("clinician"),
    )
    assert contact.status_code == 200
    now = datetime.now(UTC)
    c = new_course(api, p["id"], start=(now - timedelta(days=9)).date().isoformat())
    session = api.client.post(
        "/sessions",
        json=session_body(c["id"], start=(now - timedelta(days=8)).isoformat()),
        headers=api.h("clinician"),
    )
    assert session.status_code == 201, session.text
    sender = SmtpSender(controller.hostname, controller.port, "clinic@raad.example")
    before = len(inbox.messages)
    first = jobs.run_once(database, {"email": sender}, "https://raad.example")
    assert first["links_made"] >= 1 and first["sent"] >= 1
    mine = [m for m in inbox.messages[before:] if m[1] == ["patient@example.org"]]
    assert len(mine) == 1
    text = _body(mine[0][2])
    for secret in (p["identity"]["family_name"], p["identity"]["mrn"], "QIDS", "nitrous"):
        assert secret not in text
    url = re.search(r"https://raad\.example(/r/[A-Za-z0-9_\-]+)", text).group(1)
    assert api.client.get(url).status_code == 200
    links = api.client.get(f"/patients/{p['id']}/self-report", headers=api.h("clinician")).json()
    assert [x["state"] for x in links] == ["due"]  # the +168 h slot; +336 h is not due yet
    jobs.run_once(database, {"email": sender}, "https://raad.example")  # a second round
    assert len([m for m in inbox.messages[before:] if m[1] == ["patient@example.org"]]) == 1
    links_again = api.client.get(
        f"/patients/{p['id']}/self-report", headers=api.h("clinician")
    ).json()
    assert [x["id"] for x in links_again] == [x["id"] for x in links]  # made once
    # a day before it expires: one reminder, with its own token; both open the link
    expires = datetime.fromisoformat(links[0]["expires_at"])
    late = expires - timedelta(hours=23)
    jobs.run_once(database, {"email": sender}, "https://raad.example", now=late)
    jobs.run_once(database, {"email": sender}, "https://raad.example", now=late)
    ours = [m for m in inbox.messages[before:] if m[1] == ["patient@example.org"]]
    assert len(ours) == 2 and "Reminder" in _body(ours[1][2])
    url2 = re.search(r"https://raad\.example(/r/[A-Za-z0-9_\-]+)", _body(ours[1][2])).group(1)
    assert url2 != url and api.client.get(url2).status_code == 200
    answers = {**{str(i): 1 for i in range(1, 17)}}
    assert api.client.post(url2, data=answers).status_code == 200
    assert api.client.get(url).status_code == 410  # the link was answered, whichever token
    sender.close()
