"""The ASGI application object for uvicorn (``raad.api.server:app``), bound to
``RAAD_DATABASE_URL``."""

from __future__ import annotations

import gc

from .app import create_app

app = create_app()
# Everything loaded so far (libraries, knowledge files, the app) lives as long as the process:
# moving it out of the collector's reach keeps full collections from walking it again and
# again, which showed up as latency spikes under load (see docs/benchmarks.md).
gc.collect()
gc.freeze()
