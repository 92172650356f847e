"""The screening rules as one table a pharmacist can review (``docs/screening-rules.md``).

``rule_table_markdown()`` renders, from ``contraindications.yaml``, every rule per agent (what
it fires on, the statuses and windows that count, its level, the reason and each source with
its section), the facts each agent needs, and what each drug class holds. The document in
``docs/`` is this function's output; a test fails when they differ.
"""

from __future__ import annotations

from .screening_rules import Contraindications, Rule
from .sources import load_sources
from .treatment import agents, contraindications

HEADER = """# Screening rules

Generated from `src/raad/knowledge/contraindications.yaml` by `raad rules --markdown`; do not
edit by hand (a test compares this file with the knowledge base). Levels: **contraindicated**
only where a source says so; **caution** for warnings, precautions, "not recommended",
"monitor" and trial exclusions, with the source's own words in the reason. Conditions count
when active or unconfirmed unless the rule names other statuses; medicines count when current,
or stopped inside the rule's window. Missing facts are asked for and keep an agent from
*eligible*. Codes and value sets: `docs/clinical-codes.md`; how EHR records are read:
`docs/ehr-reading.md`.
"""


def _trigger(rule: Rule, ci: Contraindications) -> str:
    if rule.allergy_to is not None:
        return f"allergy to `{rule.allergy_to}`"
    if rule.age_below is not None:
        return f"age < {rule.age_below}"
    if rule.age_at_least is not None:
        return f"age >= {rule.age_at_least}"
    assert rule.when is not None
    kind = "condition" if rule.when in ci.conditions else "medicine"
    extra = []
    if rule.statuses:
        extra.append("statuses " + "/".join(rule.statuses))
    if rule.recent_days is not None:
        extra.append(f"or stopped <= {rule.recent_days:g} days ago")
    if rule.within_days is not None:
        extra.append(f"onset <= {rule.within_days:g} days ago")
    return f"{kind} `{rule.when}`" + (f" ({'; '.join(extra)})" if extra else "")


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def rule_table_markdown() -> str:
    """The rule table as Markdown (see the module docstring)."""
    ci = contraindications()
    reg = load_sources()
    lines = [HEADER]
    for agent_id, rules in ci.rules.items():
        lines += [
            f"## {agents()[agent_id].name} (`{agent_id}`)",
            "",
            "Facts needed before it can be judged eligible: "
            + ", ".join(f"`{n}`" for n in rules.needs),
            "",
            "| # | fires on | level | reason | sources (section) |",
            "|---|---|---|---|---|",
        ]
        for i, r in enumerate(rules.items, start=1):
            cites = "; ".join(
                f"`{c.source}`" + (f" ({_cell(c.where)})" if c.where else "") for c in r.cite
            )
            lines.append(
                f"| {i} | {_cell(_trigger(r, ci))} | {r.level} | {_cell(r.reason)} | {cites} |"
            )
        lines.append("")
    lines += [
        "## Drug classes",
        "",
        "| class | members | includes | ATC groups |",
        "|---|---|---|---|",
    ]
    for name, cls in ci.classes.items():
        groups = ", ".join(c.split("|", 1)[1] for c in cls.codes if "|" in c)
        lines.append(
            f"| `{name}` | {', '.join(cls.members) or '-'} | {', '.join(cls.includes) or '-'} "
            f"| {groups or '-'} |"
        )
    used = sorted({c.source for rules in ci.rules.values() for r in rules.items for c in r.cite})
    lines += ["", "## Sources of the rules", "", "| id | kind | citation |", "|---|---|---|"]
    for sid in used:
        s = reg[sid]
        lines.append(f"| `{sid}` | {s.kind} | {_cell(s.citation)} |")
    lines += ["", NOT_FOUND]
    return "\n".join(lines) + "\n"


NOT_FOUND = """## Looked for and not found, or found only in a secondary copy

These were looked for in the labels and papers read; raad applies no rule for them and says so
here rather than guess:

- An age limit for N2O or IV ketamine in depression (the Kalinox RCP allows children over one
  month; a secondary monograph gives "< 16 years: not established" for Ketalar; no source read
  gives the age range of the depression trials), so neither asks for age.
- Breastfeeding in the ketamine and naltrexone labels read; their screens do not ask for it.
- MAOI or psychostimulant interactions in the Ketalar, naltrexone and N2O labels read (the
  Ketalar label's 'sympathomimetics' is used for psychostimulants).
- A label statement that benzodiazepines weaken ketamine's antidepressant effect: two primary
  papers report it (Andrashko 2020, Feeney 2023) and the rule cites them as evidence, not label.
- Hyperhomocysteinaemia in an N2O label (a secondary source only); the thioridazine interaction
  in the naltrexone label itself (a secondary quote only).
- Recent stroke in a label: the EU SmPC's "recent (within 6 weeks) cardiovascular event,
  including myocardial infarction" is used for myocardial infarction and acute coronary
  events; whether a stroke within 6 weeks falls under it the SmPC does not say (a caution).
- Found only in patient-leaflet copies, to be checked against the full texts before they are
  rules: the EU esketamine warnings (bipolar disorder or mania, inadequately treated
  hyperthyroidism, respiratory insufficiency, sleep apnoea with obesity; SmPC 4.4) and the
  German ketamine label's special caution for raised eye pressure (glaucoma) and a myocardial
  infarction within six months.
- CNS depressants no label read names (carisoprodol, sodium oxybate, sedating antidepressants
  and antipsychotics other than quetiapine) are not in the class.
"""


CODES_HEADER = """# Clinical codes for screening

Generated from the knowledge base by `raad rules --codes`; do not edit by hand (a test compares
this file with the knowledge base). The conditions and medicines that screening rules fire on
are matched by code **and** by plain name; the rules themselves are in
`docs/screening-rules.md`.

## Systems and how codes match

| system | FHIR URI | written as | matches |
|---|---|---|---|
| ICD-10-CM | `http://hl7.org/fhir/sid/icd-10-cm` | `ICD-10-CM\\|J93` or `ICD-10-CM=F11.21` | the code and every code below it (`\\|`), or that code only (`=`) |
| WHO ICD-10 | `http://hl7.org/fhir/sid/icd-10` | `ICD-10\\|I60` | as ICD-10-CM; WHO codes wider than the concept are left out |
| SNOMED CT | `http://snomed.info/sct` | `SNOMED-CT=36118008` | that concept only (raad ships no SNOMED CT hierarchy) |
| ATC | `http://www.whocc.no/atc` | `ATC\\|N05BA` (a group), `ATC=N05BA06` (a substance) | group and below, or the substance |
| RxNorm | `http://www.nlm.nih.gov/research/umls/rxnorm` | `RXNORM=7804` | the ingredient; products (SCD, SBD, GPCK, BPCK) roll up to their ingredients |

- **Dots, case, spaces** are ignored on both sides (`J93.11`, `J9311`, `j93.11`); code-system
  URIs are kept as the record sent them and compared without case or a trailing slash.
- **Codes decide first.** ICD-10-CM, WHO ICD-10 and ATC value sets are written against the
  whole classification, so a code in those systems decides on its own and its display is not
  read (ICD-10-CM Z82.3 "Family history of stroke" and Z32.02 "Encounter for pregnancy test,
  result negative" match nothing). SNOMED CT and RxNorm lists are exact and finite: a code
  they do not hold falls back to the entry's text.
- **Text last**, as whole words, with NegEx/ConText triggers (`knowledge/text_context.yaml`):
  "no history of", "denies", "ruled out" and "family history of" are not counted (and are
  listed as *not counted*); "history of" and "in remission" read as history; "possible" and
  "rule out" as unconfirmed; "allergy to X" / "X hypersensitivity" as an allergy, never as use.
  Condition entries match conditions and medication entries medicines ("opioid-induced
  constipation" is not opioid use).
- **History codes.** Codes that mean a concept in remission (ICD-10-CM F11.21 "Opioid
  dependence, in remission", SNOMED CT remission concepts) read as *history*: rules that need an
  active condition do not fire (naltrexone is for opioid dependence in remission).
- **One record per drug.** A substance's names, RxNorm ingredient and ATC codes sit in one
  record and classes list their members, so a drug's name and each of its codes reach the same
  concepts (tested for every substance); a substance in a class's ATC group is always a member.

## Concepts and their codes

Per condition, the number of codes by system (`value_sets.json` holds each code with its
display as the source prints it and its source; `contraindications.yaml` the curated ICD-10-CM
prefixes):
"""


def codes_markdown() -> str:
    """``docs/clinical-codes.md``: how codes match, and what each concept holds."""
    import json
    from importlib import resources

    ci = contraindications()
    vs = json.loads(resources.files(__package__).joinpath("value_sets.json").read_text("utf-8"))
    lines = [CODES_HEADER]
    systems = ("ICD-10-CM", "ICD-10", "SNOMED-CT")
    lines += [
        "| condition | " + " | ".join(systems) + " | history codes | aliases |",
        "|---|" + "---|" * (len(systems) + 2),
    ]
    for name, c in ci.conditions.items():
        counts = {s: sum(1 for r in c.code_refs if r.system == s) for s in systems}
        lines.append(
            f"| `{name}` | "
            + " | ".join(str(counts[s] or "-") for s in systems)
            + f" | {len(c.history_refs) or '-'} | {_cell(', '.join(c.aliases))} |"
        )
    lines += [
        "",
        "## Medicines",
        "",
        f"{len(ci.substances)} substances, {len(ci.classes)} classes and {len(ci.products)} RxNorm "
        "products (`rxnorm_products.json`: rxcui, term type, name, the substances among its "
        "ingredients). Classes and their members: `docs/screening-rules.md`.",
        "",
        "| substance | names | codes |",
        "|---|---|---|",
    ]
    for name, s in ci.substances.items():
        lines.append(f"| `{name}` | {_cell(', '.join(s.names))} | {', '.join(s.codes) or '-'} |")
    reg = load_sources()
    used = sorted(
        {c.source for cites in ci.code_sources.values() for c in cites}
        | {item[2] for v in vs["concepts"].values() for k in v.values() for item in k}
    )
    lines += ["", "## Sources of the codes", "", "| id | citation |", "|---|---|"]
    lines += [f"| `{sid}` | {_cell(reg[sid].citation)} |" for sid in used]
    lines += ["", CODE_GAPS]
    return "\n".join(lines) + "\n"


CODE_GAPS = """## Gaps: left out, not found, or not verified

- **No code in any source read:** gas in the eye after vitreoretinal surgery, needing 100%
  oxygen, active suicidal intention (ideation is not intent), unexplained recent neurological
  signs, ketamine-induced cystitis, "hepatic impairment" as such; these match by name only.
- **SNOMED CT not found:** decompression sickness, a generic air/gas embolism concept, raised
  intracranial pressure (only benign intracranial hypertension), generic ileus, non-anaemic
  folate deficiency, hypertensive emergency, uncontrolled hypertension, homocystinuria, MTHFR
  deficiency, long-term opiate use. Hypertensive crisis 706882009 was seen only in unidentified
  files and is not used.
- **Left out as wider than the concept:** ICD-10-CM J43.9 (emphysema, unspecified) for bullous
  emphysema; O92 (it includes agalactia) for breastfeeding; H69.0 (patulous Eustachian tube);
  I10 (hypertension, not known to be uncontrolled); WHO J95.8, Z86.7, E72.1 and Q25.7; candidate
  codes (G93.6 cerebral oedema, S02.0/S02.1 skull fractures, S06.6 traumatic SAH, I77.0
  acquired AV fistula, Z32.01 positive pregnancy test) are not used.
- **RxNorm:** no ingredient found for alfentanil, armodafinil, moclobemide and zopiclone (not
  US products); the product extract lacks ingredients whose names start with A, so a
  combination such as oxycodone/acetaminophen lists oxycodone only. Products not in the
  November 2025 tree (older or withdrawn drugs) fall back to their display text.
- **ICD-10-CM codes after FY2022** below a listed prefix still match (matching is by prefix).
- **Brand names** come from RxNorm branded products ("... [Percocet]"), so a brand whose
  products were not in the extract read (Xanax: alprazolam) is matched by neither name nor
  product code; SNOMED CT *substance* codes (allergies coded without a display) are not held;
  CNS depressants no label read names (carisoprodol, sodium oxybate, sedating antidepressants
  and antipsychotics other than quetiapine) are not in the class.
"""
