"""Benchmark of `vru score`: the monthly panel batch on the default population.

The default population (``GeneratorSettings()``, 313,000 resident at any month)
is generated once into a temporary folder. Training at that size takes about six
minutes per outcome (see the Training section) and is not what is measured here,
so both outcomes are trained on a 30,000-person population from the same
generator and released in a temporary MLflow store
(:func:`vru.release.release_population`: champion after the fairness gate, or a
recorded override when it fails); the models score the large population's
features, which have the same columns. Each scoring run is a fresh ``vru score``
process into a new output folder (the first month: no earlier list), timed end
to end (start-up, imports and model loading included); the manifest gives each
stage's time and ``wait4`` the process's peak resident memory.

Run alone: ``python benchmarks/scoring.py --repeats 3``. Set ``VRU_BENCH_SCORING=DIR`` to
keep the population and the released models in DIR and reuse them on the next run.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from synthetic.config import LOCAL_AUTHORITIES, GeneratorSettings
from synthetic.generate import generate, write_dataset

TRAIN_PEOPLE = 30_000
AS_OF = "2025-01-01"


def _release_models(root: Path) -> str:
    """Train both outcomes on a 30,000-person population and release them; the URI
    (kept in ``root/train/uri`` and reused from there when it is present)."""
    from vru.release import release_population

    done = root / "train" / "uri"
    if done.exists():
        return done.read_text().strip()
    _, uri, _ = release_population(
        root / "train",
        people=TRAIN_PEOPLE,
        seed=20241,
        capacity=dict.fromkeys(LOCAL_AUTHORITIES, 50),
        experiment="bench-train",
    )
    done.write_text(uri)
    return uri


def _population(root: Path, settings: GeneratorSettings) -> Path:
    """The default population's data folder under ``root`` (written once: its manifest is
    written last, so a folder holding one is complete)."""
    folder = root / "pop"
    if (folder / "manifest.json").exists():
        return folder
    return write_dataset(generate(settings), folder)


def _score_once(root: Path, data_dir: Path, uri: str, outcome: str, k: int) -> dict[str, object]:
    """One fresh `vru score` process: wall seconds, peak MiB and the manifest."""
    out = root / f"panels-{outcome}-{k}"
    env = {
        **os.environ,
        "MLFLOW_TRACKING_URI": uri,
        "VRU_EXPERIMENT": "bench-score",
        "VRU_PROJECT_DIR": str(root),
    }
    vru = str(Path(sys.executable).parent / "vru")
    args = ["score", "--data", str(data_dir), "--as-of", AS_OF, "--out", str(out)]
    began = time.perf_counter()
    with (root / "score.log").open("a") as log:
        process = subprocess.Popen(
            [vru, *args, "--outcome", outcome], env=env, stdout=log, stderr=log
        )
        _, status, usage = os.wait4(process.pid, 0)
    wall = time.perf_counter() - began
    if os.waitstatus_to_exitcode(status) != 0:
        raise RuntimeError(f"vru score failed; see {root / 'score.log'}")
    manifest = json.loads((out / "manifest.json").read_text())
    shutil.rmtree(out)
    return {"wall": wall, "peak_mib": usage.ru_maxrss / 1024, "manifest": manifest}


def bench(repeats: int) -> list[str]:
    """`vru score` for both outcomes and for one, default population; stage shares, peak RSS."""
    reuse = os.environ.get("VRU_BENCH_SCORING")
    root = Path(reuse) if reuse else Path(tempfile.mkdtemp(prefix="vru-bench-scoring-"))
    root.mkdir(parents=True, exist_ok=True)
    try:
        settings = GeneratorSettings()
        data_dir = _population(root, settings)
        uri = _release_models(root)
        runs: dict[str, list[dict[str, object]]] = {"both": [], "victim": []}
        for k in range(repeats):
            for outcome in runs:  # interleaved, so machine noise hits both alike
                runs[outcome].append(_score_once(root, data_dir, uri, outcome, k))
    finally:
        if not reuse:
            shutil.rmtree(root, ignore_errors=True)

    def median(outcome: str, key: str) -> float:
        return statistics.median(float(r[key]) for r in runs[outcome])  # type: ignore[arg-type]

    rows = []
    for outcome, label in (
        ("both", "both outcomes (the monthly batch)"),
        ("victim", "victim only"),
    ):
        manifest = runs[outcome][0]["manifest"]
        assert isinstance(manifest, dict)
        named = sum(c[o]["named"] for c in manifest["counts"].values() for o in c)
        walls = ", ".join(f"{float(r['wall']):.1f}" for r in runs[outcome])  # type: ignore[arg-type]
        rows.append(
            f"| {label} | {manifest['people_scored']:,} | {named:,} | "
            f"{median(outcome, 'wall'):.1f} | {walls} | {median(outcome, 'peak_mib'):,.0f} |"
        )
    stages = list(runs["both"][0]["manifest"]["durations"])  # type: ignore[index]
    stage_medians = {
        s: statistics.median(
            float(r["manifest"]["durations"][s])  # type: ignore[index]
            for r in runs["both"]
        )
        for s in stages
    }
    parts = list(runs["both"][0]["manifest"].get("writing_parts", {}))  # type: ignore[union-attr]
    part_medians = {
        p: statistics.median(
            float(r["manifest"]["writing_parts"][p])  # type: ignore[index]
            for r in runs["both"]
        )
        for p in parts
    }
    wall_both = median("both", "wall")
    outside = wall_both - sum(stage_medians.values())
    stage_rows = [
        f"| {s} | {t:.1f} | {t / wall_both:.0%} |"
        for s, t in sorted(stage_medians.items(), key=lambda kv: -kv[1])
    ]
    stage_rows.append(
        f"| start-up, imports, model loading, checks | {outside:.1f} | {outside / wall_both:.0%} |"
    )
    writing = stage_medians.get("writing packs", 0.0)
    part_rows = [
        f"| {p} | {t:.2f} | {t / writing:.0%} |" if writing else f"| {p} | {t:.2f} | — |"
        for p, t in sorted(part_medians.items(), key=lambda kv: -kv[1])
    ]
    ratio = wall_both / median("victim", "wall")
    return [
        "## Batch scoring for referral panels",
        "",
        f"`vru score --as-of {AS_OF}` on the default population ({settings.people:,} resident "
        "at any month), two lists per outcome and local authority (50 places on the known "
        "list, 20 on the early list), each run a fresh process into a new "
        "output folder. Models: both outcomes trained on a "
        f"{TRAIN_PEOPLE:,}-person population from the same generator (training at full size "
        "takes minutes per outcome and is measured in the Training section), then released in "
        f"a temporary store. Median of {repeats} run{'s' if repeats > 1 else ''}, both kinds "
        "interleaved; wall time includes start-up.",
        "",
        "| run | people scored | named | median s | runs (s) | peak RSS MiB |",
        "| --- | --- | --- | --- | --- | --- |",
        *rows,
        "",
        "Where the time goes (both outcomes, medians):",
        "",
        "| stage | s | share of wall time |",
        "| --- | --- | --- |",
        *stage_rows,
        "",
        *(
            [
                "Within writing packs (both outcomes, medians): splitting everyone by local "
                "authority and counting each list; the lists' CSV and Parquet files; drawing the "
                "estimates charts (inline SVG); the rest of rendering (agenda, cards, template); "
                "writing the HTML packs.",
                "",
                "| part | s | share of writing packs |",
                "| --- | --- | --- |",
                *part_rows,
                "",
            ]
            if part_rows
            else []
        ),
        f"- Both outcomes ÷ one outcome, same run: **{ratio:.2f}×** (features and loading are "
        "shared; scoring, explanations and cards are per outcome).",
        "- Named = the young people within each list's places (5 authorities × (50 + 20) per "
        "outcome); only they are explained and get a card in the pack (and a dot on their "
        "list's chart), everyone else is counted by band (data minimisation).",
        "",
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    print("\n".join(bench(parser.parse_args().repeats)))


if __name__ == "__main__":
    main()
