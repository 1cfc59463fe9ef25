"""The consumer process tunes its garbage collector once at startup (`tune_gc`)."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from tests.ingestion.conftest import REPO

_PROBE = """
import gc, json
from ingestion.consumer.gc_tuning import YOUNG_THRESHOLD, tune_gc
defaults = gc.get_threshold()
cycle = []
cycle.append(cycle)  # garbage with a reference cycle, which only the collector frees
del cycle
tune_gc()
print(json.dumps({"defaults": defaults, "now": gc.get_threshold(), "young": YOUNG_THRESHOLD,
                  "frozen": gc.get_freeze_count(), "enabled": gc.isenabled()}))
"""


@pytest.mark.unit
def test_startup_objects_are_frozen_and_the_young_generation_is_collected_less_often() -> None:
    # in a fresh interpreter: the test process's own collector stays as pytest set it
    out = subprocess.run(
        [sys.executable, "-c", _PROBE], cwd=REPO, capture_output=True, text=True, check=True
    )
    got = json.loads(out.stdout)
    assert got["enabled"] is True  # collected less often, never switched off
    assert got["now"] == [got["young"], *got["defaults"][1:]]
    assert got["young"] > got["defaults"][0]
    assert got["frozen"] > 1000  # the imports' objects, out of every full collection
