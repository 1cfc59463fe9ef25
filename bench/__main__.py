"""`python -m bench` (`make bench`): run every `bench/bench_*.py`; exit 1 if any missed a target.

Each script warms up, interleaves its baseline and subject, prints its median ratios and exits
non-zero on a miss (see `bench/common.py`).
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path


def main() -> int:
    missed = []
    for script in sorted(Path(__file__).parent.glob("bench_*.py")):
        print(f"=== {script.name}", flush=True)
        if subprocess.run([sys.executable, str(script)], check=False).returncode != 0:
            missed.append(script.name)
    print(f"=== {'MISSED: ' + ', '.join(missed) if missed else 'every benchmark met its targets'}")
    return 1 if missed else 0


if __name__ == "__main__":
    sys.exit(main())
