"""Benchmark of `vru evaluate`'s estimation: the impact evaluation at the panels' cut.

The default population (``GeneratorSettings()``, 313,000 resident at any month, records
to December 2025, the historic panels of :class:`synthetic.config.PanelHistory`) is
generated once into a temporary folder, as the other benchmarks do. Each run is a fresh
process that calls :func:`evaluation.run.evaluate` on it — reading and validating the
tables, the design, every estimate and check for every list and both outcomes — and
writes nothing: the report, the manifest and the MLflow run (:mod:`evaluation.record`)
are not timed. Both the call and the whole process (start-up and imports included) are
timed, with the process's peak resident memory (``VmHWM``, read as it ends: see
:mod:`benchmarks.drivers` for why not ``wait4``).

The process is ``python -m benchmarks.evaluate --stages FILE --data DIR``: the same
call, with a stopwatch around the public functions it calls (loading the tables, the
panel tables, the features and outcomes at each list month, the design; each
regression-discontinuity fit) and the stages it reports through its ``progress``
callback (balance, the effect at the cut, placebo cuts and bandwidths, each authority
and what could be detected), written to ``FILE`` at exit. Nothing in :mod:`evaluation`
is changed for it.

Run alone: ``python -m benchmarks.evaluate --repeats 3``.
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

#: the aim of the issue: `vru evaluate` on the default population in under 3 minutes
AIM_SECONDS = 180.0
#: the stages timed inside the call, in the order they run
STAGES = (
    "loading data",
    "the panels' lists",
    "features and outcomes at each list month",
    "rest of the design",
    "balance of records",
    "effects at the cut",
    "placebo cuts and bandwidths",
    "each authority and what could be detected",
)
#: the stages of the design (the records); the others are the estimates
RECORD_STAGES = STAGES[:4]
ESTIMATE_STAGES = STAGES[4:]
#: the ends of the progress messages of :func:`evaluation.run.run_evaluation` → stage
PROGRESS_STAGES = {
    ": balance of records either side of the cut": "balance of records",
    ": the effect at the cut": "effects at the cut",
    ": placebo cuts and bandwidths": "placebo cuts and bandwidths",
    ": each authority and what could be detected": "each authority and what could be detected",
}
#: what each stage wraps, for the notes under the stage table
STAGE_FUNCTIONS = {
    "loading data": "`features.snapshot.load_tables` (the four raw tables, validated)",
    "the panels' lists": "`features.schemas.load_panel_tables`: `panel_lists` and "
    "`interventions`, validated against each other and `people`",
    "features and outcomes at each list month": "`features.build.build_feature_table` "
    "for the young people listed, at every list month (the balance records and the "
    "12-month outcomes)",
    "rest of the design": "the rest of `evaluation.design.build_design`: months whose "
    "12 months closed, cuts that bound, crossover, the share of the 12 months helped",
    "balance of records": "one fit per record before the list month, per list (the first "
    "fit also imports `rdrobust`)",
    "effects at the cut": "being discussed, the help received and a year of help: three "
    "fits per list and outcome",
    "placebo cuts and bandwidths": "the fits at cuts where nothing changes and at five "
    "other bandwidths, per list and outcome",
    "each authority and what could be detected": "one fit per authority, per list and "
    "outcome, and the minimum detectable effects worked out from the fits",
}
PROJECT = Path(__file__).resolve().parents[1]


@dataclass(frozen=True)
class Run:
    """What one evaluation process took and found."""

    #: seconds inside :func:`evaluation.run.evaluate`
    seconds: float
    #: seconds of the whole process (start-up and imports included)
    wall: float
    peak_mib: float
    #: seconds of each of :data:`STAGES`
    stages: Mapping[str, float]
    #: regression-discontinuity fits (:func:`evaluation.rd.estimate` calls) and their seconds
    fits: int
    fit_seconds: float
    #: fits that gave no number (too few near the cut, no variation …)
    withheld: int
    listings: int
    young_people: int
    first_month: str
    last_month: str
    lists: tuple[str, ...]
    #: the machine's 1-minute load average when the run began (others share it)
    load: float


def _evaluate_once(root: Path, data_dir: Path, k: int) -> Run:
    """One fresh process running :func:`evaluation.run.evaluate` on ``data_dir``."""
    stages, log_path = root / f"evaluate-{k}.stages.json", root / f"evaluate-{k}.log"
    command = [sys.executable, "-m", "benchmarks.evaluate", "--stages", str(stages)]
    command += ["--data", str(data_dir)]
    load = os.getloadavg()[0]
    began = time.perf_counter()
    with log_path.open("w") as log:
        process = subprocess.Popen(command, cwd=PROJECT, stdout=log, stderr=log)
        _, exit_status, _ = os.wait4(process.pid, 0)
    wall = time.perf_counter() - began
    if os.waitstatus_to_exitcode(exit_status) != 0:  # the folder goes: say why here
        tail = log_path.read_text().splitlines()[-20:]
        raise RuntimeError("the evaluation failed:\n" + "\n".join(tail))
    timed = json.loads(stages.read_text())
    if timed["listings"] == 0 or min(timed["stages"][s] for s in STAGES) <= 0:
        raise RuntimeError(f"the stopwatch missed a stage of the evaluation: {timed}")
    return Run(
        seconds=float(timed["seconds"]),
        wall=wall,
        peak_mib=float(timed["peak_kib"]) / 1024,
        stages=timed["stages"],
        fits=int(timed["fits"]),
        fit_seconds=float(timed["fit_seconds"]),
        withheld=int(timed["withheld"]),
        listings=int(timed["listings"]),
        young_people=int(timed["young_people"]),
        first_month=str(timed["first_month"]),
        last_month=str(timed["last_month"]),
        lists=tuple(timed["lists"]),
        load=load,
    )


def bench(repeats: int) -> list[str]:
    """`vru evaluate`'s estimation on the default population: every list, both outcomes;
    stage times, peak RSS, the aim of under three minutes."""
    # imported here, not at the top: the timed process imports this module too
    from synthetic.config import GeneratorSettings
    from synthetic.generate import generate, write_dataset

    settings = GeneratorSettings()
    root = Path(tempfile.mkdtemp(prefix="vru-bench-evaluate-"))
    try:
        data_dir = write_dataset(generate(settings), root / "pop")
        runs = [_evaluate_once(root, data_dir, k) for k in range(repeats)]
    finally:
        shutil.rmtree(root, ignore_errors=True)
    return _section(f"{settings.people:,}", runs)


def _median(runs: Sequence[Run], value: Callable[[Run], float]) -> float:
    return statistics.median(value(r) for r in runs)


def _section(population: str, runs: Sequence[Run]) -> list[str]:
    """The BENCHMARKS.md section of the measured ``runs``."""
    first = runs[0]
    seconds = _median(runs, lambda r: r.seconds)
    wall = _median(runs, lambda r: r.wall)
    stage = {s: statistics.median(r.stages[s] for r in runs) for s in STAGES}
    records = sum(stage[s] for s in RECORD_STAGES)
    estimates = sum(stage[s] for s in ESTIMATE_STAGES)
    fit_seconds = _median(runs, lambda r: r.fit_seconds)
    over = sum(r.wall >= AIM_SECONDS for r in runs)
    slowest = max(r.wall for r in runs)
    loads = [r.load for r in runs]
    plural = "s" if len(runs) > 1 else ""
    row = (
        f"| {population} | {', '.join(first.lists)} | {first.first_month} to "
        f"{first.last_month} | {first.listings:,} | {first.young_people:,} | "
        f"{first.fits} ({first.withheld} withheld) | **{seconds:.1f}** | "
        + ", ".join(f"{r.seconds:.1f}" for r in runs)
        + f" | {wall:.1f} | "
        + ", ".join(f"{r.load:.1f}" for r in runs)
        + f" | {_median(runs, lambda r: r.peak_mib):,.0f} |"
    )
    stage_rows = [f"| {s} | {stage[s]:.1f} | {stage[s] / seconds:.0%} |" for s in STAGES]
    top = sorted(STAGES, key=lambda s: stage[s], reverse=True)[:3]
    return [
        "## Impact evaluation",
        "",
        "`evaluation.run.evaluate(folder)` — the estimation of `vru evaluate`, every list "
        f"and both outcomes — on the default population ({population} resident at any "
        "month, records to December 2025, the historic panels of `PanelHistory`'s "
        "defaults: hand-rules lists from 2019, a true 20% hazard reduction for 12 months "
        "of help). Each run is a fresh process; *evaluate s* is the call (reading and "
        "validating the tables included, nothing written), *process s* the whole process "
        "(start-up and imports too). Not timed: the report, its tables, the manifest and "
        f"the MLflow run (`evaluation.record`). Median of {len(runs)} run{plural}. A "
        "listing is one young person on one month's ranked list.",
        "",
        "| population | lists | list months | listings | young people | fits | "
        "evaluate s (median) | runs (s) | process s | load at start | peak RSS MiB |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |",
        row,
        "",
        "Where the time goes (medians, s; the stages are timed inside the call):",
        "",
        "| stage | s | share |",
        "| --- | --- | --- |",
        *stage_rows,
        "",
        f"- Aim (the issue): `vru evaluate` on the default population in under 3 minutes — "
        f"the estimation **{'meets' if wall < AIM_SECONDS else 'misses'}** it (median "
        f"{wall:.1f} s for the whole process, **{wall / AIM_SECONDS:.2f}×** the 180 s; the "
        f"call alone {seconds:.1f} s, {seconds / AIM_SECONDS:.2f}×); {over} of {len(runs)} "
        f"runs took longer (slowest {slowest:.1f} s). Writing the report and the MLflow "
        "run come on top.",
        f"- Records ÷ estimates: the design (reading the tables, the features and outcomes "
        f"at each list month) takes {records:.1f} s, the estimates {estimates:.1f} s; the "
        f"{first.fits} regression-discontinuity fits (`rdrobust`, clustered by young "
        f"person) take {fit_seconds:.1f} s in all, "
        f"{fit_seconds / max(first.fits, 1) * 1000:.0f} ms each on average.",
        "- Largest stages: " + ", ".join(f"{s} {stage[s]:.1f} s" for s in top) + ".",
        "- Stages: " + "; ".join(f"*{s}*: {STAGE_FUNCTIONS[s]}" for s in STAGES) + ".",
        f"- The machine is shared: its 1-minute load average when each run began was "
        f"{min(loads):.1f} to {max(loads):.1f} (median {statistics.median(loads):.1f}) on "
        f"{os.cpu_count()} cores, so single runs vary.",
        "",
    ]


def _peak_kib() -> int:
    """This process's peak resident memory in KiB since it started (``VmHWM``)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    raise RuntimeError("no VmHWM in /proc/self/status: peak memory is measured on Linux")


def _stage_of(message: str) -> str | None:
    """The stage a progress message of :func:`evaluation.run.run_evaluation` begins
    (None: a message inside the design, already timed by the stopwatch)."""
    for end, stage in PROGRESS_STAGES.items():
        if message.endswith(end):
            return stage
    if message.startswith("records (") or message.startswith("reading the panels"):
        return None
    raise RuntimeError(f"a progress message the benchmark does not know: {message!r}")


def _evaluate_with_stopwatch(stages_file: Path, folder: Path) -> None:
    """Run :func:`evaluation.run.evaluate` on ``folder`` in this process, timing
    :data:`STAGES`; write them to ``stages_file``.

    The stopwatch wraps the public functions the evaluation calls at run time (looked up
    in the modules that call them); the estimate stages run from one progress message to
    the next.
    """
    import evaluation.design
    import evaluation.run

    spent: dict[str, float] = {}
    fits: list[bool] = []

    def stopwatch(stage: str, function: Callable[..., Any]) -> Callable[..., Any]:
        @functools.wraps(function)
        def timed(*args: Any, **kwargs: Any) -> Any:
            began = time.perf_counter()
            try:
                return function(*args, **kwargs)
            finally:
                spent[stage] = spent.get(stage, 0.0) + time.perf_counter() - began

        return timed

    estimate = evaluation.run.estimate

    def counted(*args: Any, **kwargs: Any) -> Any:
        found = estimate(*args, **kwargs)
        fits.append(bool(found.estimated))
        return found

    design = evaluation.design
    evaluation.run.load_tables = stopwatch("loading data", evaluation.run.load_tables)
    design.load_panel_tables = stopwatch("the panels' lists", design.load_panel_tables)
    design.build_feature_table = stopwatch(
        "features and outcomes at each list month", design.build_feature_table
    )
    evaluation.run.build_design = stopwatch("design", evaluation.run.build_design)
    evaluation.run.estimate = stopwatch("fits", functools.wraps(estimate)(counted))

    marks: list[tuple[str, float]] = []

    def progress(message: str) -> None:
        stage = _stage_of(message)
        if stage is not None:
            marks.append((stage, time.perf_counter()))

    began = time.perf_counter()
    found = evaluation.run.evaluate(folder, progress=progress)
    ended = time.perf_counter()
    seconds = {s: spent.get(s, 0.0) for s in STAGES}
    seconds["rest of the design"] = (
        spent.get("design", 0.0)
        - seconds["the panels' lists"]
        - seconds["features and outcomes at each list month"]
    )
    for (stage, start), (_, stop) in zip(marks, [*marks[1:], ("", ended)], strict=True):
        seconds[stage] += stop - start
    stages_file.write_text(
        json.dumps(
            {
                "seconds": ended - began,
                "stages": seconds,
                "fits": len(fits),
                "fit_seconds": spent.get("fits", 0.0),
                "withheld": fits.count(False),
                "listings": found.listings,
                "young_people": found.young_people,
                "first_month": f"{found.first_month:%Y-%m}",
                "last_month": f"{found.last_month:%Y-%m}",
                "lists": sorted({r.list_name for r in found.results}),
                "peak_kib": _peak_kib(),
            }
        )
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument(
        "--stages",
        type=Path,
        default=None,
        help="(used by the benchmark) evaluate --data here, writing its stage times to this file",
    )
    parser.add_argument("--data", type=Path, default=None, help="(with --stages) a data folder")
    args = parser.parse_args()
    if args.stages is not None:
        if args.data is None:
            parser.error("--stages needs --data")
        _evaluate_with_stopwatch(args.stages, args.data)
    else:
        print("\n".join(bench(args.repeats)))


if __name__ == "__main__":
    main()
