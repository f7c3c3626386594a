"""Runs a script of Tests/Reliability/ from a pytest test, against the suite's binary.

The script is its own process group (it starts and SIGKILLs servers of its own, which
also die with it through PR_SET_PDEATHSIG); if it overruns `timeout` the whole group is
killed, so no server outlives the test. Its output is shown when it fails."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import warnings
from pathlib import Path

from interop import warden_binary

RELIABILITY = Path(__file__).resolve().parents[1] / "Reliability"


def run_reliability_script(script: str, *args: str, timeout: float, budget: float) -> str:
    """Runs `python3 Tests/Reliability/<script> --binary <binary> ARGS...`; fails unless it
    exits 0 within `timeout` seconds; warns when it took longer than `budget`."""
    command = [sys.executable, str(RELIABILITY / script), "--binary", str(warden_binary()), *args]
    started = time.monotonic()
    process = subprocess.Popen(
        command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True,
        stdin=subprocess.DEVNULL,
    )
    try:
        output, _ = process.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        output, _ = process.communicate()
        raise AssertionError(f"{script} did not finish within {timeout:.0f} s:\n{output[-20000:]}") from None
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
    elapsed = time.monotonic() - started
    assert process.returncode == 0, f"{script} exited {process.returncode} after {elapsed:.0f} s:\n{output[-20000:]}"
    if elapsed > budget:
        warnings.warn(f"{script} took {elapsed:.0f} s (budget {budget:.0f} s)")
    return output
