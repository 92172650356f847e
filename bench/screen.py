"""Screening throughput: synthetic patients through ``raad.clinical.screening.screen``.

Run: ``.venv/bin/python bench/screen.py [--patients 100000] [--seed 1]``

Patients mix plain-text and coded conditions and medications (from the knowledge base's own
aliases and drug names plus unrelated entries), allergies, B12 status, opioid use, pregnancy
and breastfeeding and blood pressure, some fields left unknown. The peer in the same run is the validation of the same facts alone (pydantic), so the
ratio shows what the rules cost on top of reading the input. The last line prints patients/s.
"""

from __future__ import annotations

import argparse
import random
import time

from raad.clinical.screening import PatientFacts, screen
from raad.knowledge.treatment import contraindications

OTHER_CONDITIONS = [
    "hay fever",
    "asthma",
    "migraine",
    "hypothyroidism",
    "osteoarthritis",
    "recurrent major depressive disorder",
]
OTHER_MEDICATIONS = [
    "sertraline",
    "escitalopram",
    "venlafaxine",
    "bupropion",
    "lithium",
    "levothyroxine",
    "atorvastatin",
]


def patients(n: int, seed: int) -> list[dict]:
    rng = random.Random(seed)
    ci = contraindications()
    cond_aliases = [a for c in ci.conditions.values() for a in c.aliases]
    med_aliases = [n for s in ci.substances.values() for n in s.names] + [
        a for c in ci.classes.values() for a in c.aliases
    ]
    out = []
    for _ in range(n):
        p: dict = {"age_years": rng.randint(18, 85), "sex": rng.choice(["female", "male"])}
        if rng.random() < 0.8:
            p["b12_status"] = rng.choice(["normal", "normal", "normal", "low"])
        if rng.random() < 0.8:
            p["opioid_use"] = rng.random() < 0.1
        if p["sex"] == "female" and rng.random() < 0.7:
            p["pregnant"] = rng.random() < 0.05
            p["breastfeeding"] = rng.random() < 0.03
        if rng.random() < 0.8:
            p["allergies"] = [] if rng.random() < 0.8 else [rng.choice(med_aliases)]
        if rng.random() < 0.9:
            p["systolic_mmhg"] = rng.randint(95, 200)
            p["diastolic_mmhg"] = rng.randint(55, min(120, p["systolic_mmhg"] - 10))
        conds = rng.sample(OTHER_CONDITIONS, rng.randint(0, 2))
        if rng.random() < 0.3:
            conds.append(rng.choice(cond_aliases))
        p["conditions"] = [
            c if rng.random() < 0.5 else {"text": c, "system": "ICD-10-CM", "code": "R69"}
            for c in conds
        ]
        meds = rng.sample(OTHER_MEDICATIONS, rng.randint(0, 3))
        if rng.random() < 0.2:
            meds.append(rng.choice(med_aliases))
        p["medications"] = meds
        out.append(p)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--patients", type=int, default=100_000)
    ap.add_argument("--seed", type=int, default=1)
    args = ap.parse_args()
    data = patients(args.patients, args.seed)
    screen(data[0])  # load the knowledge base outside the timing

    t0 = time.perf_counter()
    for p in data:
        PatientFacts.parse(p)
    t_parse = time.perf_counter() - t0

    t0 = time.perf_counter()
    statuses = {"contraindicated": 0, "caution": 0, "eligible": 0}
    for p in data:
        r = screen(p)
        for a in r.agents.values():
            statuses[a.status] += 1
    t_screen = time.perf_counter() - t0

    n = len(data)
    print(f"{n} synthetic patients, 4 agents each")
    print(f"agent results: {statuses}")
    print(f"validation only (peer): {t_parse:.2f} s  ({n / t_parse:,.0f} patients/s)")
    print(f"full screening:         {t_screen:.2f} s  ({n / t_screen:,.0f} patients/s)")
    print(f"screening / validation time ratio: {t_screen / t_parse:.1f}x")
    print(f"patients per second: {n / t_screen:,.0f}")


if __name__ == "__main__":
    main()
