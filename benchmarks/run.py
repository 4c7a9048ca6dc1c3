"""`make bench`: measure side by side in one run and rewrite BENCHMARKS.md.

The machine is shared and noisy, so every figure is a median of repeats and
comparisons are quoted as ratios measured in the same run. Nothing here is a
test: performance claims live in BENCHMARKS.md, never in assertions.
"""

from __future__ import annotations

import argparse
import datetime as dt
import multiprocessing as mp
import os
import platform
import resource
import shutil
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

from synthetic.config import DEFAULT_PEOPLE, GeneratorSettings
from synthetic.generate import generate, write_dataset

MONTHLY_2024 = [dt.date(2024, m, 1) for m in range(1, 13)]


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


def _feature_run(args: tuple[str, str, int]) -> tuple[float, float]:
    """In a fresh process: load + validate, then time one variant; (seconds, peak MiB)."""
    folder, variant, n_dates = args
    import pandas as pd

    from features import contacts, incidents, school
    from features._engine import pandas_features
    from features.build import build_feature_table
    from features.schemas import data_end, load_raw
    from features.spine import build_spine

    tables = load_raw(Path(folder))
    dates = MONTHLY_2024[:n_dates]
    began = time.perf_counter()
    if variant == "ibis":
        build_feature_table(tables, dates, data_end(tables))
    else:
        spine = build_spine(tables["people"], dates)
        parts = [
            pandas_features(tables[name], spine.rows, [f.spec for f in mod.FEATURES], dates)
            for name, mod in (
                ("school_events", school),
                ("agency_contacts", contacts),
                ("incidents", incidents),
            )
        ]
        key = ["person_id", "snapshot"]
        out = spine.rows.set_index(key)
        for part in parts:
            out = out.join(part.set_index(key))
        pd.DataFrame(out).reset_index()
    elapsed = time.perf_counter() - began
    peak_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return elapsed, peak_mib


def bench_features(repeats: int) -> list[str]:
    """Ibis/DuckDB builders vs the pandas reference, 1 and 12 snapshots, default population."""
    tmp = Path(tempfile.mkdtemp(prefix="vru-bench-features-"))
    try:
        write_dataset(generate(GeneratorSettings(people=DEFAULT_PEOPLE, seed=20241)), tmp / "pop")
        results: dict[tuple[str, int], tuple[float, list[float], float]] = {}
        ctx = mp.get_context("spawn")
        for n_dates in (1, 12):
            for variant in ("ibis", "pandas"):
                runs = []
                peaks = []
                for _ in range(repeats):
                    with ctx.Pool(1) as pool:
                        elapsed, peak = pool.apply(
                            _feature_run, ((str(tmp / "pop"), variant, n_dates),)
                        )
                    runs.append(elapsed)
                    peaks.append(peak)
                results[(variant, n_dates)] = (statistics.median(runs), runs, max(peaks))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    rows = []
    for (variant, n_dates), (med, runs, peak) in results.items():
        label = (
            "Ibis on DuckDB (`build_feature_table`)"
            if variant == "ibis"
            else ("pandas reference (one groupby per snapshot)")
        )
        rows.append(
            f"| {label} | {n_dates} | {med:.1f} | {', '.join(f'{t:.1f}' for t in runs)} "
            f"| {peak:,.0f} |"
        )
    ratio_1 = results[("pandas", 1)][0] / results[("ibis", 1)][0]
    ratio_12 = results[("pandas", 12)][0] / results[("ibis", 12)][0]
    return [
        "## Point-in-time features",
        "",
        f"`vru features` on the default population ({DEFAULT_PEOPLE:,} at any month; the "
        "spine has about 313,000 rows per snapshot). Each run is a fresh process that first "
        "loads and validates the raw tables (not timed); the Ibis path also computes labels "
        "and assembles the table. Snapshots: the first of each month of 2024.",
        "",
        "| builder | snapshots | median s | runs (s) | peak RSS MiB |",
        "| --- | --- | --- | --- | --- |",
        *rows,
        "",
        f"- pandas reference ÷ Ibis/DuckDB, same run: **{ratio_1:.1f}×** for one snapshot, "
        f"**{ratio_12:.1f}×** for twelve.",
        "- Why it is fast: each event meets only the snapshots it can count in (windowed "
        "features expand events into snapshots `k_lo..k_hi`; all-history features are "
        "accumulated over `k_lo` and as-of-joined), never person × snapshot × event.",
        "",
    ]


def _train_run(args: tuple[str, str, int]) -> tuple[float, float, list[tuple[str, float]]]:
    """In a fresh process: train one outcome end to end; (seconds, peak MiB, stage times)."""
    folder, outcome, n_boot = args
    from training.train import train_outcome

    root = Path(folder).parent
    stages: list[tuple[str, float]] = []
    began = time.perf_counter()
    train_outcome(
        Path(folder),
        outcome,
        capacity=dict.fromkeys(
            (
                "Bath and North East Somerset",
                "Bristol",
                "North Somerset",
                "Somerset",
                "South Gloucestershire",
            ),
            50,
        ),
        tracking_uri=f"sqlite:///{root / f'mlflow-{outcome}.db'}",
        experiment="bench",
        artifact_dir=root / "mlartifacts",
        project_dir=root,
        n_boot=n_boot,
        progress=lambda message: stages.append((message, time.perf_counter() - began)),
    )
    elapsed = time.perf_counter() - began
    return elapsed, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, stages


def bench_training(repeats: int) -> list[str]:
    """`vru train` end to end on the default population, both outcomes."""
    tmp = Path(tempfile.mkdtemp(prefix="vru-bench-train-"))
    rows = []
    try:
        write_dataset(generate(GeneratorSettings(people=DEFAULT_PEOPLE, seed=20241)), tmp / "pop")
        ctx = mp.get_context("spawn")
        for outcome in ("victim", "perpetrator"):
            with ctx.Pool(1) as pool:
                elapsed, peak, stages = pool.apply(_train_run, ((str(tmp / "pop"), outcome, 100),))
            marks = "; ".join(f"{m.split(':')[0]} at {t:.0f}s" for m, t in stages)
            rows.append(f"| {outcome} | {elapsed:.0f} | {peak:,.0f} | {marks} |")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return [
        "## Training",
        "",
        f"`vru train` on the default population ({DEFAULT_PEOPLE:,}): features for eight "
        "yearly snapshots (about 2.5M rows), two temporal folds × three candidates, 100 "
        "bootstrap resamples per metric, plots, model card and registration. One run per "
        "outcome (a training run is minutes, not a micro-benchmark).",
        "",
        "| outcome | total s | peak RSS MiB | stages reached at |",
        "| --- | --- | --- | --- |",
        *rows,
        "",
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--output", type=Path, default=Path("BENCHMARKS.md"))
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--only", choices=("generator", "features", "training"), default=None)
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
    body: list[str] = []
    if args.only in (None, "generator"):
        body += bench_generator(args.repeats)
    if args.only in (None, "features"):
        body += bench_features(args.repeats)
    if args.only in (None, "training"):
        body += bench_training(args.repeats)
    if args.only and args.output.exists():
        body = _merge(args.output.read_text(), body)
    args.output.write_text("\n".join(header + body))
    print("\n".join(header + body))


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
