"""The rule and code tables in docs/ are the knowledge base's own output (no drift)."""

from __future__ import annotations

from pathlib import Path

from raad.knowledge.rule_table import codes_markdown, rule_table_markdown
from raad.knowledge.treatment import contraindications

DOCS = Path(__file__).resolve().parents[2] / "docs"


def test_screening_rules_doc_is_the_generated_table():
    assert (DOCS / "screening-rules.md").read_text() == rule_table_markdown(), (
        "regenerate with: raad rules --markdown > docs/screening-rules.md"
    )


def test_clinical_codes_doc_is_the_generated_table():
    assert (DOCS / "clinical-codes.md").read_text() == codes_markdown(), (
        "regenerate with: raad rules --codes > docs/clinical-codes.md"
    )


def test_every_rule_and_its_section_is_in_the_table():
    table = rule_table_markdown()
    for rules in contraindications().rules.values():
        for r in rules.items:
            assert r.reason.replace("|", "\\|") in table
            for c in r.cite:
                assert f"`{c.source}`" in table
