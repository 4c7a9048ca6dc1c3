"""Serving benchmark: ``/explain`` against the service's own no-op floor, over loopback.

One run builds a serving stack (30k synthetic people, both outcomes trained and
released, a snapshot, tokens: :mod:`vru.serving_stack`), starts ``bentoml serve``
(one worker) on a free loopback port (:func:`vru.cli_serve.serving_process`) and
drives it with ``wrk`` (bounded: fixed duration per point, one load thread). At
1, 8 and 32 concurrent connections it measures ``/ping`` (an authenticated no-op
endpoint of the same service: the framework's floor) and ``/explain`` (both
outcomes' TreeSHAP explanations and an access-log row) side by side, alternating
within each repeat; figures are medians over repeats. Memory is the server's
resident set (all its processes) before and after the load.

Where an ``/explain`` request's time goes is measured in-process beside it
(:func:`stage_costs`): the same stack started as the service starts it
(:meth:`serving.runtime.Practice.start`, with a scratch access log), each stage of one
request called :data:`STAGE_CALLS` times on its own, medians.

Run alone: ``.venv/bin/python benchmarks/serving.py [--repeats 3]``. Set
``VRU_BENCH_STACK=DIR`` to reuse a stack built earlier in DIR.
"""

from __future__ import annotations

import json
import os
import shutil
import statistics
import subprocess
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from vru.serving_stack import ServingStack

CONCURRENCY = (1, 8, 32)
#: calls of each stage function timed in-process (medians reported)
STAGE_CALLS = 200
SECONDS = 5
AIM_THROUGHPUT = 0.5  # /explain throughput at least half the floor's
AIM_LATENCY = 3.0  # /explain p50 within 3x the floor's

_LUA = """
wrk.method = "POST"
wrk.body = '{body}'
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer {token}"
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'RESULT {{"requests": %d, "duration_us": %d, "p50_us": %d, "p99_us": %d, ' ..
    '"errors": %d, "non2xx": %d}}\\n',
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(99),
    e.connect + e.read + e.write + e.timeout, e.status))
end
"""


def _wrk(url: str, script: Path, connections: int) -> dict[str, float]:
    run = subprocess.run(
        [
            "wrk",
            "-t1",
            f"-c{connections}",
            f"-d{SECONDS}s",
            "--timeout",
            "10s",
            "-s",
            str(script),
            url,
        ],
        capture_output=True,
        text=True,
        check=True,
        timeout=SECONDS + 60,
    )
    line = next(x for x in run.stdout.splitlines() if x.startswith("RESULT "))
    result = json.loads(line.removeprefix("RESULT "))
    seconds = result["duration_us"] / 1e6
    return {
        "rps": result["requests"] / seconds,
        "p50_ms": result["p50_us"] / 1000,
        "p99_ms": result["p99_us"] / 1000,
        "errors": result["errors"] + result["non2xx"],
        "requests": result["requests"],
    }


def _rss_mib(pid: int) -> float:
    import psutil

    root = psutil.Process(pid)
    total = 0
    for process in [root, *root.children(recursive=True)]:
        try:
            total += process.memory_info().rss
        except psutil.NoSuchProcess:
            continue
    return total / 2**20


def _median_ms(work: Callable[[], object], calls: int) -> float:
    """Median wall time of ``work()`` in milliseconds, over ``calls`` calls (after one)."""
    work()
    times = []
    for _ in range(calls):
        start = time.perf_counter()
        work()
        times.append(time.perf_counter() - start)
    return statistics.median(times) * 1000


def stage_costs(
    stack: ServingStack, person: str, token: str, scratch: Path, calls: int = STAGE_CALLS
) -> list[tuple[str, float]]:
    """Median milliseconds of each stage of one ``/explain`` request, in-process.

    The service's own objects (:meth:`serving.runtime.Practice.start` on the stack, with
    the access log in ``scratch``), each stage called on its own: the token check, the
    young person's rows (this month's and last month's), each outcome's explanation and
    what changed since last month (its rows scored once, as a request does), the
    access-log row (hash chain and a synced commit, one writer), the whole
    :meth:`~serving.runtime.Practice.explain` (the row written while the explanations
    are worked out) and the answer's JSON.
    """
    from dataclasses import replace

    from models.changes import changes_of_record
    from models.risk_model import one_request
    from serving.access_log import Entry
    from serving.runtime import Practice

    settings = stack.settings()
    settings = settings.model_copy(update={"access_log_path": scratch / "access-log.sqlite"})
    practice = Practice.start(settings)
    snapshot, previous = practice.snapshot, practice.previous
    who = practice.tokens.lookup(token)
    assert who is not None, "the benchmark's token"
    record = snapshot.record(person)
    before = previous.record(person) if previous is not None else None
    costs = [
        (
            "token check (hash, table lookup)",
            _median_ms(lambda: practice.tokens.lookup(token), calls),
        ),
        (
            "the young person's rows (now and last month)",
            _median_ms(
                lambda: (snapshot.record(person), previous and previous.record(person)), calls
            ),
        ),
    ]
    for outcome, champion in practice.champions.items():
        model = champion.model
        assert record is not None

        def explained(model: Any = model) -> object:
            with one_request():
                return model.explain_record(record, data_as_of=snapshot.freshness)

        def with_changes(model: Any = model) -> object:
            with one_request():
                explanation = model.explain_record(record, data_as_of=snapshot.freshness)
                if previous is not None and before is not None:
                    changes_of_record(
                        model, record, before, as_of=snapshot.as_of, since=previous.as_of
                    )
                return explanation

        alone = _median_ms(explained, calls)
        both = _median_ms(with_changes, calls)
        costs += [
            (f"{outcome}: explanation (TreeSHAP, calibration, reasons)", alone),
            (f"{outcome}: what changed since last month", max(both - alone, 0.0)),
        ]
    entry = Entry("explain", "allowed", who.user, who.role, who.la, person_id=person)
    costs.append(
        (
            "access-log row (hash chain, synced commit)",
            _median_ms(lambda: practice.log.record(replace(entry, purpose="stage")), calls),
        )
    )
    answer = practice.explain(who, person, "benchmark")
    costs.append(
        (
            "whole request's work (Practice.explain, row written alongside)",
            _median_ms(lambda: practice.explain(who, person, "benchmark"), calls),
        )
    )
    costs.append(("answer as JSON", _median_ms(answer.model_dump_json, calls)))
    practice.log.close()
    return costs


def _stack(root: Path) -> ServingStack:
    """The stack in ``VRU_BENCH_STACK`` (if prepared there before) or a new one.

    A new stack: 30k people, both outcomes released (:func:`vru.release.release_population`),
    the 2025-01-01 snapshot and one token per role (:func:`vru.serving_stack.prepare_stack`,
    the serving tests' recipe).
    """
    from vru.release import release_population
    from vru.serving_stack import load_stack, prepare_stack

    reuse = os.environ.get("VRU_BENCH_STACK")
    folder = Path(reuse) if reuse else root
    found = load_stack(folder)
    if found is not None:
        return found
    data_dir, uri, versions = release_population(
        folder, people=30_000, seed=11, experiment="serving-bench", first_year=2020
    )
    return prepare_stack(folder, data_dir, uri, versions)


def bench(repeats: int) -> list[str]:
    """Markdown lines for BENCHMARKS.md (title ``## Serving``)."""
    import pandas as pd

    from vru.cli_serve import serving_process

    if shutil.which("wrk") is None:
        return ["## Serving", "", "Not measured: `wrk` is not installed (apt-get install wrk)."]
    with tempfile.TemporaryDirectory(prefix="vru-bench-serving-") as tmp_name:
        tmp = Path(tmp_name)
        stack = _stack(tmp / "stack")
        frame = pd.read_parquet(stack.snapshot, columns=["person_id", "local_authority"])
        person = str(frame.loc[frame["local_authority"] == "Bristol", "person_id"].iloc[0])
        token = stack.tokens["pat"]  # a Bristol practitioner explaining a Bristol young person
        scripts = {}
        for name, body in (
            ("floor", "{}"),
            ("explain", json.dumps({"person_id": person, "purpose": "benchmark"})),
        ):
            scripts[name] = tmp / f"{name}.lua"
            scripts[name].write_text(_LUA.format(body=body, token=token))
        with serving_process(stack.variables(), log=tmp / "server.log") as server:
            urls = {"floor": f"{server.url}/ping", "explain": f"{server.url}/explain"}
            for name in urls:  # warm up both paths (first calls build caches)
                _wrk(urls[name], scripts[name], 1)
            memory_before = _rss_mib(server.process.pid)
            runs: dict[tuple[str, int], list[dict[str, float]]] = {}
            for connections in CONCURRENCY:
                for _ in range(repeats):
                    for name in ("floor", "explain"):
                        runs.setdefault((name, connections), []).append(
                            _wrk(urls[name], scripts[name], connections)
                        )
            memory_after = _rss_mib(server.process.pid)
        (tmp / "stages").mkdir()
        stages = stage_costs(stack, person, token, tmp / "stages")

    def med(name: str, c: int, key: str) -> float:
        return statistics.median(r[key] for r in runs[(name, c)])

    lines = [
        "## Serving",
        "",
        f"`bentoml serve` (1 worker, 4 threads) on loopback, driven by `wrk` (1 thread, "
        f"{SECONDS} s per point, medians of {repeats} repeats, alternating endpoints). "
        "Floor: `/ping`, an authenticated no-op endpoint of the same service; `/explain`: "
        "a practitioner's request (token check, both outcomes' TreeSHAP explanation, one "
        "hash-chained access-log row). Aim: `/explain` throughput ≥ "
        f"{AIM_THROUGHPUT:.0%} of the floor's and p50 ≤ {AIM_LATENCY:g}× the floor's.",
        "",
        "| clients | floor req/s | explain req/s | ratio | floor p50 / p99 ms | "
        "explain p50 / p99 ms | p50 ratio | errors | aim met |",
        "| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | :---: |",
    ]
    for c in CONCURRENCY:
        f_rps, e_rps = med("floor", c, "rps"), med("explain", c, "rps")
        f50, e50 = med("floor", c, "p50_ms"), med("explain", c, "p50_ms")
        errors = int(sum(r["errors"] for n in ("floor", "explain") for r in runs[(n, c)]))
        met = e_rps >= AIM_THROUGHPUT * f_rps and e50 <= AIM_LATENCY * f50 and errors == 0
        lines.append(
            f"| {c} | {f_rps:,.0f} | {e_rps:,.0f} | {e_rps / f_rps:.2f} | "
            f"{f50:.1f} / {med('floor', c, 'p99_ms'):.1f} | "
            f"{e50:.1f} / {med('explain', c, 'p99_ms'):.1f} | {e50 / f50:.1f}× | {errors} | "
            f"{'yes' if met else 'no'} |"
        )
    total = int(sum(r["requests"] for rs in runs.values() for r in rs))
    lines += [
        "",
        f"Server memory (resident, all processes): {memory_before:,.0f} MiB before the load, "
        f"{memory_after:,.0f} MiB after {total:,} requests "
        f"({memory_after - memory_before:+,.0f} MiB).",
        "",
        f"Where an `/explain` request's time goes, in-process (the service's objects on the "
        f"same stack, each stage called {STAGE_CALLS} times on its own, median ms; the "
        "framework's share is the floor's p50 above):",
        "",
        "| stage | median ms |",
        "| --- | ---: |",
        *[f"| {name} | {ms:.3f} |" for name, ms in stages],
    ]
    return lines


if __name__ == "__main__":
    import argparse

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    print("\n".join(bench(parser.parse_args().repeats)))
