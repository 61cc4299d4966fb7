"""`cmpp verify` over a large bundle against a raw Ed25519-verify + SHA-256 loop on one core."""

from __future__ import annotations

import hashlib
import itertools
import json
import os
import subprocess
import sys
import time
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from bench import report
from ledger.hashing import b64decode

BASELINE_SAMPLE = 200_000  # the raw loop's per-entry rate is steady; a sample measures it


def raw_rate(entries: Path, public_key: bytes, limit: int) -> float:
    """Entries per second of the least a verifier must do: one SHA-256 and one Ed25519 verify."""
    verifier = Ed25519PublicKey.from_public_bytes(public_key)
    sha256 = hashlib.sha256
    done = 0
    start = time.perf_counter()
    with entries.open("rb") as lines:
        for line in itertools.islice(lines, 2, None):  # 0 and 1 are signed by the root key
            leaf = line[:-1]
            sha256(b"\x00" + leaf).digest()
            cut, sig_at = leaf.rfind(b',"prev":"'), leaf.rfind(b',"sig":"')
            verifier.verify(b64decode(leaf[sig_at + 8 : -2].decode()), leaf[9:cut])
            done += 1
            if done == limit:
                break
    return done / (time.perf_counter() - start)


def run(bundle: Path, signer_public_key: bytes) -> None:
    cores = os.cpu_count() or 1
    # The host's speed drifts: sample the baseline before and after, and average.
    before = raw_rate(bundle / "entries.jsonl", signer_public_key, BASELINE_SAMPLE)
    child = subprocess.run(
        [sys.executable, "-m", "bench.verify_child", str(bundle)],
        capture_output=True,
        text=True,
        check=True,
    )
    result = json.loads(child.stdout)
    assert result["ok"], result
    ours = result["size"] / result["seconds"]
    after = raw_rate(bundle / "entries.jsonl", signer_public_key, BASELINE_SAMPLE)
    baseline = (before + after) / 2
    report.line(
        f"verify {result['size']:,} entries, per core ({cores} cores)",
        ours / cores,
        baseline,
        "entries/s",
        "≥ 0.8x per core",
    )
    report.absolute("verify: whole run (wall clock)", result["seconds"], "s", "—")
    report.absolute("verify: peak memory, main process", result["main_peak_mb"], "MB", "< 300 MB")
    report.absolute(
        "verify: peak memory, largest worker", result["worker_peak_mb"], "MB", "< 300 MB"
    )
