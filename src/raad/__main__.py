"""``python -m raad``: the same command line as ``raad``."""

from raad.cli import app

app(prog_name="raad")
