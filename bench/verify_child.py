"""Run the verifier on a bundle in a process of its own, and report its time and peak memory."""

from __future__ import annotations

import json
import resource
import sys
import time
from pathlib import Path

from domain.verification import verify_log
from ledger.bundle import BundleSource

if __name__ == "__main__":
    start = time.perf_counter()
    report = verify_log(BundleSource(Path(sys.argv[1])))  # as `cmpp verify --bundle`
    seconds = time.perf_counter() - start
    print(
        json.dumps(
            {
                "ok": report.ok,
                "size": report.size,
                "seconds": seconds,
                "main_peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
                "worker_peak_mb": resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024,
                "problems": report.problems,
            }
        )
    )
