"""Cohort outcomes (issue 18: the cohort page grew faster than the cohort): two queries and a
memory of the result while the rows read are unchanged. The numbers are those of the instrument's
own response and remission rules, and a new rating is seen at once."""

from __future__ import annotations

from raad.scales import compare
from tests.api.helpers import madrs_items as _madrs
from tests.api.helpers import new_course, new_patient, post_rating


def test_outcomes_follow_the_ratings(api, database):
    from raad.services import cohort

    p = new_patient(api)
    new_course(api, p["id"], regimen="ketamine-iv-weekly", weight_kg=70, start="2026-02-02")
    post_rating(api, p["id"], "MADRS", _madrs(30), "2026-02-01T09:00:00+00:00")
    post_rating(api, p["id"], "MADRS", _madrs(20), "2026-02-09T09:00:00+00:00")

    def mine():
        with database.transaction(write=False) as s:
            rows = cohort.outcomes(s, api.world.clinician)
        return next(r for r in rows if r["regimen"] == "ketamine-iv-weekly")

    first = mine()
    expected = compare("MADRS", 30, 20)
    assert first["courses"] == 1
    assert first["response"] == int(bool(expected.response))
    assert mine() == first  # served again, unchanged
    post_rating(api, p["id"], "MADRS", _madrs(6), "2026-02-16T09:00:00+00:00")
    after = mine()
    expected = compare("MADRS", 30, 6, history=[20])
    assert after["response"] == int(bool(expected.response)) == 1
    assert after["remission"] == int(bool(expected.remission)) == 1


def test_an_update_recomputes_only_the_patients_it_touches(api, database, monkeypatch):
    """The cohort kept per patient: after new ratings and a new course the tally equals a
    recomputation from scratch, and only the patients with new rows were recomputed."""
    from raad.services import cohort

    people = [new_patient(api) for _ in range(3)]
    for p in people:
        new_course(api, p["id"], regimen="ketamine-iv-weekly", weight_kg=70, start="2026-02-02")
        post_rating(api, p["id"], "MADRS", _madrs(30), "2026-02-01T09:00:00+00:00")
        post_rating(api, p["id"], "MADRS", _madrs(25), "2026-02-09T09:00:00+00:00")

    def outcomes():
        with database.transaction(write=False) as s:
            return cohort.outcomes(s, api.world.clinician)

    outcomes()  # the tally as it stands
    asked: list = []
    real = cohort._outcomes

    def counting(db, site_id, patient_ids=None):
        asked.append(patient_ids)
        return real(db, site_id, patient_ids)

    monkeypatch.setattr(cohort, "_outcomes", counting)
    post_rating(api, people[0]["id"], "MADRS", _madrs(5), "2026-02-16T09:00:00+00:00")
    new_course(api, people[1]["id"], regimen="esketamine-label", start="2026-03-02")
    kept = outcomes()
    assert asked == [{people[0]["id"], people[1]["id"]}]
    monkeypatch.setattr(cohort, "_TALLIES", {})  # from scratch
    assert outcomes() == kept
    assert asked[-1] is None
