"""The self-report settings name real self-report instruments, and every default schedule
either cites the trial behind its time points or says it is raad's default."""

from __future__ import annotations

from raad.knowledge.self_report import load_self_report
from raad.knowledge.treatment import agents
from raad.scales import get


def test_instruments_are_self_report_instruments_the_registry_knows():
    s = load_self_report()
    for name in (*s.instruments, *(d.instrument for d in s.defaults), *s.min_gap_hours):
        assert get(name).name == name
    for name in s.instruments:
        assert get(name).rater == "self-report", name
    for name in s.not_offered:
        assert name not in s.instruments
    assert set(s.min_gap_hours) >= set(s.instruments)


def test_defaults_cite_their_time_points_or_say_they_are_raads():
    s = load_self_report()
    for d in s.defaults:
        assert d.agent in agents()
        assert d.instrument in s.instruments
        assert d.cite or "raad default" in d.note, d.id


def test_messages_carry_no_clinical_or_identifying_words():
    words = load_self_report().messages
    text = " ".join(words.model_dump().values()).lower()
    for banned in ("depress", "ketamine", "nitrous", "naltrexone", "suicid", "clinic", "phq"):
        assert banned not in text, banned
    assert "{url}" in words.invitation and "{url}" in words.reminder
