"""``python -m flight_server.demo ROOT``: write the demo dataset unless ROOT already has one."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

import fsspec

from flight_server.demo.generate import has_dataset, write_dataset
from flight_server.demo.model import LAYOUTS, GeneratedDataset


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point used by ``make run``; idempotent so it can run before every start."""
    parser = argparse.ArgumentParser(
        prog="python -m flight_server.demo", description="Write a demo Flywheel dataset."
    )
    parser.add_argument("root", help="dataset root: a local path or an fsspec URL")
    parser.add_argument("--layout", choices=LAYOUTS, default="current")
    parser.add_argument("--subjects", type=int, default=20)
    parser.add_argument("--versions", type=int, default=2)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--project-label", default="proj1")
    parser.add_argument("--group", default="neuro")
    args = parser.parse_args(argv)

    fs, root = fsspec.core.url_to_fs(args.root)
    if has_dataset(fs, root):
        print(f"{args.root}: a dataset is already there; nothing written")
        return 0
    dataset = write_dataset(
        root,
        fs=fs,
        layout=args.layout,
        subjects=args.subjects,
        versions=args.versions,
        seed=args.seed,
        project_label=args.project_label,
        group=args.group,
    )
    print(_summary(dataset))
    return 0


def _summary(dataset: GeneratedDataset) -> str:
    lines = [
        f"wrote {dataset.group}/{dataset.project_label} ({dataset.layout} layout) at {dataset.root}"
    ]
    for version in dataset.versions:
        mark = " (latest)" if version.latest else ""
        lines.append(f"  version {version.label} {version.id} {version.created:%Y-%m-%d}{mark}")
        for name, table in version.tables.items():
            lines.append(f"    {name:<14} {table.rows:>6} rows in {len(table.files)} file(s)")
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
