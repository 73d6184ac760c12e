"""Time the offline ``doctor`` (no ``--for``) in fresh processes, cold (no remembered workflow
validation: ``BUILDLIB_NO_CACHE=1``) and warm (docs/doctor.md, "Speed").

    uv run python bench/doctor.py [--runs 5] [ROOT]

Prints, per mode, the checks' own time (what the report's last line says) and the whole
process's (which includes starting Python).
"""

from __future__ import annotations

import argparse
import os
import re
import statistics
import subprocess
import sys
import time
from pathlib import Path


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("root", nargs="?", default=".", help="the repository to check")
    parser.add_argument("--runs", type=int, default=5, help="runs per mode")
    args = parser.parse_args()
    root = Path(args.root).resolve()
    argv = [sys.executable, "-m", "buildlib.doctor", "--root", str(root)]
    print(f"doctor benchmark: {root}, {args.runs} run(s) per mode")
    for mode, extra in (("cold", {"BUILDLIB_NO_CACHE": "1"}), ("warm", {})):
        env = {**os.environ, "NO_COLOR": "1", **extra}
        if mode == "warm":  # one run first, to remember the workflows' validation
            subprocess.run(argv, env=env, capture_output=True, check=False)
        checks, walls = [], []
        for _ in range(args.runs):
            started = time.perf_counter()
            result = subprocess.run(argv, env=env, capture_output=True, text=True, check=False)
            walls.append(time.perf_counter() - started)
            found = re.search(r" in (\d+\.\d+) s$", result.stdout.strip())
            if found:
                checks.append(float(found.group(1)))
        for label, values in (("checks", checks), ("process", walls)):
            if values:
                print(
                    f"  {mode:<4}  {label:<7}  min {min(values):.2f} s  median "
                    f"{statistics.median(values):.2f} s  max {max(values):.2f} s"
                )
    return 0


if __name__ == "__main__":
    sys.exit(main())
