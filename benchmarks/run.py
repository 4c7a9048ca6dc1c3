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
import shutil
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

from synthetic.config import DEFAULT_PEOPLE, GeneratorSettings
from synthetic.generate import generate, write_dataset


def _median_seconds(fn: Callable[[], object], repeats: int) -> tuple[float, list[float]]:
    times = []
    for _ in range(repeats):
        began = time.perf_counter()
        fn()
        times.append(time.perf_counter() - began)
    return statistics.median(times), times


def bench_generator(repeats: int) -> list[str]:
    """Generator time at three sizes, and generate-vs-write at the default size."""
    rows = []
    per_person = {}
    for people in (50_000, 100_000, DEFAULT_PEOPLE):
        settings = GeneratorSettings(people=people, seed=20241)
        med, runs = _median_seconds(lambda s=settings: generate(s), repeats)
        per_person[people] = med / people
        rows.append(
            f"| generate in memory | {people:,} | {med:.1f} | "
            f"{', '.join(f'{t:.1f}' for t in runs)} | {people / med:,.0f} |"
        )
    data = generate(GeneratorSettings(people=DEFAULT_PEOPLE, seed=20241))
    tmp = Path(tempfile.mkdtemp(prefix="vru-bench-"))
    try:
        med_w, runs_w = _median_seconds(
            lambda: write_dataset(data, tmp / "pop", overwrite=True), repeats
        )
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    rows.append(
        f"| write Parquet (zstd) | {DEFAULT_PEOPLE:,} | {med_w:.1f} | "
        f"{', '.join(f'{t:.1f}' for t in runs_w)} | {DEFAULT_PEOPLE / med_w:,.0f} |"
    )
    scale = per_person[DEFAULT_PEOPLE] / per_person[50_000]
    lines = [
        "## Synthetic population generator",
        "",
        "`vru synth` for the default Avon and Somerset population (313,000 resident "
        "10–24 year-olds at any month; about 620,000 people pass through 2015–2025).",
        "",
        "| step | --people | median s | runs (s) | people/s |",
        "| --- | --- | --- | --- | --- |",
        *rows,
        "",
        f"- Cost per person at {DEFAULT_PEOPLE:,} vs 50,000 (same run): **{scale:.2f}×** "
        "(1.0 = perfectly linear).",
        f"- Writing takes {med_w / (per_person[DEFAULT_PEOPLE] * DEFAULT_PEOPLE):.2f}× the "
        "generation time; `vru synth` for the default population therefore takes about "
        f"**{per_person[DEFAULT_PEOPLE] * DEFAULT_PEOPLE + med_w:.0f} s** end to end.",
        "",
    ]
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--output", type=Path, default=Path("BENCHMARKS.md"))
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    header = [
        "# Benchmarks",
        "",
        "Written by `make bench` (`benchmarks/run.py`); do not edit by hand. Medians of "
        f"{args.repeats} runs; ratios are between figures of the same run.",
        "",
        f"- date: {dt.date.today().isoformat()}",
        f"- machine: {platform.machine()}, {os.cpu_count()} cores, Python "
        f"{platform.python_version()}, NumPy {np.__version__}",
        "",
    ]
    body = bench_generator(args.repeats)
    args.output.write_text("\n".join(header + body))
    print("\n".join(header + body))


if __name__ == "__main__":
    main()
