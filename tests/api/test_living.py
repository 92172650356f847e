"""Living evidence in the app (issue 21): a new trial-base version is recorded once with what
moved, clinicians whose site uses the agent see a notice, others do not."""

from __future__ import annotations

import json

from typer.testing import CliRunner

from raad.knowledge.trials import trial_base
from raad.services import living
from tests.api.helpers import browser_as, new_course, new_patient
from tests.evidence.test_living import _extra_trial


def _base() -> list[dict]:
    return [t.model_dump(mode="json") for t in trial_base().trials]


def test_a_new_version_is_recorded_once_and_clinicians_using_the_agent_see_it(api, database):
    p = new_patient(api)
    new_course(api, p["id"], regimen="n2o-50-twice-weekly", start="2026-01-05")
    with database.transaction() as s:
        living.refresh(s, _base())
    changed = [*_base(), _extra_trial(-4.5, (-5.5, -3.5))]
    with database.transaction() as s:
        update = living.refresh(s, changed)
    assert update is not None and "n2o" in update["agents"]
    keys = {c["key"] for c in update["changes"]}
    assert "n2o/depression/24h/all" in keys
    with database.transaction() as s:
        assert living.refresh(s, changed) is None  # the same version: nothing written
    with database.transaction(write=False) as s:
        mine = living.notices(s, api.world.clinician)
        theirs = living.notices(s, api.world.other_clinician)  # no n2o course at that site
        research = living.notices(s, api.world.researcher)
    assert any("n2o/depression/24h/all" in line for n in mine for line in n["summary"])
    assert theirs == [] and research == []
    page = browser_as(api, "clinician").get("/ui/patients")
    assert page.status_code == 200 and "Evidence changed" in page.text
    assert "the CI now excludes no effect" in page.text
    other = browser_as(api, "other_clinician").get("/ui/patients")
    assert "Evidence changed" not in other.text


def test_cli_living_records_and_shows_the_log(database):
    from raad.cli import app

    out = CliRunner().invoke(app, ["evidence", "living", "--url", str(database.url), "--json"])
    assert out.exit_code == 0, out.output
    data = json.loads(out.output)
    versions = [e["trial_base_version"] for e in data["log"]]
    from raad.evidence.living import trial_base_version

    assert trial_base_version(_base()) in versions
    again = json.loads(
        CliRunner().invoke(app, ["evidence", "living", "--url", str(database.url), "--json"]).output
    )
    assert again["recorded_now"] is False
