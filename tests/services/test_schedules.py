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
    p = _patient_with_due_link(api, "patient@example.org")
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


def test_schedule_values_that_make_no_sense_are_refused(api):
    """Break-test findings: fields of the other anchor stored, non-ASCII digits, strings for
    numbers, duplicate offsets, a link lifetime of a nanosecond, the LDN diary on a ketamine
    course."""
    _enable(api)
    p = new_patient(api)
    ket = new_course(api, p["id"], regimen="ketamine-iv-weekly", weight_kg=70)
    url = f"/courses/{ket['id']}/self-report-schedules"
    h = api.h("clinician")
    for body, field in (
        (
            {"instrument": "LDN-DIARY", "anchor": "daily", "local_time": "20:00", "days": 3},
            "instrument",
        ),
        (
            {
                "instrument": "PHQ-9",
                "anchor": "daily",
                "local_time": "\u0662\u0660:\u0660\u0660",
                "days": 3,
            },
            "local_time",
        ),
        ({"instrument": "PHQ-9", "anchor": "daily", "local_time": "20:00", "days": True}, "days"),
        ({"instrument": "PHQ-9", "anchor": "session", "offsets_hours": ["12"]}, "offsets_hours"),
        (
            {"instrument": "PHQ-9", "anchor": "session", "offsets_hours": [168, 168]},
            "offsets_hours",
        ),
        (
            {
                "instrument": "PHQ-9",
                "anchor": "session",
                "offsets_hours": [24],
                "valid_hours": 1e-9,
            },
            "valid_hours",
        ),
        ({"instrument": "PHQ-9", "anchor": "session", "offsets_hours": [24], "days": 4}, "days"),
    ):
        r = api.client.post(url, json=body, headers=h)
        assert r.status_code == 422, (body, r.text)
        assert r.json()["field"].split(".")[0] == field, (body, r.json())
    ok = api.client.post(
        url, json={"instrument": "PHQ-9", "anchor": "session", "offsets_hours": [24]}, headers=h
    )
    assert ok.status_code == 201
    odd = api.client.patch(
        f"/self-report-schedules/{ok.json()['id']}",
        json={"local_time": "99:99", "days": 4},
        headers=h,
    )
    assert odd.status_code == 422


def test_two_schedules_never_ask_within_the_recall_period_and_old_slots_are_not_sent(api, database):
    """Two PHQ-9 schedules at 168 h made two links for one session; a schedule started in the
    past made every unexpired past slot at once (15 e-mails to one patient)."""
    _enable(api)
    p = new_patient(api)
    now = datetime.now(UTC)
    c = new_course(
        api,
        p["id"],
        regimen="ketamine-iv-weekly",
        weight_kg=70,
        start=(now - timedelta(days=30)).date().isoformat(),
    )
    s = api.client.post(
        "/sessions",
        json=session_body(
            c["id"],
            n2o_fraction=None,
            dose_mg_per_kg=0.5,
            route=None,
            start=(now - timedelta(days=8)).isoformat(),
        ),
        headers=api.h("clinician"),
    )
    assert s.status_code == 201, s.text
    url = f"/courses/{c['id']}/self-report-schedules"
    for offsets in ([168], [168.5]):
        r = api.client.post(
            url,
            json={
                "instrument": "PHQ-9",
                "anchor": "session",
                "offsets_hours": offsets,
                "valid_hours": 720,
            },
            headers=api.h("clinician"),
        )
        assert r.status_code == 201
    daily = api.client.post(
        url,
        json={
            "instrument": "QIDS-SR16",
            "anchor": "daily",
            "local_time": "09:00",
            "days": 60,
            "valid_hours": 720,
        },
        headers=api.h("clinician"),
    )
    assert daily.status_code == 201
    jobs.run_once(database, {}, None)
    jobs.run_once(database, {}, None)
    links = api.client.get(f"/patients/{p['id']}/self-report", headers=api.h("clinician")).json()
    by = {}
    for x in links:
        by.setdefault(x["instrument"], []).append(x)
    assert len(by["PHQ-9"]) == 1  # the second schedule fell within the recall period
    assert len(by["QIDS-SR16"]) <= 2  # the ketamine default and the daily one, not 30 days'
    qids = sorted(datetime.fromisoformat(x["due_at"]) for x in by["QIDS-SR16"])
    assert all(b - a >= timedelta(hours=168) for a, b in itertools.pairwise(qids))


def _patient_with_due_link(api, email: str):
    p = new_patient(api)
    contact = api.client.put(
        f"/patients/{p['id']}/contact",
        json={"email": email, "channel": "email", "consent": True},
        headers=api.h("clinician"),
    )
    assert contact.status_code == 200
    now = datetime.now(UTC)
    c = new_course(api, p["id"], start=(now - timedelta(days=9)).date().isoformat())
    r = api.client.post(
        "/sessions",
        json=session_body(c["id"], start=(now - timedelta(days=8)).isoformat()),
        headers=api.h("clinician"),
    )
    assert r.status_code == 201
    return p


def _messages(database, pid: int) -> list:
    from sqlalchemy import select

    from raad.store.models import OutboxMessage, SelfReportLink

    with database.transaction(write=False) as s:
        return s.execute(
            select(OutboxMessage.status, OutboxMessage.body, OutboxMessage.last_error)
            .join(SelfReportLink, SelfReportLink.id == OutboxMessage.link_id)
            .where(SelfReportLink.patient_id == pid)
        ).all()


def test_queued_messages_go_only_while_consent_and_the_link_stand(api, database, smtp):  # noqa: F811
    """Break-test finding: after consent was withdrawn and a link revoked, the next round
    still e-mailed them. Also: with no sender for the channel nothing is queued to fail."""
    from raad.services import schedules

    controller, inbox = smtp
    _enable(api)
    quiet = _patient_with_due_link(api, "quiet@example.org")
    jobs.run_once(database, {}, "https://raad.example")  # no e-mail sender configured
    assert _messages(database, quiet["id"]) == []
    withdrawn = _patient_with_due_link(api, "withdrawn@example.org")
    revoked = _patient_with_due_link(api, "revoked@example.org")
    with database.transaction() as s:
        schedules.materialize(s, datetime.now(UTC), "https://raad.example")
    assert [m.status for m in _messages(database, withdrawn["id"])] == ["pending"]
    api.client.put(
        f"/patients/{withdrawn['id']}/contact", json={"channel": "none"}, headers=api.h("clinician")
    )
    (link,) = api.client.get(
        f"/patients/{revoked['id']}/self-report", headers=api.h("clinician")
    ).json()
    api.client.post(
        f"/self-report/{link['id']}/revoke", json={"reason": "in error"}, headers=api.h("clinician")
    )
    for pid in (withdrawn["id"], revoked["id"]):
        (m,) = _messages(database, pid)
        assert m.status == "cancelled" and m.body is None, m
    sender = SmtpSender(controller.hostname, controller.port)
    before = len(inbox.messages)
    jobs.run_once(database, {"email": sender}, "https://raad.example")
    sender.close()
    to = {r for m in inbox.messages[before:] for r in m[1]}
    assert not to & {"withdrawn@example.org", "revoked@example.org"}


def test_a_link_made_before_a_sender_existed_is_sent_once_one_exists(api, database, smtp):  # noqa: F811
    controller, inbox = smtp
    _enable(api)
    p = _patient_with_due_link(api, "later@example.org")
    jobs.run_once(database, {}, "https://raad.example")
    assert _messages(database, p["id"]) == []
    sender = SmtpSender(controller.hostname, controller.port)
    before = len(inbox.messages)
    jobs.run_once(database, {"email": sender}, "https://raad.example")
    jobs.run_once(database, {"email": sender}, "https://raad.example")
    sender.close()
    assert [m[1] for m in inbox.messages[before:]].count(["later@example.org"]) == 1


def test_an_admin_sees_failed_messages_and_sends_one_again(api, database, monkeypatch):
    from typer.testing import CliRunner

    from raad.cli import app
    from raad.services import outbox

    _enable(api)
    p = _patient_with_due_link(api, "again@example.org")
    dead = SmtpSender("127.0.0.1", 9, timeout=1)  # nothing listens on the discard port
    jobs.run_once(database, {"email": dead}, "https://raad.example")
    later = datetime.now(UTC)
    for _ in range(outbox.MAX_ATTEMPTS):
        later += timedelta(hours=3)
        outbox.deliver(database.transaction, {"email": dead}, now=lambda at=later: at)
    assert [m.status for m in _messages(database, p["id"])] == ["failed"]
    monkeypatch.setenv("RAAD_DATABASE_URL", database.url)
    monkeypatch.setenv("RAAD_PUBLIC_URL", "https://raad.example")
    status = CliRunner().invoke(app, ["jobs", "status"])
    assert status.exit_code == 0 and "failed" in status.output
    assert "again@example.org" not in status.output  # no addresses printed
    mid = int(re.search(r"#(\d+) failed", status.output).group(1))
    again = CliRunner().invoke(app, ["jobs", "resend", str(mid)])
    assert again.exit_code == 0, again.output
    assert sorted(m.status for m in _messages(database, p["id"])) == ["cancelled", "pending"]
    twice = CliRunner().invoke(app, ["jobs", "resend", str(mid)])
    assert twice.exit_code != 0 and "failed or whose fate is unknown" in twice.output
