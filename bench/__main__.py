"""`make bench`: python -m bench [--entries N] [--skip append,verify,…]; writes BENCHMARKS.md."""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

from bench import (
    api_load,
    append,
    dashboard_pages,
    projections_bench,
    proofs,
    report,
    startup,
    verify,
)
from bench.databases import fresh
from bench.fill import fill
from ledger.export import export_bundle


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench")
    parser.add_argument("--entries", type=int, default=1_000_000)
    parser.add_argument(
        "--skip",
        default="",
        help="comma-separated: append,verify,proofs,projections,startup,api,dashboard,postgres",
    )
    parser.add_argument(
        "--api-seconds",
        type=int,
        default=api_load.MIX_SECONDS,
        help="how long the API is held at a fixed arrival rate",
    )
    args = parser.parse_args()
    skip = set(filter(None, args.skip.split(",")))

    if "append" not in skip:
        append.run()
    if not {"verify", "proofs"} <= skip:
        with fresh("sqlite") as url:
            print(f"filling a {args.entries:,}-entry ledger on SQLite …", flush=True)
            filled = fill(url, args.entries)
            if "verify" not in skip:
                with tempfile.TemporaryDirectory() as tmp:
                    bundle = Path(tmp) / "bundle"
                    app = filled.system.app
                    root_id = app.opening["data"]["root_key"]["key_id"]
                    export_bundle(app.store, filled.system.log, root_id, bundle)
                    verify.run(bundle, filled.server.key.public_key)
            if "proofs" not in skip:
                proofs.run("sqlite", filled)
            filled.close()
        if "proofs" not in skip and "postgres" not in skip:
            with fresh("postgres") as url:
                print(f"filling a {args.entries:,}-entry ledger on PostgreSQL …", flush=True)
                filled = fill(url, args.entries, per_save=1000)
                proofs.run("postgres", filled)
                filled.close()
    if "projections" not in skip:
        projections_bench.run(args.entries, "sqlite")
        if "postgres" not in skip:
            projections_bench.run(args.entries, "postgres")
    if "startup" not in skip:
        startup.run(args.entries)
    if "api" not in skip and "postgres" not in skip:
        api_load.run(args.entries, args.api_seconds)
    if "dashboard" not in skip and "postgres" not in skip:
        dashboard_pages.run(args.entries)
    print("\nsummary")
    for row in report.ROWS:
        print(row)
    skipped = f" --skip {args.skip}" if args.skip else ""
    if args.api_seconds != api_load.MIX_SECONDS:
        skipped += f" --api-seconds {args.api_seconds}"
    report.write_markdown(f"make bench BENCH_ARGS='--entries {args.entries}{skipped}'")
    print(f"written to {report.BENCHMARKS.name}")


if __name__ == "__main__":
    main()
