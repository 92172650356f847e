"""The README's first Python example runs as written on the shipped example data."""

from __future__ import annotations

import re
import shutil
import warnings
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_the_evidence_example_runs(tmp_path, monkeypatch):
    text = (ROOT / "README.md").read_text()
    block = re.search(r"```python\n(.*?)```", text, re.S).group(1)
    (tmp_path / "examples").mkdir()
    shutil.copy(ROOT / "examples" / "bcg.csv", tmp_path / "examples" / "bcg.csv")
    monkeypatch.chdir(tmp_path)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the example prints; warnings are not its point
        exec(compile(block, "README.md", "exec"), {})
    assert (tmp_path / "forest.svg").stat().st_size > 0
    assert (tmp_path / "funnel.png").stat().st_size > 0
