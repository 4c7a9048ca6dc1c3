"""Benchmark of `vru monitor`: one month's checks of both released models.

The setup is the scoring benchmark's (:mod:`benchmarks.scoring`): the default population
(``GeneratorSettings()``, 313,000 resident at any month, records to December 2025) is
generated once into a temporary folder, and both outcomes are trained on a 30,000-person
population from the same generator and released in a temporary MLflow store. The models
were checked on the 2025-01-01 snapshot, so the month to 2026-01-01 is the first whose
lists of 12 months before have matured: every check runs, outcomes by band and by
fairness group included. The month to 2025-06-01 has no matured outcomes yet, and the
30,000-person population's month to 2026-01-01 gives the size ratio.

Each run is a fresh ``vru monitor --no-enforce`` process into a new output folder, timed
end to end (start-up, imports and model loading included) with ``wait4``'s peak resident
memory. The process is ``python -m benchmarks.monitoring --stages FILE monitor ...``: the
same command line, with a stopwatch around the public functions the command calls
(loading the tables, building features, scoring, all the checks, recording), written to
``FILE`` at exit. Nothing in :mod:`monitoring` or :mod:`vru` is changed for it.

Run alone: ``python -m benchmarks.monitoring --repeats 3``.
"""

from __future__ import annotations

import argparse
import datetime as dt
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

#: the first month whose lists (drawn on the models' 2025-01-01 reference) have matured
MATURED = "2026-01-01"
#: a month whose outcome windows are still open
NOT_YET = "2025-06-01"
#: the aim of issue 15: one month on the default population in under a minute
AIM_SECONDS = 60.0
#: the stages timed inside the command, in the order they run
STAGES = ("loading data", "building features", "scoring", "checks", "recording")
PROJECT = Path(__file__).resolve().parents[1]


@dataclass(frozen=True)
class Case:
    """One kind of run: which population, which month."""

    key: str
    population: str
    as_of: str


@dataclass(frozen=True)
class Run:
    """What one ``vru monitor`` process took and found."""

    wall: float
    peak_mib: float
    #: seconds of each of :data:`STAGES`
    stages: Mapping[str, float]
    #: young people in the month's snapshot, and the snapshots built (the month, the one
    #: before, the models' reference, 12 months before when not the reference)
    people: int
    snapshots: int
    #: judged results (green, amber or red) and how many of them were amber and red
    judged: int
    amber: int
    red: int
    #: red results of checks the plan enforces (red switches the model off)
    red_enforced: int
    #: results waiting for an outcome window to close
    not_yet: int
    #: each outcome's status for the month
    status: Mapping[str, str]
    #: charts drawn in report.html
    charts: int
    #: the machine's 1-minute load average when the run began (others share it)
    load: float


def _monitor_once(root: Path, data_dir: Path, uri: str, case: Case, k: int) -> Run:
    """One fresh ``vru monitor --no-enforce`` process for ``case`` into a new folder."""
    import pandas as pd

    out = root / f"monitor-{case.key}-{k}"
    stages, log_path = out.with_suffix(".stages.json"), out.with_suffix(".log")
    env = {
        **os.environ,
        "MLFLOW_TRACKING_URI": uri,
        "VRU_EXPERIMENT": "bench-monitor",
        "VRU_PROJECT_DIR": str(root),
    }
    command = [sys.executable, "-m", "benchmarks.monitoring", "--stages", str(stages)]
    command += ["monitor", "--data", str(data_dir), "--as-of", case.as_of]
    command += ["--out", str(out), "--no-enforce"]
    load = os.getloadavg()[0]
    began = time.perf_counter()
    with log_path.open("w") as log:
        process = subprocess.Popen(command, cwd=PROJECT, env=env, stdout=log, stderr=log)
        _, exit_status, usage = os.wait4(process.pid, 0)
    wall = time.perf_counter() - began
    if os.waitstatus_to_exitcode(exit_status) != 0:  # the folder goes: say why here
        tail = log_path.read_text().splitlines()[-20:]
        raise RuntimeError("vru monitor failed:\n" + "\n".join(tail))
    timed = json.loads(stages.read_text())
    if timed["people"] == 0 or min(timed["seconds"][s] for s in STAGES) <= 0:
        raise RuntimeError(f"the stopwatch missed a stage of vru monitor: {timed}")
    history = pd.read_parquet(out / "history.parquet")
    charts = (out / "report.html").read_text().count("data:image/png")
    shutil.rmtree(out)
    checked = history[history["check"] != "status"]
    results = checked["status"]
    status = history[history["check"] == "status"].set_index("outcome")["status"]
    return Run(
        wall=wall,
        peak_mib=usage.ru_maxrss / 1024,
        stages=timed["seconds"],
        people=int(timed["people"]),
        snapshots=int(timed["snapshots"]),
        judged=int(results.isin(("green", "amber", "red")).sum()),
        amber=int((results == "amber").sum()),
        red=int((results == "red").sum()),
        red_enforced=int(((results == "red") & checked["enforced"].astype(bool)).sum()),
        not_yet=int((results == "not yet").sum()),
        status={str(o): str(s) for o, s in status.items()},
        charts=charts,
        load=load,
    )


def bench(repeats: int) -> list[str]:
    """`vru monitor` for one month: matured and not yet on the default population, and
    a matured month on 30,000; stage times, peak RSS, the aim of under a minute."""
    # imported here, not at the top: the timed process imports this module too
    from benchmarks.scoring import TRAIN_PEOPLE, _release_models
    from synthetic.config import GeneratorSettings
    from synthetic.generate import generate, write_dataset

    settings = GeneratorSettings()
    cases = (
        Case("full-matured", f"{settings.people:,}", MATURED),
        Case("full-not-yet", f"{settings.people:,}", NOT_YET),
        Case("small-matured", f"{TRAIN_PEOPLE:,}", MATURED),
    )
    root = Path(tempfile.mkdtemp(prefix="vru-bench-monitoring-"))
    try:
        data = {
            cases[0].population: write_dataset(generate(settings), root / "pop"),
            cases[2].population: root / "train" / "pop",
        }
        uri = _release_models(root)
        runs: dict[str, list[Run]] = {c.key: [] for c in cases}
        for k in range(repeats):
            for case in cases:  # interleaved, so machine noise hits every kind alike
                runs[case.key].append(_monitor_once(root, data[case.population], uri, case, k))
    finally:
        shutil.rmtree(root, ignore_errors=True)
    return _section(cases, runs, repeats)


def _median(runs: Sequence[Run], value: Callable[[Run], float]) -> float:
    return statistics.median(value(r) for r in runs)


def _section(cases: Sequence[Case], runs: Mapping[str, Sequence[Run]], repeats: int) -> list[str]:
    """The BENCHMARKS.md section of the measured ``runs``."""
    wall = {c.key: _median(runs[c.key], lambda r: r.wall) for c in cases}
    rows = []
    for case in cases:
        first = runs[case.key][0]
        walls = ", ".join(f"{r.wall:.1f}" for r in runs[case.key])
        outcomes = "all matured" if first.not_yet == 0 else "not yet"
        status = ", ".join(f"{o} {s}" for o, s in first.status.items())
        rows.append(
            f"| {case.population} | {case.as_of} | {first.people:,} | {first.snapshots} | "
            f"{outcomes} | "
            f"{first.judged:,} ({first.amber} amber, {first.red} red) | {status} | "
            f"{wall[case.key]:.1f} | {walls} | "
            f"{_median(runs[case.key], lambda r: r.peak_mib):,.0f} |"
        )
    stage = {
        c.key: {s: statistics.median(r.stages[s] for r in runs[c.key]) for s in STAGES}
        for c in cases
    }
    outside = {c.key: wall[c.key] - sum(stage[c.key].values()) for c in cases}
    stage_rows = [
        f"| {s} | " + " | ".join(f"{stage[c.key][s]:.1f}" for c in cases) + " |" for s in STAGES
    ]
    stage_rows.append(
        "| start-up, imports, loading the models and the plan | "
        + " | ".join(f"{outside[c.key]:.1f}" for c in cases)
        + " |"
    )
    full, not_yet, small = cases
    aim = wall[full.key]
    over = sum(r.wall >= AIM_SECONDS for r in runs[full.key])
    slowest = max(r.wall for r in runs[full.key])
    people = {c.key: runs[c.key][0].people for c in cases}

    grows = {c.key: wall[c.key] - outside[c.key] for c in cases}
    per_person = wall[full.key] / people[full.key] / (wall[small.key] / people[small.key])
    per_person_inside = grows[full.key] / people[full.key] / (grows[small.key] / people[small.key])
    red = sum(r.red for rs in runs.values() for r in rs)
    red_enforced = sum(r.red_enforced for rs in runs.values() for r in rs)
    loads = [r.load for rs in runs.values() for r in rs]
    return [
        "## Monitoring",
        "",
        f"`vru monitor --as-of A --no-enforce` for one month, both outcomes, every local "
        f"authority, against `monitoring/plan.yaml`: on the default population "
        f"({full.population} resident at any month, records to December 2025) for the month "
        f"to {full.as_of} — the first whose lists of 12 months before have matured, so every "
        f"check runs, outcomes by band and by fairness group included — and for the month to "
        f"{not_yet.as_of} (outcome windows still open); and on the {small.population}-person "
        "population for the size ratio. Models: trained and released as in the Batch scoring "
        f"section (on the {small.population}, checked on the 2025-01-01 snapshot, released in "
        "a temporary store). Each run is a fresh process into a new output folder (history, "
        f"report, one MLflow run); median of {repeats} run{'s' if repeats > 1 else ''}, the "
        "three kinds interleaved; wall time includes start-up. `--no-enforce` keeps runs "
        "comparable: enforcement only adds a couple of registry writes (a suspension when a "
        "check is red, and a note of the month's status on each model version).",
        "",
        "| population | as-of | young people | snapshots built | outcomes | results judged | "
        "status | median s | runs (s) | peak RSS MiB |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |",
        *rows,
        "",
        "Where the time goes (medians, s; the stages are timed inside the command):",
        "",
        "| stage | " + " | ".join(f"{c.population}, {c.as_of}" for c in cases) + " |",
        "| --- | " + " | ".join("---" for _ in cases) + " |",
        *stage_rows,
        "",
        f"- Aim (issue 15): one month on the default population in under a minute — "
        f"**{'met' if aim < AIM_SECONDS else 'not met'}** (median {aim:.1f} s, "
        f"{aim / AIM_SECONDS:.2f}× the minute); {over} of {len(runs[full.key])} runs took "
        f"longer than a minute (slowest {slowest:.1f} s) on this shared machine.",
        f"- Cost per young person, {full.population} ÷ {small.population} (same run): "
        f"**{per_person:.2f}×** end to end, {per_person_inside:.2f}× without start-up"
        " (1.0 = linear; below 1, the fixed costs are shared by more people). "
        f"{people[full.key] / people[small.key]:.1f}× the young people take "
        f"{wall[full.key] / wall[small.key]:.1f}× the time.",
        f"- A matured month ÷ one with outcomes not yet: **{aim / wall[not_yet.key]:.2f}×** "
        "(the difference: judging the lists and estimates of 12 months before against the "
        "recorded outcomes, by band and by fairness group).",
        "- Stages: *checks* is everything the monitoring does besides building features and "
        "scoring (drift against the resampled reference, band shares, lists, outcomes, "
        "disagreement); *recording* is the MLflow run, the history and report.html, whose "
        f"{runs[full.key][0].charts} charts (one per check and area) are drawn whatever the "
        "population size.",
        f"- Red results in these runs: {red}, {red_enforced} of them on checks the plan "
        "enforces"
        + (
            ": with enforcement those would have suspended a model version from that month "
            "(the runs measure the checks, not the suspension)."
            if red_enforced
            else "; with enforcement no model version would have been suspended."
        ),
        f"- The machine is shared: its 1-minute load average when each run began was "
        f"{min(loads):.1f} to {max(loads):.1f} (median {statistics.median(loads):.1f}) on "
        f"{os.cpu_count()} cores, so single runs vary; compare the ratios.",
        "",
    ]


def _run_with_stopwatch(stages_file: Path, args: list[str]) -> None:
    """Run ``vru ARGS`` in this process, timing :data:`STAGES`; write them to ``stages_file``.

    The stopwatch wraps the public functions ``vru monitor`` calls at run time, so the
    command line, its imports and its work are the command's own.
    """
    import pandas as pd

    import features.snapshot
    import monitoring.record
    import monitoring.run
    from vru.cli import app

    spent = dict.fromkeys(
        ("loading data", "building features", "scoring", "monitor", "recording"), 0.0
    )
    people: list[int] = []
    snapshots: list[int] = []

    def stopwatch(stage: str, function: Callable[..., Any]) -> Callable[..., Any]:
        @functools.wraps(function)
        def timed(*args: Any, **kwargs: Any) -> Any:
            began = time.perf_counter()
            try:
                return function(*args, **kwargs)
            finally:
                spent[stage] += time.perf_counter() - began

        return timed

    build_snapshot = monitoring.run.build_snapshot

    def snapshot(data: Any, dates: list[dt.date], *args: Any, **kwargs: Any) -> Any:
        built = build_snapshot(data, dates, *args, **kwargs)
        stamps = pd.to_datetime(built.frame["as_of"]).dt.date
        people.append(int((stamps == max(dates)).sum()))
        snapshots.append(len(set(dates)))
        return built

    monitor_months = monitoring.run.monitor_months

    def monitor(
        data: Any, months: Any, models: Mapping[str, Any], *args: Any, **kwargs: Any
    ) -> Any:
        for kind in {type(m.model) for m in models.values()}:  # the classes MLflow loaded
            kind.predict = stopwatch("scoring", kind.predict)
        return monitor_months(data, months, models, *args, **kwargs)

    features.snapshot.load_tables = stopwatch("loading data", features.snapshot.load_tables)
    monitoring.run.build_snapshot = stopwatch("building features", snapshot)
    monitoring.run.monitor_months = stopwatch("monitor", monitor)
    monitoring.record.record_months = stopwatch("recording", monitoring.record.record_months)
    try:
        app(args=args, prog_name="vru")
    finally:
        seconds = {s: spent[s] for s in ("loading data", "building features", "scoring")}
        seconds["checks"] = spent["monitor"] - spent["building features"] - spent["scoring"]
        seconds["recording"] = spent["recording"]
        stages_file.write_text(
            json.dumps({"seconds": seconds, "people": sum(people), "snapshots": sum(snapshots)})
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
