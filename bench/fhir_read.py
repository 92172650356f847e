"""FHIR read-and-screen throughput: a large Bundle through ``raad.interop.fhir_read`` and the
screening, beside plain ``json.loads`` of the same bytes (the peer, run in the same process).

Run: ``.venv/bin/python bench/fhir_read.py [--bundle FILE ...] [--repeat 5]``

Without ``--bundle`` it generates a 4 MB Synthea-shaped Bundle (encounters, claims, vital
signs including 55284-4 blood pressure panels, SNOMED-coded conditions, RxNorm medication
requests). Give the largest Synthea bundle you have with ``--bundle`` to measure real data.
Prints, per bundle, MB/s of read+screen and of json.loads, and the peak memory of each
(tracemalloc, measured in a separate pass so it does not slow the timed one); the last line is
the read+screen MB/s of the largest bundle.
"""

from __future__ import annotations

import argparse
import json
import random
import time
import tracemalloc
from datetime import date, timedelta
from pathlib import Path

from raad.clinical.screening import screen
from raad.interop.fhir_read import read_bundle

AS_OF = date(2026, 11, 30)
SCT, RXNORM, LOINC = (
    "http://snomed.info/sct",
    "http://www.nlm.nih.gov/research/umls/rxnorm",
    "http://loinc.org",
)


def synthetic_bundle(target_bytes: int, seed: int = 1) -> bytes:
    """A Bundle shaped like Synthea R4 output, grown until it reaches ``target_bytes``."""
    rng = random.Random(seed)
    pid = "urn:uuid:00000000-0000-4000-8000-000000000001"
    entries = [
        {
            "fullUrl": pid,
            "resource": {
                "resourceType": "Patient",
                "id": pid[9:],
                "gender": "female",
                "birthDate": "1979-04-12",
            },
            "request": {"method": "POST", "url": "Patient"},
        }
    ]
    conditions = [
        ("38341003", "Hypertension"),
        ("44054006", "Diabetes"),
        ("36118008", "Pneumothorax"),
        ("195967001", "Asthma"),
    ]
    meds = [
        ("1049221", "Acetaminophen 325 MG / Oxycodone Hydrochloride 5 MG Oral Tablet"),
        ("316672", "Simvastatin 10 MG Oral Tablet"),
        ("1483744", "naltrexone hydrochloride 50 MG Oral Tablet"),
    ]
    day = date(2016, 1, 1)
    n = 0
    while len(json.dumps({"resourceType": "Bundle", "entry": entries})) < target_bytes:
        n += 1
        day += timedelta(days=rng.randint(3, 20))
        when = f"{day.isoformat()}T09:{n % 60:02d}:00Z"
        enc = f"urn:uuid:{n:08d}-0000-4000-8000-000000000002"
        subject = {"reference": pid}
        entries.append(
            {
                "fullUrl": enc,
                "resource": {
                    "resourceType": "Encounter",
                    "id": enc[9:],
                    "status": "finished",
                    "class": {"code": "AMB"},
                    "subject": subject,
                    "period": {"start": when, "end": when},
                },
            }
        )
        entries.append(
            {
                "resource": {
                    "resourceType": "Claim",
                    "id": f"cl{n}",
                    "status": "active",
                    "patient": subject,
                    "billablePeriod": {"start": when},
                    "item": [{"sequence": 1, "productOrService": {"text": "visit"}}] * 3,
                }
            }
        )
        entries.append(
            {
                "resource": {
                    "resourceType": "Observation",
                    "id": f"bp{n}",
                    "status": "final",
                    "subject": subject,
                    "effectiveDateTime": when,
                    "code": {"coding": [{"system": LOINC, "code": "55284-4"}]},
                    "component": [
                        {
                            "code": {"coding": [{"system": LOINC, "code": "8480-6"}]},
                            "valueQuantity": {"value": rng.randint(100, 160), "unit": "mm[Hg]"},
                        },
                        {
                            "code": {"coding": [{"system": LOINC, "code": "8462-4"}]},
                            "valueQuantity": {"value": rng.randint(60, 100), "unit": "mm[Hg]"},
                        },
                    ],
                }
            }
        )
        entries.append(
            {
                "resource": {
                    "resourceType": "Observation",
                    "id": f"w{n}",
                    "status": "final",
                    "subject": subject,
                    "effectiveDateTime": when,
                    "code": {
                        "coding": [{"system": LOINC, "code": "29463-7", "display": "Body Weight"}]
                    },
                    "valueQuantity": {"value": 70.1, "unit": "kg"},
                }
            }
        )
        if n % 7 == 0:
            code, text = rng.choice(conditions)
            entries.append(
                {
                    "resource": {
                        "resourceType": "Condition",
                        "id": f"c{n}",
                        "subject": subject,
                        "clinicalStatus": {
                            "coding": [{"code": rng.choice(["active", "resolved"])}]
                        },
                        "code": {
                            "coding": [{"system": SCT, "code": code, "display": text}],
                            "text": text,
                        },
                        "onsetDateTime": when,
                    }
                }
            )
        if n % 5 == 0:
            code, text = rng.choice(meds)
            entries.append(
                {
                    "resource": {
                        "resourceType": "MedicationRequest",
                        "id": f"m{n}",
                        "status": rng.choice(["active", "stopped"]),
                        "intent": "order",
                        "subject": subject,
                        "medicationCodeableConcept": {
                            "coding": [{"system": RXNORM, "code": code, "display": text}],
                            "text": text,
                        },
                        "authoredOn": when,
                    }
                }
            )
    return json.dumps({"resourceType": "Bundle", "type": "transaction", "entry": entries}).encode()


def read_and_screen(raw: bytes) -> None:
    facts = read_bundle(json.loads(raw), as_of=AS_OF).facts
    screen(facts, as_of=AS_OF)


def best_seconds(fn, raw: bytes, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn(raw)
        times.append(time.perf_counter() - t0)
    return min(times)


def peak_bytes(fn, raw: bytes) -> int:
    tracemalloc.start()
    fn(raw)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return peak


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--bundle", type=Path, action="append", default=[])
    ap.add_argument("--repeat", type=int, default=5)
    args = ap.parse_args()
    inputs = [(p.name, p.read_bytes()) for p in args.bundle]
    inputs.append(("generated 4 MB Synthea-shaped bundle", synthetic_bundle(4_000_000)))
    read_and_screen(inputs[-1][1])  # load the knowledge base outside the timing
    largest_rate = 0.0
    largest = 0
    for name, raw in inputs:
        mb = len(raw) / 1e6
        t_raad = best_seconds(read_and_screen, raw, args.repeat)
        t_json = best_seconds(json.loads, raw, args.repeat)
        m_raad, m_json = peak_bytes(read_and_screen, raw), peak_bytes(json.loads, raw)
        print(f"{name}: {mb:.2f} MB")
        print(
            f"  json.loads (peer): {mb / t_json:7.1f} MB/s, peak {m_json / 1e6:6.1f} MB ({m_json / len(raw):.1f}x the file)"
        )
        print(
            f"  read + screen:     {mb / t_raad:7.1f} MB/s, peak {m_raad / 1e6:6.1f} MB ({m_raad / len(raw):.1f}x the file)"
        )
        print(f"  read + screen / json.loads time: {t_raad / t_json:.2f}x")
        if len(raw) > largest:
            largest, largest_rate = len(raw), mb / t_raad
    print(f"read+screen MB/s on the largest bundle: {largest_rate:.1f}")


if __name__ == "__main__":
    main()
