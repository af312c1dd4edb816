"""``python -m benchmarks`` (``make bench``): every benchmark in one run, a table and a JSON file.

    python -m benchmarks [--only scan,small] [--quick] [--json benchmarks/results/latest.json]

Defaults are the sizes of issue 6; ``--quick`` shrinks them tenfold for iteration.
"""

from __future__ import annotations

import argparse
import json
import platform
import time
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path

from benchmarks import (
    analytic,
    attacks,
    concurrency,
    group,
    layouts,
    memory,
    object_storage,
    partitions,
    repeat,
    rpcs,
    scan,
    site_scale,
    small,
)
from benchmarks.harness import Section


def sections(args: argparse.Namespace) -> dict[str, Callable[[], Section]]:
    """Each benchmark by name, bound to this run's sizes."""
    return {
        "scan": lambda: scan.run(args.scan_rows, args.repeat),
        "analytic": lambda: analytic.run(args.subjects, args.repeat),
        "small": lambda: small.run(args.subjects, args.load_seconds),
        "memory": lambda: memory.run(args.scan_rows // 10),
        "concurrency": lambda: concurrency.run(args.scan_rows // 10),
        "object_storage": lambda: object_storage.run(args.s3_rows, args.subjects // 10),
        "attacks": lambda: attacks.run(),
        "partitions": lambda: partitions.run(args.scan_rows, args.repeat),
        "site_scale": lambda: site_scale.run(10 if args.quick else 1, args.repeat),
        "repeat": lambda: repeat.run(args.subjects, args.repeat),
        "rpcs": lambda: rpcs.run(args.subjects),
        "layouts": lambda: layouts.run(args.scan_rows),
        "group": lambda: group.run(args.subjects, args.repeat),
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--only", help="comma-separated benchmarks to run (default: all)")
    parser.add_argument("--quick", action="store_true", help="a tenth of the default sizes")
    parser.add_argument("--repeat", type=int, default=3, help="timed runs; the best counts")
    parser.add_argument("--json", type=Path, default=Path("benchmarks/results/latest.json"))
    args = parser.parse_args()
    scale = 10 if args.quick else 1
    args.scan_rows = 10_000_000 // scale
    args.subjects = 50_000 // scale
    args.s3_rows = 1_000_000 // scale
    args.load_seconds = 5.0 / scale**0.5
    available = sections(args)
    chosen = args.only.split(",") if args.only else list(available)
    started = time.perf_counter()
    results = []
    for name in chosen:
        section = available[name]()
        section.print()
        results.append(section)
    checks = [check for section in results for check in section.checks]
    elapsed = time.perf_counter() - started
    print(f"\n{sum(c.holds for c in checks)} of {len(checks)} targets hold ({elapsed:.0f} s)")
    record = {
        "machine": {
            "cpus": _cpus(),
            "platform": platform.platform(),
            "python": platform.python_version(),
        },
        "seconds": round(elapsed, 1),
        "sections": [asdict(section) for section in results],
    }
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(record, indent=2))
    print(f"figures written to {args.json}")


def _cpus() -> int:
    import os

    return len(os.sched_getaffinity(0))


if __name__ == "__main__":
    main()
