"""`make bench`: measure side by side in one run and rewrite BENCHMARKS.md.

The machine is shared and noisy, so every figure is a median of repeats and
comparisons are quoted as ratios measured in the same run. Nothing here is a
test: performance claims live in BENCHMARKS.md, never in assertions.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import platform
from collections.abc import Callable
from pathlib import Path

import numpy as np

from benchmarks.pipeline import (
    bench_explanations,
    bench_features,
    bench_generator,
    bench_training,
)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--output", type=Path, default=Path("BENCHMARKS.md"))
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument(
        "--only",
        choices=(
            "generator",
            "features",
            "training",
            "explanations",
            "serving",
            "scoring",
            "monitoring",
            "drivers",
            "evaluate",
        ),
        default=None,
    )
    args = parser.parse_args()
    header = [
        "# Benchmarks",
        "",
        "Written by `make bench` (`python -m benchmarks.run`); do not edit by hand. Medians of "
        f"{args.repeats} runs; ratios are between figures of the same run.",
        "",
        f"- date: {dt.date.today().isoformat()}",
        f"- machine: {platform.machine()}, {os.cpu_count()} cores, Python "
        f"{platform.python_version()}, NumPy {np.__version__}",
        f"- load average when the run began: {os.getloadavg()[0]:.1f} on {os.cpu_count()} "
        "cores (above the core count, other work shared the machine: compare ratios)",
        "",
    ]
    body: list[str] = []
    if args.only in (None, "generator"):
        body += bench_generator(args.repeats)
    if args.only in (None, "features"):
        body += bench_features(args.repeats)
    if args.only in (None, "training"):
        body += bench_training(args.repeats)
    if args.only in (None, "explanations"):
        body += bench_explanations(args.repeats)
    if args.only in (None, "serving"):
        body += _section("serving")(args.repeats)
    if args.only in (None, "scoring"):
        body += _section("scoring")(args.repeats)
    if args.only in (None, "monitoring"):
        body += _section("monitoring")(args.repeats)
    if args.only in (None, "drivers"):
        body += _section("drivers")(args.repeats)
    if args.only in (None, "evaluate"):
        body += _section("evaluate")(args.repeats)
    if args.only and args.output.exists():
        body = _merge(args.output.read_text(), body)
    args.output.write_text("\n".join(header + body).rstrip("\n") + "\n")
    print("\n".join(header + body))


def _section(name: str) -> Callable[[int], list[str]]:
    """``bench`` of benchmarks/<name>.py (run as ``python -m benchmarks.run``: ``serving``
    is also a package, so this folder must not be first on the path)."""
    import importlib

    bench = importlib.import_module(f"benchmarks.{name}").bench

    def section(repeats: int) -> list[str]:
        lines = list(bench(repeats))
        return lines if lines and lines[-1] == "" else [*lines, ""]

    return section


def merge_section(output: Path, section: list[str]) -> None:
    """Write ``section`` (one ``## `` section's lines) into ``output``: in place of the
    section of the same title, or at the end (a new file gets the usual title)."""
    if not output.exists():
        output.write_text("\n".join(["# Benchmarks", "", *section]).rstrip("\n") + "\n")
        return
    existing = output.read_text()
    lines = existing.splitlines()
    first = next((i for i, line in enumerate(lines) if line.startswith("## ")), len(lines))
    merged = lines[:first] + _merge(existing, section)
    output.write_text("\n".join(merged).rstrip("\n") + "\n")


def _merge(existing: str, fresh: list[str]) -> list[str]:
    """Replace the sections of ``existing`` that ``fresh`` re-measured; keep the others."""

    def sections(lines: list[str]) -> dict[str, list[str]]:
        out: dict[str, list[str]] = {}
        current = None
        for line in lines:
            if line.startswith("## "):
                current = line
                out[current] = []
            if current is not None:
                out[current].append(line)
        return out

    old, new = sections(existing.splitlines()), sections(fresh)
    merged = {**old, **new}
    return [line for block in merged.values() for line in block]


if __name__ == "__main__":
    main()
