"""Benchmark of `vru drivers`: the partnership's drivers report, five years, every authority.

The setup is the monitoring benchmark's (:mod:`benchmarks.monitoring`): the default
population (``GeneratorSettings()``, 313,000 resident at any month, records to December
2025) is generated once into a temporary folder, and both outcomes are trained on a
30,000-person population from the same generator and released in a temporary MLflow
store (:func:`benchmarks.scoring._release_models`). Three kinds of run, interleaved:
the default population for the five years to 2026-01-01 with the released models
described (issue 16's figure), the same with ``--no-models`` (what describing the models
costs), and the 30,000-person population with the models (the size ratio).

Each run is a fresh ``vru drivers`` process into a new output folder, timed end to end
(start-up, imports and model loading included), with its peak resident memory: the
process's own high-water mark (``VmHWM``), read as it ends. (``wait4``'s ``ru_maxrss`` is
no use here: Linux carries the parent's peak over ``fork`` and ``exec``, so every child
of the benchmark, which holds the generated population, would report at least that.)
The process is ``python -m benchmarks.drivers --stages FILE drivers ...``: the same
command line, with a stopwatch around the public functions the command calls (loading
the tables and the models, finding the events, the trend, pathway and recording tables,
the models' contributions, disclosure control, writing the reports, and the manifest and
MLflow run), written to ``FILE`` at exit. Nothing in :mod:`drivers` or :mod:`vru` is
changed for it.

Run alone: ``python -m benchmarks.drivers --repeats 3``.
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

#: the first day after the period reported on: the five years 2021–2025
AS_OF = "2026-01-01"
YEARS = 5
#: the aim of issue 16: the default population, five years, all five authorities
AIM_SECONDS = 120.0
#: the stages timed inside the command, in the order they run
STAGES = (
    "loading data",
    "loading the models",
    "finding events",
    "trends",
    "pathways",
    "recording by group",
    "features for the models",
    "scoring and explaining",
    "disclosure control",
    "rest of the tables",
    "writing the reports",
    "manifest and MLflow run",
)
#: stages that only run when the models are described
MODEL_STAGES = ("loading the models", "features for the models", "scoring and explaining")
#: what each stage wraps, for the notes under the stage table
STAGE_FUNCTIONS = {
    "loading data": "`features.snapshot.load_tables`",
    "loading the models": "`models.registry.Registry.load`, once per outcome",
    "finding events": "`measure_events` per measure, `first_involvement`, "
    "`recorded_involvement`, `read_true_involvement`",
    "trends": "`trend_table`, quarterly and yearly",
    "pathways": "`pathway_table`",
    "recording by group": "`recording_table` and `truth_table`",
    "features for the models": "`build_snapshot` for the last four quarters, inside "
    "`contribution_table`",
    "scoring and explaining": "the rest of `contribution_table`: scoring, the panel "
    "lists, exact contributions of a sample per authority and everyone listed",
    "disclosure control": "`drivers.disclosure.protect` of every table, and the "
    "suppression shared between tables of the same populations",
    "rest of the tables": "whatever else `build_drivers` does (the people index, "
    "assembling the tables)",
    "writing the reports": "`drivers.report.write_reports`: one page with its charts "
    "and CSV tables per area",
    "manifest and MLflow run": "the rest of `drivers.record.record_drivers`: the "
    "manifest's checksums, the MLflow run and its artifacts, the swap into place",
}
PROJECT = Path(__file__).resolve().parents[1]


@dataclass(frozen=True)
class Case:
    """One kind of run: which population, with the models described or not."""

    key: str
    population: str
    models: bool


@dataclass(frozen=True)
class Run:
    """What one ``vru drivers`` process took and wrote."""

    wall: float
    peak_mib: float
    #: seconds of each of :data:`STAGES`
    stages: Mapping[str, float]
    #: people in the extract (everyone who lived in the area at some month of it)
    people: int
    #: cells withheld by disclosure control (the manifest's count)
    suppressed: int
    #: report.html pages written (the force area and each authority)
    reports: int
    #: the output folder's size in MB (10⁶ bytes)
    megabytes: float
    #: outcome → model described (its label), from the manifest
    models: Mapping[str, str]
    #: the machine's 1-minute load average when the run began (others share it)
    load: float


def _drivers_once(root: Path, data_dir: Path, uri: str, case: Case, k: int) -> Run:
    """One fresh ``vru drivers`` process for ``case`` into a new folder."""
    out = root / f"drivers-{case.key}-{k}"
    stages, log_path = out.with_suffix(".stages.json"), out.with_suffix(".log")
    env = {
        **os.environ,
        "MLFLOW_TRACKING_URI": uri,
        "VRU_EXPERIMENT": "bench-drivers",
        "VRU_PROJECT_DIR": str(root),
    }
    command = [sys.executable, "-m", "benchmarks.drivers", "--stages", str(stages)]
    command += ["drivers", "--data", str(data_dir), "--as-of", AS_OF, "--years", str(YEARS)]
    command += ["--out", str(out), "--models" if case.models else "--no-models"]
    load = os.getloadavg()[0]
    began = time.perf_counter()
    with log_path.open("w") as log:
        process = subprocess.Popen(command, cwd=PROJECT, env=env, stdout=log, stderr=log)
        _, exit_status, _ = os.wait4(process.pid, 0)
    wall = time.perf_counter() - began
    if os.waitstatus_to_exitcode(exit_status) != 0:  # the folder goes: say why here
        tail = log_path.read_text().splitlines()[-20:]
        raise RuntimeError("vru drivers failed:\n" + "\n".join(tail))
    timed = json.loads(stages.read_text())
    expected = [s for s in STAGES if case.models or s not in MODEL_STAGES]
    if timed["people"] == 0 or min(timed["seconds"][s] for s in expected) <= 0:
        raise RuntimeError(f"the stopwatch missed a stage of vru drivers: {timed}")
    manifest = json.loads((out / "manifest.json").read_text())
    described = {str(o): str(label) for o, label in manifest["models"].items()}
    if case.models and len(described) != 2:
        raise RuntimeError(f"vru drivers did not describe both models: {manifest['models']}")
    files = [p for p in out.rglob("*") if p.is_file()]
    reports = sum(p.name == "report.html" for p in files)
    megabytes = sum(p.stat().st_size for p in files) / 1e6
    shutil.rmtree(out)
    return Run(
        wall=wall,
        peak_mib=float(timed["peak_kib"]) / 1024,
        stages=timed["seconds"],
        people=int(timed["people"]),
        suppressed=int(manifest["disclosure"]["suppressed_cells"]),
        reports=reports,
        megabytes=megabytes,
        models=described,
        load=load,
    )


def bench(repeats: int) -> list[str]:
    """`vru drivers` for five years and every authority: the default population with and
    without the models described, and 30,000 with them; stage times, peak RSS, the aim
    of under two minutes."""
    # imported here, not at the top: the timed process imports this module too
    from benchmarks.scoring import TRAIN_PEOPLE, _release_models
    from synthetic.config import GeneratorSettings
    from synthetic.generate import generate, write_dataset

    settings = GeneratorSettings()
    cases = (
        Case("full", f"{settings.people:,}", models=True),
        Case("full-no-models", f"{settings.people:,}", models=False),
        Case("small", f"{TRAIN_PEOPLE:,}", models=True),
    )
    root = Path(tempfile.mkdtemp(prefix="vru-bench-drivers-"))
    try:
        data = {
            cases[0].population: write_dataset(generate(settings), root / "pop"),
            cases[2].population: root / "train" / "pop",
        }
        uri = _release_models(root)
        runs: dict[str, list[Run]] = {c.key: [] for c in cases}
        for k in range(repeats):
            for case in cases:  # interleaved, so machine noise hits every kind alike
                runs[case.key].append(_drivers_once(root, data[case.population], uri, case, k))
    finally:
        shutil.rmtree(root, ignore_errors=True)
    return _section(cases, runs, repeats)


def _median(runs: Sequence[Run], value: Callable[[Run], float]) -> float:
    return statistics.median(value(r) for r in runs)


def _label(case: Case) -> str:
    return f"{case.population}, {'with' if case.models else 'no'} models"


def _section(cases: Sequence[Case], runs: Mapping[str, Sequence[Run]], repeats: int) -> list[str]:
    """The BENCHMARKS.md section of the measured ``runs``."""
    wall = {c.key: _median(runs[c.key], lambda r: r.wall) for c in cases}
    rows = []
    for case in cases:
        first = runs[case.key][0]
        walls = ", ".join(f"{r.wall:.1f}" for r in runs[case.key])
        starts = ", ".join(f"{r.load:.1f}" for r in runs[case.key])
        described = ", ".join(first.models.values()) if case.models else "none (`--no-models`)"
        rows.append(
            f"| {case.population} | {first.people:,} | {described} | {wall[case.key]:.1f} | "
            f"{walls} | {starts} | {_median(runs[case.key], lambda r: r.peak_mib):,.0f} | "
            f"{first.suppressed:,} | {first.reports} | "
            f"{_median(runs[case.key], lambda r: r.megabytes):.1f} |"
        )
    stage = {
        c.key: {s: statistics.median(r.stages[s] for r in runs[c.key]) for s in STAGES}
        for c in cases
    }
    outside = {c.key: wall[c.key] - sum(stage[c.key].values()) for c in cases}

    def cell(case: Case, name: str) -> str:
        if not case.models and name in MODEL_STAGES:
            return "—"
        return f"{stage[case.key][name]:.1f}"

    stage_rows = [f"| {s} | " + " | ".join(cell(c, s) for c in cases) + " |" for s in STAGES]
    stage_rows.append(
        "| start-up, imports, checking the request | "
        + " | ".join(f"{outside[c.key]:.1f}" for c in cases)
        + " |"
    )
    full, bare, small = cases
    aim = wall[full.key]
    over = sum(r.wall >= AIM_SECONDS for r in runs[full.key])
    slowest = max(r.wall for r in runs[full.key])
    people = {c.key: runs[c.key][0].people for c in cases}
    grows = {c.key: wall[c.key] - outside[c.key] for c in cases}
    per_person = wall[full.key] / people[full.key] / (wall[small.key] / people[small.key])
    per_person_inside = grows[full.key] / people[full.key] / (grows[small.key] / people[small.key])
    top = sorted(STAGES, key=lambda s: stage[full.key][s], reverse=True)[:3]
    explaining = sum(stage[full.key][s] for s in MODEL_STAGES)
    loads = [r.load for rs in runs.values() for r in rs]
    return [
        "## Drivers report",
        "",
        f"`vru drivers --as-of {AS_OF} --years {YEARS}` for every local authority and the "
        f"force area: on the default population ({full.population} resident at any month, "
        "records to December 2025) with the released models described, the same with "
        f"`--no-models` (what describing the models costs), and on the {small.population}-"
        "person population with the models, for the size ratio. Models: trained and "
        f"released as in the Batch scoring section (on the {small.population}, released in a "
        "temporary store). Each run is a fresh process into a new output folder (one page "
        "with its charts and CSV tables per area, the manifest, one MLflow run with the "
        f"folder as its artifacts); median of {repeats} run{'s' if repeats > 1 else ''}, the "
        "three kinds interleaved; wall time includes start-up. People in the extract: "
        "everyone who lived in the area at some month of it, the denominator of the trends.",
        "",
        "| population | people in the extract | models described | median s | runs (s) | "
        "load at start | peak RSS MiB | cells suppressed | reports | output MB |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |",
        *rows,
        "",
        "Where the time goes (medians, s; the stages are timed inside the command):",
        "",
        "| stage | " + " | ".join(_label(c) for c in cases) + " |",
        "| --- | " + " | ".join("---" for _ in cases) + " |",
        *stage_rows,
        "",
        f"- Aim (issue 16): the default population, {YEARS} years, all five authorities in "
        f"under 2 minutes — **{'met' if aim < AIM_SECONDS else 'not met'}** (median "
        f"{aim:.1f} s, {aim / AIM_SECONDS:.2f}× the 120 s); {over} of {len(runs[full.key])} "
        f"runs took longer (slowest {slowest:.1f} s) on this shared machine.",
        f"- Describing the models, same run: with ÷ without **{aim / wall[bare.key]:.2f}×** "
        f"({aim - wall[bare.key]:+.1f} s; the model stages inside the command take "
        f"{explaining:.1f} s, loading the models included).",
        f"- Cost per person in the extract, {full.population} ÷ {small.population} (same "
        f"run): **{per_person:.2f}×** end to end, {per_person_inside:.2f}× without start-up "
        "(1.0 = linear; below 1, the fixed costs — the charts, the sampled explanations, "
        f"the MLflow run — are shared by more people). {people[full.key] / people[small.key]:.1f}× "
        f"the people take {wall[full.key] / wall[small.key]:.1f}× the time.",
        "- Largest stages on the default population: "
        + ", ".join(f"{s} {stage[full.key][s]:.1f} s" for s in top)
        + ".",
        "- Stages: " + "; ".join(f"*{s}*: {STAGE_FUNCTIONS[s]}" for s in STAGES) + ".",
        f"- The machine is shared: its 1-minute load average when each run began was "
        f"{min(loads):.1f} to {max(loads):.1f} (median {statistics.median(loads):.1f}) on "
        f"{os.cpu_count()} cores, so single runs vary; compare the ratios.",
        "",
    ]


def _peak_kib() -> int:
    """This process's peak resident memory in KiB since it started (``VmHWM``)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    raise RuntimeError("no VmHWM in /proc/self/status: peak memory is measured on Linux")


def _run_with_stopwatch(stages_file: Path, args: list[str]) -> None:
    """Run ``vru ARGS`` in this process, timing :data:`STAGES`; write them to ``stages_file``.

    The stopwatch wraps the public functions ``vru drivers`` calls at run time (looked up
    in the modules that call them), so the command line, its imports and its work are the
    command's own.
    """
    import drivers.contributions
    import drivers.record
    import drivers.report
    import drivers.run
    import features.snapshot
    import models.registry
    from vru.cli import app

    spent: dict[str, float] = {}
    people: list[int] = []

    def stopwatch(stage: str, function: Callable[..., Any]) -> Callable[..., Any]:
        @functools.wraps(function)
        def timed(*args: Any, **kwargs: Any) -> Any:
            began = time.perf_counter()
            try:
                return function(*args, **kwargs)
            finally:
                spent[stage] = spent.get(stage, 0.0) + time.perf_counter() - began

        return timed

    trend_table = drivers.run.trend_table

    def trends(who: Any, *args: Any, **kwargs: Any) -> Any:
        people.append(int(who.size))
        return trend_table(who, *args, **kwargs)

    run = drivers.run
    features.snapshot.load_tables = stopwatch("loading data", features.snapshot.load_tables)
    models.registry.Registry.load = stopwatch(  # type: ignore[method-assign]
        "loading the models", models.registry.Registry.load
    )
    for name in (
        "measure_events",
        "first_involvement",
        "recorded_involvement",
        "read_true_involvement",
    ):
        setattr(run, name, stopwatch("finding events", getattr(run, name)))
    run.trend_table = stopwatch("trends", functools.wraps(trend_table)(trends))
    run.pathway_table = stopwatch("pathways", run.pathway_table)
    run.recording_table = stopwatch("recording by group", run.recording_table)
    run.truth_table = stopwatch("recording by group", run.truth_table)
    run.protect = stopwatch("disclosure control", run.protect)
    # private, but it is the other half of disclosure control: time it when it is there
    if hasattr(run, "_share_suppression"):
        run._share_suppression = stopwatch("disclosure control", run._share_suppression)
    contributions = drivers.contributions
    contributions.build_snapshot = stopwatch(
        "features for the models", contributions.build_snapshot
    )
    contributions.contribution_table = stopwatch("contributions", contributions.contribution_table)
    run.build_drivers = stopwatch("build", run.build_drivers)
    drivers.report.write_reports = stopwatch("writing the reports", drivers.report.write_reports)
    drivers.record.record_drivers = stopwatch("record", drivers.record.record_drivers)
    try:
        app(args=args, prog_name="vru")
    finally:
        seconds = {s: spent.get(s, 0.0) for s in STAGES}
        seconds["scoring and explaining"] = spent.get("contributions", 0.0) - seconds.get(
            "features for the models", 0.0
        )
        inside = (
            "finding events",
            "trends",
            "pathways",
            "recording by group",
            "disclosure control",
        )
        seconds["rest of the tables"] = (
            spent.get("build", 0.0)
            - sum(seconds[s] for s in inside)
            - spent.get("contributions", 0.0)
        )
        seconds["manifest and MLflow run"] = (
            spent.get("record", 0.0) - seconds["writing the reports"]
        )
        extract = people[0] if people else 0
        stages_file.write_text(
            json.dumps({"seconds": seconds, "people": extract, "peak_kib": _peak_kib()})
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument(
        "--stages",
        type=Path,
        default=None,
        help="(used by the benchmark) run `vru ARGS` here, writing its stage times to this file",
    )
    parser.add_argument("vru_args", nargs=argparse.REMAINDER)
    args = parser.parse_args()
    if args.stages is not None:
        _run_with_stopwatch(args.stages, args.vru_args)
    else:
        print("\n".join(bench(args.repeats)))


if __name__ == "__main__":
    main()
