"""PDF documents from a session record (ReportLab): the data of the SPRAVATO REMS Patient
Monitoring Form, filled from the record for the clinic to submit, and the printable session
record for the paper chart.

Each takes plain dicts (the services' views) and the site's time zone, and returns the PDF as
bytes; nothing here reads a database or a file. Times are printed in the site's zone with its
abbreviation, dates are the site's calendar days. What the record does not hold is printed as "not recorded", never left out
or guessed.
"""

from __future__ import annotations

import io
from datetime import datetime
from functools import cache
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import matplotlib
from reportlab.lib import colors
from reportlab.lib.pagesizes import A4
from reportlab.lib.styles import getSampleStyleSheet
from reportlab.lib.units import mm
from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.cidfonts import UnicodeCIDFont
from reportlab.pdfbase.pdfmetrics import registerFontFamily
from reportlab.pdfbase.ttfonts import TTFont
from reportlab.platypus import Paragraph, SimpleDocTemplate, Spacer, Table, TableStyle

from raad.knowledge.rems import load_rems

NOT_RECORDED = "not recorded"
_FONT = "DejaVuSans"
# ReportLab's CID fonts for what DejaVu Sans does not draw: Korean, Japanese kana, Chinese
# (the PDF names the font; the reader's own CJK fonts draw it, nothing is embedded)
_CJK = (
    ("HYSMyeongJo-Medium", ((0x1100, 0x11FF), (0x3130, 0x318F), (0xAC00, 0xD7AF))),
    ("HeiseiMin-W3", ((0x3040, 0x30FF), (0x31F0, 0x31FF))),
    (
        "STSong-Light",
        (
            (0x2E80, 0x2FDF),
            (0x3000, 0x303F),
            (0x3400, 0x4DBF),
            (0x4E00, 0x9FFF),
            (0xF900, 0xFAFF),
            (0xFF00, 0xFFEF),
        ),
    ),
)


@cache
def _styles() -> Any:
    """The sample styles in DejaVu Sans (Latin, Greek, Cyrillic, Hebrew, Arabic and more; the
    copy matplotlib ships), so names outside Latin-1 print as written, not as boxes."""
    base = Path(matplotlib.get_data_path()) / "fonts" / "ttf"
    faces = {
        "": "DejaVuSans",
        "-Bold": "DejaVuSans-Bold",
        "-Oblique": "DejaVuSans-Oblique",
        "-BoldOblique": "DejaVuSans-BoldOblique",
    }
    for suffix, file in faces.items():
        pdfmetrics.registerFont(TTFont(_FONT + suffix, str(base / f"{file}.ttf")))
    registerFontFamily(
        _FONT,
        normal=_FONT,
        bold=_FONT + "-Bold",
        italic=_FONT + "-Oblique",
        boldItalic=_FONT + "-BoldOblique",
    )
    for name, _ in _CJK:
        pdfmetrics.registerFont(UnicodeCIDFont(name))
    styles = getSampleStyleSheet()
    for style in styles.byName.values():
        font = getattr(style, "fontName", "")
        if "Bold" in font and ("Italic" in font or "Oblique" in font):
            style.fontName = _FONT + "-BoldOblique"
        elif "Bold" in font:
            style.fontName = _FONT + "-Bold"
        elif "Italic" in font or "Oblique" in font:
            style.fontName = _FONT + "-Oblique"
        elif hasattr(style, "fontName"):
            style.fontName = _FONT
    return styles


def _cjk_font(ch: str) -> str | None:
    code = ord(ch)
    for name, ranges in _CJK:
        if any(lo <= code <= hi for lo, hi in ranges):
            return name
    return None


def _markup(text: str) -> str:
    """Plain text as paragraph markup: escaped (a name with "<" is text, not markup), and runs
    of CJK characters set in a CID font."""
    drawn = pdfmetrics.getFont(_FONT).face.charToGlyph
    out: list[str] = []
    run_font: str | None = None
    for ch in text:
        font = None if ord(ch) in drawn else _cjk_font(ch)
        if font != run_font:
            if run_font:
                out.append("</font>")
            if font:
                out.append(f'<font name="{font}">')
            run_font = font
        out.append({"&": "&amp;", "<": "&lt;", ">": "&gt;"}.get(ch, ch))
    if run_font:
        out.append("</font>")
    return "".join(out)


def _p(text: Any, style: str = "BodyText") -> Paragraph:
    """A paragraph of plain text in the document's fonts."""
    styles = _styles()  # registers the fonts
    return Paragraph(_markup(str(text)), styles[style])


def _table(rows: list[tuple[Any, Any]], widths: tuple[float, float] = (62 * mm, 108 * mm)) -> Table:
    t = Table([[_p(k), _p(v)] for k, v in rows], colWidths=list(widths))
    t.setStyle(
        TableStyle(
            [
                ("GRID", (0, 0), (-1, -1), 0.4, colors.grey),
                ("VALIGN", (0, 0), (-1, -1), "TOP"),
                ("BACKGROUND", (0, 0), (0, -1), colors.whitesmoke),
            ]
        )
    )
    return t


def _when(iso: str | None, zone: str) -> str:
    """A stored time in the site's time zone (IANA name), with the zone's abbreviation."""
    if not iso:
        return NOT_RECORDED
    return datetime.fromisoformat(iso).astimezone(ZoneInfo(zone)).strftime("%Y-%m-%d %H:%M %Z")


def _day(iso: str, zone: str) -> str:
    """The site's calendar day of a stored time (ISO date)."""
    return datetime.fromisoformat(iso).astimezone(ZoneInfo(zone)).date().isoformat()


def _minutes(start: str, end: str | None) -> float | None:
    if not end:
        return None
    return (datetime.fromisoformat(end) - datetime.fromisoformat(start)).total_seconds() / 60


def _bp(v: dict[str, Any] | None) -> str:
    if not v or v.get("systolic") is None:
        return NOT_RECORDED
    return f"{v['systolic']:g}/{v['diastolic']:g} mmHg"


def _readings(session: dict[str, Any]) -> list[dict[str, Any]]:
    """Every blood pressure of the record with its minutes after the start: the series and the
    single before/after fields."""
    start = session["start"]
    out = [
        {**v, "min": _minutes(start, v["time"])}
        for v in session.get("vitals") or []
        if v.get("systolic") is not None
    ]
    if session.get("bp_pre"):
        out.append({**session["bp_pre"], "min": 0.0, "time": start})
    if session.get("bp_post"):
        out.append({**session["bp_post"], "min": session.get("bp_post_min"), "time": None})
    return out


def rems_points(session: dict[str, Any], due_min: float = 40) -> dict[str, str]:
    """The form's three blood pressures from the record: the last before dosing, the first
    at or after ``due_min`` minutes, and the last one taken (before completion). Readings
    taken at the same minute are all shown ("130/80 mmHg and 150/95 mmHg at 40 min"): the
    record does not say which one the clinician would report, so none is dropped."""
    timed = [r for r in _readings(session) if r["min"] is not None]
    before = [r for r in timed if r["min"] <= 0]
    after = [r for r in timed if r["min"] > 0]
    on_time = [r for r in after if r["min"] >= due_min]

    def at(group: list[dict[str, Any]], pick: Any) -> str:
        if not group:
            return NOT_RECORDED
        minute = pick(r["min"] for r in group)
        text = " and ".join(_bp(r) for r in group if r["min"] == minute)
        return f"{text} at {minute:g} min" if minute else text

    return {
        "before_administration": at(before, max),
        "at_40_min": at(on_time, min),
        "before_completion": at(after, max),
    }


def _series(session: dict[str, Any], key: str, unit: str) -> str:
    """One vital sign of the series as "value unit at N min; ..." (or not recorded)."""
    return (
        "; ".join(
            f"{v[key]:g}{unit} at {_minutes(session['start'], v['time']):g} min"
            for v in session.get("vitals") or []
            if v.get(key) is not None
        )
        or NOT_RECORDED
    )


def _signature_lines(sigs: list[dict[str, Any]], zone: str) -> list[Any]:
    """E-signatures as printed with a record (21 CFR 11.50): name, time, meaning, words."""
    if not sigs:
        return [_p("none")]
    return [
        _p(
            f"{g['printed_name']} ({g['username']}), {_when(g['signed_at'], zone)}, "
            f"{g['meaning_label']}: \u201c{g['statement']}\u201d"
            + (f" (withdrawn: {g['withdrawn_reason']})" if g.get("withdrawn_at") else "")
        )
        for g in sigs
    ]


def _build(story: list[Any], title: str) -> bytes:
    buf = io.BytesIO()
    doc = SimpleDocTemplate(
        buf,
        pagesize=A4,
        title=title,
        author="raad",
        leftMargin=18 * mm,
        rightMargin=18 * mm,
        topMargin=16 * mm,
        bottomMargin=16 * mm,
    )
    doc.build(story)
    return buf.getvalue()


def rems_form_pdf(
    session: dict[str, Any],
    patient: dict[str, Any],
    site: str,
    due_by: str,
    generated_at: str,
    zone: str = "UTC",
) -> bytes:
    """The REMS Patient Monitoring Form's data for one esketamine session.

    ``session``: the session view (with alerts); ``patient``: the identified patient view;
    ``site``: the healthcare setting's name; ``due_by``: the submission deadline (ISO date);
    ``generated_at``: when (ISO); ``zone``: the site's IANA time zone, in which the treatment
    date and every time are printed. Field list and deadline: ``knowledge/rems.yaml``.
    """
    rems = load_rems()
    ident = patient.get("identity") or {}
    med = session.get("concomitant") or {}
    points = rems_points(session)
    # monitoring completes at discharge (at least 2 hours); "ready to leave" answers the
    # form's separate evaluation question and may come earlier
    total = _minutes(session["start"], session.get("discharged_at"))
    ready = _minutes(session["start"], session.get("ready_to_leave_at"))
    dose = session.get("dose_mg")
    moaas = [
        f"{v['moaas']} at {_minutes(session['start'], v['time']):g} min"
        for v in session.get("vitals") or []
        if v.get("moaas") is not None
    ]
    story: list[Any] = [
        _p("SPRAVATO REMS Patient Monitoring Form: data from the session record", "Title"),
        _p(
            f"Prepared by raad on {_when(generated_at, zone)} from session #{session['id']}. Submit it "
            f"through the SPRAVATO REMS (online or by fax) by {due_by} "
            f"({rems.submit_within_days.note}); raad does not submit it.",
        ),
        Spacer(1, 4 * mm),
        _p("Patient", "Heading2"),
        _table(
            [
                ("First name", ident.get("given_name") or NOT_RECORDED),
                ("Last name", ident.get("family_name") or NOT_RECORDED),
                ("Birthdate", ident.get("birth_date") or NOT_RECORDED),
                ("Sex", patient.get("sex") or NOT_RECORDED),
            ]
        ),
        _p("Concomitant medications that may cause sedation or blood pressure changes", "Heading2"),
        _table(
            [
                (
                    m.label,
                    {True: "Yes", False: "No"}.get(med.get(m.key), NOT_RECORDED),
                )
                for m in rems.concomitant_medicines
            ]
        ),
        _p("Healthcare provider conducting the monitoring", "Heading2"),
        _table([("Name", session.get("observed_by") or NOT_RECORDED)]),
        _p("Healthcare setting", "Heading2"),
        _table([("Name", site), ("Address", "not held by raad: add it on the form")]),
        _p("Treatment session", "Heading2"),
        _table(
            [
                ("Treatment date", _day(session["start"], zone)),
                (
                    "Dose administered",
                    f"{dose:g} mg" if dose is not None else NOT_RECORDED,
                ),
                ("Lot number(s)", ", ".join(session.get("lot_numbers") or []) or NOT_RECORDED),
                (
                    "Total time from 1st device administration to completion of monitoring",
                    f"{total:g} minutes" if total is not None else NOT_RECORDED,
                ),
                (
                    "Ready to leave (minutes from start of administration)",
                    f"{ready:g} minutes" if ready is not None else NOT_RECORDED,
                ),
            ]
        ),
        _p("Blood pressure", "Heading2"),
        _table([(p.label, points[p.key]) for p in rems.blood_pressure_points]),
        _p(
            "Whether vital signs were in an acceptable range before administration and before "
            "completion is the clinician's answer on the form; raad's blood-pressure alerts on "
            "this session: "
            + (
                ", ".join(
                    f"{a['code']} ({a['message'][:80]})"
                    for a in session.get("alerts", [])
                    if a["code"].startswith("bp-")
                )
                or "none"
            )
            + "."
        ),
        _p("Sedation, dissociation and respiratory depression (as recorded)", "Heading2"),
        _table(
            [
                ("Sedation (MOAA/S)", "; ".join(moaas) or NOT_RECORDED),
                ("Respiratory status: pulse oximetry (SpO2)", _series(session, "spo2", "%")),
                ("Heart rate", _series(session, "heart_rate", "/min")),
                (
                    "Dissociation (CADSS total)",
                    f"{session['cadss_total']:g}"
                    if session.get("cadss_total") is not None
                    else NOT_RECORDED,
                ),
                (
                    "Adverse events",
                    ", ".join(
                        f"{e['event']} ({e.get('severity') or 'severity not given'})"
                        for e in session.get("adverse_events") or []
                    )
                    or "none recorded",
                ),
                (
                    "Not resolved at the last entry",
                    ", ".join(session.get("unresolved") or []) or "none",
                ),
            ]
        ),
        Spacer(1, 3 * mm),
        _p(rems.not_found, "Italic"),
        _p(
            "Sources: " + "; ".join(dict.fromkeys(c.source for c in rems.citations())),
            "Italic",
        ),
    ]
    return _build(story, f"REMS monitoring data, session {session['id']}")


def session_record_pdf(
    session: dict[str, Any],
    patient: dict[str, Any],
    course: dict[str, Any],
    site: str,
    generated_at: str,
    zone: str = "UTC",
) -> bytes:
    """The whole session record for the paper chart: what was given, the vital signs, the
    alerts with who acknowledged them, the e-signatures, and the record's times."""
    ident = patient.get("identity") or {}
    start = session["start"]
    story: list[Any] = [
        _p(f"Session record #{session['id']}", "Title"),
        _p(
            f"{ident.get('family_name', '')}, {ident.get('given_name', '')} · record number "
            f"{ident.get('mrn') or NOT_RECORDED} · born {ident.get('birth_date') or NOT_RECORDED}"
            f" · {site} · printed {_when(generated_at, zone)}"
        ),
        Spacer(1, 3 * mm),
        _p("Treatment", "Heading2"),
        _table(
            [
                ("Course", f"{course['regimen']} from {course['start']} ({course['status']})"),
                ("Agent and route", f"{session['agent']} ({session['route']})"),
                ("Start", _when(start, zone)),
                (
                    "Dose",
                    "; ".join(
                        x
                        for x in (
                            f"{session['dose_mg']:g} mg" if session.get("dose_mg") else "",
                            f"{session['dose_mg_per_kg']:g} mg/kg"
                            if session.get("dose_mg_per_kg")
                            else "",
                            f"{session['n2o_fraction'] * 100:g}% N2O"
                            if session.get("n2o_fraction")
                            else "",
                        )
                        if x
                    )
                    or NOT_RECORDED,
                ),
                (
                    "Duration",
                    f"{session['duration_min']:g} min"
                    if session.get("duration_min") is not None
                    else NOT_RECORDED,
                ),
                ("Lot number(s)", ", ".join(session.get("lot_numbers") or []) or NOT_RECORDED),
                ("Observed by", session.get("observed_by") or NOT_RECORDED),
                (
                    "Observation",
                    f"{session['observation_min']:g} min"
                    if session.get("observation_min") is not None
                    else NOT_RECORDED,
                ),
                ("Ready to leave", _when(session.get("ready_to_leave_at"), zone)),
                ("Discharged", _when(session.get("discharged_at"), zone)),
                ("Notes", session.get("notes") or "none"),
            ]
        ),
        _p("Vital signs", "Heading2"),
    ]
    vitals = session.get("vitals") or []
    rows = [[f"Time ({zone})", "Min", "BP (mmHg)", "Heart rate", "SpO2 %", "MOAA/S"]]
    for v in vitals:
        rows.append(
            [
                _when(v["time"], zone)[11:16],
                f"{_minutes(start, v['time']):g}",
                _bp(v) if v.get("systolic") is not None else "",
                f"{v['heart_rate']:g}" if v.get("heart_rate") is not None else "",
                f"{v['spo2']:g}" if v.get("spo2") is not None else "",
                str(v["moaas"]) if v.get("moaas") is not None else "",
            ]
        )
    if session.get("bp_pre"):
        rows.append(["before dosing", "", _bp(session["bp_pre"]), "", "", ""])
    if session.get("bp_post"):
        at = session.get("bp_post_min")
        rows.append(
            [
                "after dosing",
                f"{at:g}" if at is not None else "?",
                _bp(session["bp_post"]),
                "",
                "",
                "",
            ]
        )
    if len(rows) == 1:
        story.append(_p(NOT_RECORDED))
    else:
        t = Table(rows, repeatRows=1)
        t.setStyle(TableStyle([("GRID", (0, 0), (-1, -1), 0.4, colors.grey)]))
        story.append(t)
    story.append(_p("Alerts", "Heading2"))
    alerts = session.get("alerts") or []
    if not alerts:
        story.append(_p("none"))
    for a in alerts:
        line = f"[{a['level']}] {a['message']} (sources: {', '.join(a['sources'])})"
        if a.get("acknowledged_at"):
            line += (
                f" Acknowledged {_when(a['acknowledged_at'], zone)} by "
                f"{a.get('acknowledged_by_username') or a.get('acknowledged_by')}"
                + (f": {a['acknowledgement_note']}" if a.get("acknowledgement_note") else "")
            )
        story.append(_p(line))
    story.append(_p("Electronic signatures", "Heading2"))
    sigs = list(session.get("signatures") or []) + [
        g for a in alerts for g in a.get("signatures") or []
    ]
    story += _signature_lines(sigs, zone)
    return _build(story, f"Session record {session['id']}")


def consent_pdf(
    document: dict[str, Any],
    patient: dict[str, Any],
    patient_name: str,
    site: str,
    signer: dict[str, str],
    zone: str = "UTC",
) -> bytes:
    """A signed consent as archived: the document's text and version, whose consent, and the
    clinician's e-signature (printed name, time, meaning and the words signed).

    ``signer``: printed_name, username, signed_at (ISO), meaning_label, statement.
    """
    ident = patient.get("identity") or {}
    story: list[Any] = [
        _p(document["title"], "Title"),
        _p(f"{site} · {document['agent']} · consent document version {document['version']}"),
        Spacer(1, 3 * mm),
    ]
    for para in document["body"].split("\n\n"):
        story.append(_p(para.strip()))
    story += [
        Spacer(1, 4 * mm),
        _p("Patient", "Heading2"),
        _table(
            [
                ("Name (as given)", patient_name),
                (
                    "Name on record",
                    f"{ident.get('family_name', '')}, {ident.get('given_name', '')}",
                ),
                ("Record number", ident.get("mrn") or NOT_RECORDED),
                ("Birthdate", ident.get("birth_date") or NOT_RECORDED),
            ]
        ),
        _p("Consent obtained by (electronic signature)", "Heading2"),
        _table(
            [
                ("Printed name", f"{signer['printed_name']} ({signer['username']})"),
                ("Date and time", _when(signer["signed_at"], zone)),
                ("Meaning", f"{signer['meaning_label']}: \u201c{signer['statement']}\u201d"),
            ]
        ),
    ]
    return _build(story, f"Consent, {document['title']}")


def course_summary_pdf(
    course: dict[str, Any],
    sessions: list[dict[str, Any]],
    ratings: list[dict[str, Any]],
    patient: dict[str, Any],
    site: str,
    generated_at: str,
    zone: str = "UTC",
) -> bytes:
    """A course for the paper chart: the plan, every session recorded (dose, blood pressures,
    alerts, discharge), the ratings over the course, and the course's signatures."""
    ident = patient.get("identity") or {}
    story: list[Any] = [
        _p(f"Course summary: {course['regimen']}", "Title"),
        _p(
            f"{ident.get('family_name', '')}, {ident.get('given_name', '')} · record number "
            f"{ident.get('mrn') or NOT_RECORDED} · {site} · printed {_when(generated_at, zone)}"
        ),
        _table(
            [
                ("Agent", course["agent"]),
                ("Start", course["start"]),
                (
                    "Status",
                    course["status"] + (" (signed and locked)" if course.get("locked_at") else ""),
                ),
                ("Sessions planned", str(len(course["plan"].get("sessions", [])))),
                ("Sessions recorded", str(len(sessions))),
            ]
        ),
        _p("Sessions", "Heading2"),
    ]
    rows = [[f"Start ({zone})", "Dose", "BP before / after", "Discharged"]]
    for s in sessions:
        dose = (
            f"{s['dose_mg']:g} mg"
            if s.get("dose_mg")
            else f"{s['n2o_fraction'] * 100:g}% N2O"
            if s.get("n2o_fraction")
            else NOT_RECORDED
        )
        points = rems_points(s)
        rows.append(
            [
                _when(s["start"], zone)[:16],
                dose,
                f"{points['before_administration']} / {points['before_completion']}",
                _when(s.get("discharged_at"), zone)[:16] if s.get("discharged_at") else "no",
            ]
        )
    if len(rows) == 1:
        story.append(_p("none"))
    else:
        t = Table([[_p(c) for c in r] for r in rows], repeatRows=1)
        t.setStyle(TableStyle([("GRID", (0, 0), (-1, -1), 0.4, colors.grey)]))
        story.append(t)
    story.append(_p("Ratings", "Heading2"))
    if not ratings:
        story.append(_p("none"))
    for r in ratings:
        story.append(
            _p(
                f"{_when(r['administered_at'], zone)[:16]}: {r['instrument']} "
                + (f"{r['total']:g}" if r.get("total") is not None else "incomplete")
                + (f" ({r['severity']})" if r.get("severity") else "")
            )
        )
    story.append(_p("Electronic signatures", "Heading2"))
    sigs = course.get("signatures") or []
    story += _signature_lines(sigs, zone)
    return _build(story, f"Course summary {course['id']}")
