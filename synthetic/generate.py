"""Generate a synthetic population and write it atomically.

Layout of an output folder::

    DIR/raw/people.parquet            what agencies hold (the pipeline reads only raw/)
    DIR/raw/school_events.parquet
    DIR/raw/agency_contacts.parquet
    DIR/raw/incidents.parquet
    DIR/raw/panel_lists.parquet       historic panels' ranked lists (evaluation only)
    DIR/raw/interventions.parquet     the help they led to (evaluation only)
    DIR/truth/latent.parquet          latent factors (evaluation only)
    DIR/truth/events.parquet          true events, recorded or not
    DIR/truth/person_months.parquet   true monthly probabilities and states
    DIR/truth/interventions.parquet   who was helped, and the true effect on their hazards
    DIR/manifest.json                 settings, extract date, row counts and any scenario
"""

from __future__ import annotations

import datetime as dt
import json
import os
import shutil
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from synthetic.config import GeneratorSettings
from synthetic.dynamics import Dynamics
from synthetic.population import generate_population
from synthetic.scenarios import scenario_manifest, withhold_records
from synthetic.simulate import simulate
from synthetic.tables import extract_date, panel_tables, person_ids, raw_tables, truth_tables

RAW_TABLES = ("people", "school_events", "agency_contacts", "incidents")
#: what the historic panels did (raw, for evaluation only: features never read them)
PANEL_TABLES = ("panel_lists", "interventions")
TRUTH_TABLES = ("latent", "events", "person_months")


@dataclass(frozen=True)
class SyntheticDataset:
    """A generated population held in memory as Arrow tables."""

    settings: GeneratorSettings
    raw: dict[str, pa.Table]
    truth: dict[str, pa.Table]
    #: rows a scenario kept out of each raw table (empty without one)
    withheld: dict[str, int] = field(default_factory=dict)

    def manifest(self) -> dict[str, object]:
        """Settings, extract date, row counts and any scenario (deterministic: no clock).

        Without a scenario the manifest is exactly what it was before scenarios
        existed (no ``scenario`` key anywhere).
        """
        scenario = self.settings.scenario
        settings = self.settings.model_dump_json(exclude={"scenario"} if scenario is None else None)
        return {
            "generator": "vru-risk synthetic",
            "settings": json.loads(settings),
            "extract_date": extract_date(self.settings).isoformat(),
            "rows": {
                **{f"raw/{k}": v.num_rows for k, v in self.raw.items()},
                **{f"truth/{k}": v.num_rows for k, v in self.truth.items()},
            },
            **(
                {"scenario": scenario_manifest(scenario, self.withheld)}
                if scenario is not None
                else {}
            ),
            "note": "Synthetic data. No real person is described. truth/ is for evaluation only.",
        }


def _streams(seed: int) -> tuple[np.random.Generator, ...]:
    """Independent generators: truth, records, ids, lags and the historic panels (the
    first four are what they were before panels existed)."""
    root = np.random.SeedSequence(seed)
    return tuple(np.random.default_rng(s) for s in root.spawn(5))


def generate(
    settings: GeneratorSettings,
    progress: Callable[[int, int], None] | None = None,
    *,
    dynamics: Dynamics | None = None,
) -> SyntheticDataset:
    """Generate a population in memory.

    Parameters
    ----------
    settings
        What to generate; identical settings give identical tables. With a
        scenario (:mod:`synthetic.scenarios`) the world changes from its start month.
    progress
        Called as ``progress(done_months, total_months)`` during simulation.
    dynamics
        The true world's coefficients (default :class:`synthetic.dynamics.Dynamics`):
        a known-answer test changes one to build in, or take out, an effect.
    """
    truth_rng, record_rng, id_rng, lag_rng, panel_rng = _streams(settings.seed)
    pop = generate_population(settings, truth_rng)
    ids = person_ids(id_rng, pop.size)
    sim = simulate(
        pop, settings, truth_rng, record_rng, dyn=dynamics, progress=progress, panel_rng=panel_rng
    )
    raw, withheld = withhold_records(raw_tables(pop, ids, sim, settings, lag_rng), settings)
    truth = truth_tables(pop, ids, sim, settings)
    if settings.panels is not None:
        panels, helped = panel_tables(ids, sim, settings, panel_rng)
        raw = {**raw, **panels}
        truth = {**truth, "interventions": helped}
    return SyntheticDataset(settings=settings, raw=raw, truth=truth, withheld=withheld)


class OutputError(Exception):
    """The output folder cannot be written (nothing was written)."""


def check_writable(out: Path, *, overwrite: bool) -> None:
    """Refuse an output folder before any work is done.

    Raises
    ------
    OutputError
        If ``out`` exists and is not empty without ``overwrite``, is a file, or its
        parent cannot be created or written.
    """
    if out.exists() and not out.is_dir():
        raise OutputError(f"output {out} exists and is not a folder")
    if out.exists() and any(out.iterdir()) and not overwrite:
        raise OutputError(f"output folder {out} is not empty (use --overwrite to replace it)")
    parent = out.resolve().parent
    probe = parent
    while not probe.exists():
        probe = probe.parent
    if not os.access(probe, os.W_OK | os.X_OK) or not probe.is_dir():
        raise OutputError(f"cannot write to {parent}: permission denied or not a folder")


def write_dataset(data: SyntheticDataset, out: Path, *, overwrite: bool = False) -> Path:
    """Write ``data`` under ``out`` atomically.

    Everything is written to a hidden temporary folder beside ``out`` and moved
    into place only when complete, so a failure leaves no partial output.
    """
    check_writable(out, overwrite=overwrite)
    parent = out.resolve().parent
    parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.tmp-", dir=parent))
    try:
        (tmp / "raw").mkdir()
        (tmp / "truth").mkdir()
        for name, table in data.raw.items():
            pq.write_table(table, tmp / "raw" / f"{name}.parquet", compression="zstd")
        for name, table in data.truth.items():
            pq.write_table(table, tmp / "truth" / f"{name}.parquet", compression="zstd")
        (tmp / "manifest.json").write_text(json.dumps(data.manifest(), indent=2) + "\n")
        if out.exists():
            trash = Path(tempfile.mkdtemp(prefix=f".{out.name}.old-", dir=parent))
            out.rename(trash / out.name)
            tmp.rename(out)
            shutil.rmtree(trash, ignore_errors=True)
        else:
            tmp.rename(out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return out


def read_dataset(folder: Path, *, truth: bool = False) -> dict[str, pa.Table]:
    """Read the raw tables (and, for evaluation, the truth tables) of a folder."""
    names = [f"raw/{t}" for t in RAW_TABLES]
    names += [f"raw/{t}" for t in PANEL_TABLES if (folder / "raw" / f"{t}.parquet").exists()]
    if truth:
        names += [f"truth/{t}" for t in TRUTH_TABLES]
        if (folder / "truth" / "interventions.parquet").exists():
            names.append("truth/interventions")
    return {name: pq.read_table(folder / f"{name}.parquet") for name in names}


def as_extracted(data: SyntheticDataset, end: dt.date) -> SyntheticDataset:
    """The same world as its records stood at the end of month ``end`` (a first day).

    What a model trained then could have seen: event rows recorded after the extract
    date are dropped, people who had not yet moved in are not known, and a move out
    after it has not happened yet. ``truth/`` keeps only what had happened by then. A
    monitoring test trains on this and monitors the whole world's later months.
    """
    settings = data.settings.model_copy(update={"end": end})
    extract = pa.scalar(extract_date(settings), pa.date32())

    def until(table: pa.Table, column: str) -> pa.Table:
        dates = pc.cast(table[column], pa.date32())
        return table.filter(pc.less_equal(dates, extract))

    raw = {}
    for name, table in data.raw.items():
        if name == "people":
            moved_in = pc.cast(table["moved_in"], pa.date32())
            known = table.filter(pc.fill_null(pc.less_equal(moved_in, extract), True))
            moved_out = pc.cast(known["moved_out"], pa.date32())
            later = pc.fill_null(pc.greater(moved_out, extract), False)
            out = pc.if_else(later, pa.scalar(None, known["moved_out"].type), known["moved_out"])
            raw[name] = known.set_column(
                known.schema.get_field_index("moved_out"), "moved_out", out
            )
        elif name == "panel_lists":
            raw[name] = until(table, "list_month")
        else:
            raw[name] = until(table, "recorded_date")
    when = {"events": "event_date", "person_months": "month", "interventions": "list_month"}
    truth = {
        name: until(table, when[name]) if name in when else table
        for name, table in data.truth.items()
    }
    return SyntheticDataset(settings=settings, raw=raw, truth=truth, withheld=data.withheld)
