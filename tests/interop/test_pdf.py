"""The PDFs from plain session views (no database): the REMS form's blood-pressure points,
the vital signs the form reports, the site's time zone and names in any script."""

from __future__ import annotations

import io

from pypdf import PdfReader

from raad.interop.pdf import consent_pdf, rems_form_pdf, rems_points

START = "2026-01-05T11:00:00+00:00"


def _session(**over):
    return {
        "id": 7,
        "start": START,
        "dose_mg": 56,
        "vitals": [],
        "alerts": [],
        "lot_numbers": ["L1"],
        **over,
    }


def _text(pdf: bytes) -> str:
    return "\n".join(p.extract_text() for p in PdfReader(io.BytesIO(pdf)).pages)


def test_readings_at_the_same_minute_are_all_shown():
    """A break test: two readings at 40 min (a repeat because the first was high) printed
    only the first; the record does not say which the clinician reports, so both show."""
    vitals = [
        {"time": "2026-01-05T10:55:00+00:00", "systolic": 128, "diastolic": 78},
        {"time": "2026-01-05T11:40:00+00:00", "systolic": 182, "diastolic": 96},
        {"time": "2026-01-05T11:40:00+00:00", "systolic": 150, "diastolic": 90},
        {"time": "2026-01-05T13:05:00+00:00", "systolic": 132, "diastolic": 80},
    ]
    points = rems_points(_session(vitals=vitals))
    assert points["before_administration"] == "128/78 mmHg at -5 min"
    assert points["at_40_min"] == "182/96 mmHg and 150/90 mmHg at 40 min"
    assert points["before_completion"] == "132/80 mmHg at 125 min"


def test_the_form_reports_pulse_oximetry_and_heart_rate():
    vitals = [
        {"time": "2026-01-05T11:40:00+00:00", "spo2": 93, "heart_rate": 88},
        {"time": "2026-01-05T12:20:00+00:00", "spo2": 97},
    ]
    text = _text(rems_form_pdf(_session(vitals=vitals), {}, "Clinic", "2026-01-12", START))
    assert "93% at 40 min; 97% at 80 min" in text
    assert "88/min at 40 min" in text


def test_dates_and_times_are_the_sites():
    """11:00 UTC on 5 January is 01:00 on 6 January at UTC+14 (Pacific/Kiritimati): the
    form's treatment date is the site's day, not the UTC one."""
    session = _session(discharged_at="2026-01-05T13:10:00+00:00")
    utc = _text(rems_form_pdf(session, {}, "Clinic", "2026-01-12", START))
    there = _text(
        rems_form_pdf(session, {}, "Clinic", "2026-01-13", START, zone="Pacific/Kiritimati")
    )
    assert "Treatment date\n2026-01-05" in utc and "Treatment date\n2026-01-06" in there
    assert "2026-01-06 01:00 +14" in there  # the zone's own abbreviation
    assert "130 minutes" in there  # total time runs to discharge


def test_cjk_names_are_set_in_a_cid_font():
    doc = {"title": "Consent", "agent": "esketamine", "version": 1, "body": "Text."}
    signer = {
        "printed_name": "Dr A",
        "username": "a",
        "signed_at": START,
        "meaning_label": "responsibility",
        "statement": "I explained it.",
    }
    pdf = consent_pdf(doc, {"identity": {"family_name": "王"}}, "王小明 김민준", "Clinic", signer)
    fonts = {
        str(f.get_object()["/BaseFont"])
        for pg in PdfReader(io.BytesIO(pdf)).pages
        for f in pg["/Resources"]["/Font"].values()
    }
    assert any("STSong-Light" in f for f in fonts) and any("HYSMyeongJo" in f for f in fonts)
