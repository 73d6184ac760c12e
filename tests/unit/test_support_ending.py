"""A run a test started and has to stop (it outlived its timeout, or the test failed) ends
with SIGTERM, which buildlib handles by removing its temporary docker login, not with
SIGKILL, which would leave the login behind."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from tests.support.signals import end

UNWINDING = """
import signal, sys, time
def stop(signum, frame):
    raise SystemExit(143)
signal.signal(signal.SIGTERM, stop)
try:
    print("ready", flush=True)
    time.sleep(120)
finally:
    open(sys.argv[1], "w").close()
"""


def test_a_run_a_test_stops_unwinds_first(tmp_path: Path) -> None:
    unwound = tmp_path / "unwound"
    process = subprocess.Popen(
        [sys.executable, "-c", UNWINDING, str(unwound)], stdout=subprocess.PIPE, text=True
    )
    assert process.stdout is not None and process.stdout.readline() == "ready\n"

    end(process)

    assert process.returncode == 143
    assert unwound.exists()
