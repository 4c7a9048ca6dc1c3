"""``make bench-large``: a whole force area end to end on this machine, at three sizes.

For each size (resident 10–24 year-olds at any month; 0.3, 1 and 2 million by default:
the default Avon and Somerset population, the West Midlands, London), every stage runs
as its own fresh process, the way a partnership would run it:

1. ``vru synth --people N`` (the generator);
2. ``vru features`` for one as-of date (the snapshot a month's work starts from);
3. ``vru train`` for each outcome (its default case-control sample above 500,000
   training rows; every fold, candidate, interval, lead-time backtest and the model card);
4. release of each outcome: the fairness gate on the recorded outcomes, then champion
   (:func:`vru.release.release_version`);
5. ``vru score``: the monthly batch, both outcomes, every local authority's two lists;
6. the explain service: the service's snapshot and tokens written, ``bentoml serve``
   started, then ``wrk`` drives ``/explain`` and the ``/ping`` floor for 10 s each at 8
   clients.

Each stage's wall time and the peak resident memory of its whole process tree (the
process and every child, polled every 0.2 s) are recorded. Then a cost curve: time and
memory per stage against people, with the slope between the two largest sizes (seconds
and MiB per 100,000 people). Nothing is a test: the figures go to BENCHMARKS.md
(section "Full size", merged into the file). Run alone:
``python -m benchmarks.large [--sizes 313000 1000000 2000000] [--keep DIR]``; with
``--keep DIR``, a population already generated in ``DIR/people-N/pop`` is reused.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

SIZES = (313_000, 1_000_000, 2_000_000)
AS_OF = "2025-01-01"
SEED = 20241
MACHINE_MIB = 24 * 1024
SERVE_SECONDS = 10
SERVE_CLIENTS = 8
STAGES = (
    "generate",
    "features",
    "train victim",
    "train perpetrator",
    "release victim",
    "release perpetrator",
    "monthly batch",
    "service snapshot",
    "service start",
)


@dataclass
class Stage:
    """One stage's wall seconds and the peak resident MiB of its process tree."""

    name: str
    seconds: float
    peak_mib: float
    ok: bool
    note: str = ""


def _tree_rss(pid: int) -> float:
    import psutil

    try:
        root = psutil.Process(pid)
        members = [root, *root.children(recursive=True)]
    except psutil.NoSuchProcess:
        return 0.0
    total = 0
    for process in members:
        try:
            total += process.memory_info().rss
        except psutil.NoSuchProcess:
            continue
    return total / 2**20


def run_stage(name: str, args: Sequence[str], env: dict[str, str], log: Path) -> Stage:
    """Run ``args`` to the end; its wall time and its process tree's peak memory."""
    began = time.perf_counter()
    peak = 0.0
    with log.open("a") as out:
        out.write(f"\n### {name}: {' '.join(args)}\n")
        out.flush()
        process = subprocess.Popen(args, env=env, stdout=out, stderr=subprocess.STDOUT)
        while process.poll() is None:
            peak = max(peak, _tree_rss(process.pid))
            time.sleep(0.2)
    seconds = time.perf_counter() - began
    ok = process.returncode == 0
    print(f"  {name}: {seconds:.0f} s, peak {peak:,.0f} MiB{'' if ok else ' FAILED'}", flush=True)
    return Stage(name, seconds, peak, ok, "" if ok else f"exit {process.returncode}")


def _python(code: str) -> list[str]:
    return [sys.executable, "-c", code]


def _service(root: Path, env: dict[str, str], log: Path) -> tuple[Stage, dict[str, float]]:
    """Start the service on the stack in ``root``; time to ready, memory, and ``wrk``."""
    from benchmarks.serving import _LUA, _rss_mib, _wrk
    from vru.cli_serve import serving_process
    from vru.serving_stack import load_stack

    stack = load_stack(root)
    assert stack is not None
    import pandas as pd

    frame = pd.read_parquet(stack.snapshot, columns=["person_id", "local_authority"])
    person = str(frame.loc[frame["local_authority"] == "Bristol", "person_id"].iloc[0])
    scripts = {}
    for name, body in (
        ("floor", "{}"),
        ("explain", json.dumps({"person_id": person, "purpose": "benchmark"})),
    ):
        scripts[name] = root / f"{name}.lua"
        scripts[name].write_text(_LUA.format(body=body, token=stack.tokens["pat"]))
    began = time.perf_counter()
    figures: dict[str, float] = {}
    with serving_process(stack.variables(), log=log) as server:
        ready = time.perf_counter() - began
        memory = _rss_mib(server.process.pid)
        if shutil.which("wrk") is not None:
            import benchmarks.serving as serving

            serving.SECONDS = SERVE_SECONDS
            for name, path in (("floor", "/ping"), ("explain", "/explain")):
                _wrk(f"{server.url}{path}", scripts[name], 1)  # warm
                figures.update(
                    {
                        f"{name}_{k}": v
                        for k, v in _wrk(
                            f"{server.url}{path}", scripts[name], SERVE_CLIENTS
                        ).items()
                    }
                )
        memory = max(memory, _rss_mib(server.process.pid))
    print(f"  service start: ready in {ready:.0f} s, {memory:,.0f} MiB", flush=True)
    return Stage("service start", ready, memory, True), figures


def run_size(people: int, root: Path) -> tuple[list[Stage], dict[str, float]]:
    """Every stage at one size, in ``root``."""
    vru = str(Path(sys.executable).parent / "vru")
    root.mkdir(parents=True, exist_ok=True)
    data = root / "pop"
    log = root / "stages.log"
    uri = f"sqlite:///{root / 'mlflow.db'}"
    env = {
        **os.environ,
        "MLFLOW_TRACKING_URI": uri,
        "VRU_PROJECT_DIR": str(root),
        "VRU_EXPERIMENT": "bench-large",
        "BENTOML_DO_NOT_TRACK": "true",
    }
    print(f"{people:,} people in {root}", flush=True)
    stages: list[Stage] = []

    def stage(name: str, args: Sequence[str]) -> bool:
        stages.append(run_stage(name, args, env, log))
        return stages[-1].ok

    if (data / "manifest.json").exists():  # generated earlier (``--keep``): reuse it
        print(f"  generate: reusing {data}", flush=True)
    elif not stage(
        "generate",
        [vru, "synth", "--people", str(people), "--seed", str(SEED), "--out", str(data)],
    ):
        return stages, {}
    stage(
        "features",
        [vru, "features", "--data", str(data), "--as-of", AS_OF, "--out", str(root / "f.parquet")],
    )
    versions = {}
    for outcome in ("victim", "perpetrator"):
        if not stage(f"train {outcome}", [vru, "train", "--data", str(data), "--outcome", outcome]):
            return stages, {}
        from models.registry import Registry

        version = str(Registry(uri).version(outcome, alias="candidate").version)
        versions[outcome] = version
        code = (
            "from pathlib import Path; from vru.release import release_version; "
            "from features.vocabulary import LOCAL_AUTHORITIES; "
            f"print(release_version({uri!r}, Path({str(data)!r}), {outcome!r}, {version!r}, "
            "capacity=dict.fromkeys(LOCAL_AUTHORITIES, 50), "
            f"report_dir=Path({str(root / 'reports')!r})))"
        )
        if not stage(f"release {outcome}", _python(code)):
            return stages, {}
    stage(
        "monthly batch",
        [vru, "score", "--data", str(data), "--as-of", AS_OF, "--out", str(root / "panels")],
    )
    code = (
        "from pathlib import Path; from vru.serving_stack import prepare_stack; "
        f"prepare_stack(Path({str(root / 'stack')!r}), Path({str(data)!r}), {uri!r}, "
        f"{versions!r})"
    )
    if not stage("service snapshot", _python(code)):
        return stages, {}
    service, figures = _service(root / "stack", env, log)
    stages.append(service)
    return stages, figures


def _slope(xs: Sequence[float], ys: Sequence[float]) -> float:
    return (ys[-1] - ys[-2]) / (xs[-1] - xs[-2]) * 100_000 if len(xs) > 1 else float("nan")


def markdown(results: dict[int, tuple[list[Stage], dict[str, float]]]) -> list[str]:
    """The "Full size" section."""
    sizes = sorted(results)
    head = " | ".join(f"{n / 1e6:.1f}M s | {n / 1e6:.1f}M MiB" for n in sizes)
    lines = [
        "## Full size",
        "",
        "`make bench-large` (`python -m benchmarks.large`): every stage a fresh process at each "
        "size (resident 10–24 year-olds at any month), as a partnership would run them — the "
        "generator, one feature snapshot, training of each outcome (default case-control "
        "sample above 500,000 training rows, every fold, interval, lead-time backtest and "
        "card), release (the fairness gate on recorded outcomes), the monthly batch (both "
        "outcomes), and the explain service (its snapshot, then `bentoml serve` until ready). "
        "Wall seconds and the peak resident memory of each stage's whole process tree "
        f"(polled every 0.2 s). Machine: 2 cores, {MACHINE_MIB // 1024} GB. One run per size "
        "(these are minutes, not micro-benchmarks).",
        "",
        f"| stage | {head} | s per 100k people (slope) | MiB per 100k people (slope) |",
        "| --- | " + " | ".join("---: | ---:" for _ in sizes) + " | ---: | ---: |",
    ]
    peaks = []
    for name in STAGES:
        cells, xs, ts, ms = [], [], [], []
        for n in sizes:
            found = next((s for s in results[n][0] if s.name == name), None)
            if found is None:
                cells.append("– | –")
                continue
            mark = "" if found.ok else f" ({found.note})"
            cells.append(f"{found.seconds:,.0f}{mark} | {found.peak_mib:,.0f}")
            if found.ok:
                xs.append(n)
                ts.append(found.seconds)
                ms.append(found.peak_mib)
        slope_t, slope_m = _slope(xs, ts), _slope(xs, ms)
        lines.append(
            f"| {name} | {' | '.join(cells)} | "
            + ("–" if slope_t != slope_t else f"{slope_t:.1f}")
            + " | "
            + ("–" if slope_m != slope_m else f"{slope_m:,.0f}")
            + " |"
        )
    for n in sizes:
        stages = results[n][0]
        total = sum(s.seconds for s in stages)
        peak = max((s.peak_mib for s in stages), default=0.0)
        done = all(s.ok for s in stages) and len(stages) == len(STAGES)
        ran = "end to end" if done else "over the stages it ran"
        peaks.append(
            f"- **{n:,} people**: {total / 60:.0f} minutes {ran}; the largest stage peaked "
            f"at {peak:,.0f} MiB ({peak / MACHINE_MIB:.0%} of the machine); "
            + ("every stage completed." if done else "**not every stage completed** (above).")
        )
    lines += ["", *peaks, ""]
    service_rows = []
    for n in sizes:
        f = results[n][1]
        if "explain_rps" in f:
            service_rows.append(
                f"| {n:,} | {f['floor_rps']:,.0f} | {f['explain_rps']:,.0f} | "
                f"{f['explain_rps'] / f['floor_rps']:.2f} | {f['floor_p50_ms']:.1f} | "
                f"{f['explain_p50_ms']:.1f} | {int(f['floor_errors'] + f['explain_errors'])} |"
            )
    if service_rows:
        lines += [
            f"The service at each size (`wrk`, {SERVE_CLIENTS} clients, {SERVE_SECONDS} s per "
            "endpoint, one run): an explanation costs the same whatever the population, "
            "because the service looks one young person up.",
            "",
            "| people | floor req/s | explain req/s | ratio | floor p50 ms | explain p50 ms "
            "| errors |",
            "| ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
            *service_rows,
            "",
        ]
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=list(SIZES))
    parser.add_argument("--output", type=Path, default=Path("BENCHMARKS.md"))
    parser.add_argument("--keep", type=Path, default=None, help="keep every size's folder here")
    args = parser.parse_args()
    base = args.keep or Path(tempfile.mkdtemp(prefix="vru-bench-large-"))
    results: dict[int, tuple[list[Stage], dict[str, float]]] = {}
    try:
        for people in args.sizes:
            folder = base / f"people-{people}"
            results[people] = run_size(people, folder)
            if args.keep is None:
                shutil.rmtree(folder, ignore_errors=True)
            (base / "results.json").write_text(
                json.dumps(
                    {
                        n: {"stages": [s.__dict__ for s in st], "service": f}
                        for n, (st, f) in results.items()
                    },
                    indent=1,
                )
            )
    finally:
        if args.keep is None:
            shutil.rmtree(base, ignore_errors=True)
    section = markdown(results)
    from benchmarks.run import merge_section

    merge_section(args.output, section)
    print("\n".join(section))


if __name__ == "__main__":
    main()
