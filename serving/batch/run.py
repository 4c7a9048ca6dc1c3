"""One monthly run, :func:`score_panels`: snapshot → scores → lists → packs → publish.

Each stage is a function of what the stage before produced; this module only
orders them, reports progress and times them. The rules live elsewhere: who is
named in :mod:`models.panels` (:func:`~models.panels.select_lists`: two lists per
outcome and local authority, each cut at its capacity), list columns and counts in
:mod:`serving.batch.lists`, statuses in :mod:`serving.batch.history`, the pack in
:mod:`serving.panel`. Only the young people within a list's capacity are named;
nobody beyond it is explained, written or logged.
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from features.coverage import Coverage, coverage
from features.snapshot import FeatureSnapshot, build_snapshot, load_tables
from features.vocabulary import cohort_of
from models.changes import attach_changes, changes_since, month_before
from models.panels import PanelCapacity, PanelError, as_capacity, select_lists
from models.reasons import Explanation
from models.registry import MonitoringNote, Released, Suspension
from serving.batch.atomic import MANIFEST, check_out_dir, recover, staging
from serving.batch.checks import BatchError, check_releasable
from serving.batch.history import (
    BASELINE,
    add_history,
    agenda_changes,
    find_baseline,
    named_again,
)
from serving.batch.lists import (
    freshness_text,
    list_counts,
    list_rows,
    named_rows,
    slug,
    sort_lists,
    write_list,
)
from serving.batch.publish import Manifest, Tracking, publish
from serving.panel.pack import CHARTS, RENDERING

__all__ = ["STAGES", "WRITING_PARTS", "band_edges", "capacity_of", "score_panels"]

#: stages reported to ``progress`` in this order
STAGES = ("loading data", "building features", "scoring", "explaining", "writing packs")
#: reasons kept per explanation (the list shows three, the pack's card all of them)
TOP_REASONS = 5
Progress = Callable[[str, int, int], None]
#: the parts of writing packs the manifest times (``writing_parts``): splitting everyone
#: by authority and counting the lists; the lists' CSV and Parquet files; drawing the
#: charts; the rest of rendering a pack (agenda, cards, template); writing the HTML
COUNTS, LIST_FILES, HTML_FILES = "counts", "list files", "pack files"
WRITING_PARTS = (COUNTS, LIST_FILES, CHARTS, RENDERING, HTML_FILES)


def _silent(stage: str, done: int, total: int) -> None:
    """The default progress callback: report nothing."""


@dataclass
class _Stages:
    """Reports each stage's progress and keeps its duration (the manifest's ``durations``)."""

    say: Progress
    durations: dict[str, float] = field(default_factory=dict)
    _since: float = field(default_factory=time.perf_counter)

    def done(self, stage: str) -> None:
        now = time.perf_counter()
        self.durations[stage] = round(now - self._since, 3)
        self._since = now


@dataclass(frozen=True)
class _Scores:
    """Everyone's scores with their list, rank and whether they are named (``drawn``, in
    memory only), and each outcome's named rows, in pack order."""

    drawn: pd.DataFrame
    named: dict[str, pd.DataFrame]


def capacity_of(capacity: PanelCapacity | Mapping[str, object]) -> PanelCapacity:
    """Each list's capacity from the settings (or a plain ``{la: n}`` of the known list).

    Raises
    ------
    BatchError
        A capacity that is negative, not a whole number, or for an unknown list.
    """
    try:
        return as_capacity(capacity)
    except PanelError as exc:
        raise BatchError(str(exc)) from None


def band_edges(released: Released) -> dict[str, float]:
    """The lower edge of each band of a released model, lowest band first."""
    return {b.name: float(b.lower) for b in released.model.bundle.bands}


def _features(
    data_dir: Path, as_of: dt.date, stages: _Stages
) -> tuple[FeatureSnapshot, pd.DataFrame]:
    """Load and check the raw tables, then build the as-of snapshot (labels off); its
    frame in person order (so ties and files are the same on every run), with each
    young person's ``cohort`` (:func:`features.vocabulary.cohort_of`)."""
    stages.say(STAGES[0], 0, 1)
    tables = load_tables(data_dir)
    stages.say(STAGES[0], 1, 1)
    stages.done(STAGES[0])
    stages.say(STAGES[1], 0, 4)
    snapshot = build_snapshot(
        tables, [as_of], progress=lambda done, total, _: stages.say(STAGES[1], done, total)
    )
    if snapshot.frame.empty:
        raise BatchError(f"nobody aged 10–24 is resident on {as_of}")
    frame = snapshot.frame.sort_values("person_id", kind="mergesort").reset_index(drop=True)
    stages.done(STAGES[1])
    return snapshot, frame.assign(cohort=cohort_of(frame))


def _score(
    frame: pd.DataFrame,
    models: Mapping[str, Released],
    capacity: PanelCapacity,
    stages: _Stages,
) -> _Scores:
    """Score everyone with each outcome's model and draw each outcome's two lists."""
    stages.say(STAGES[2], 0, len(models))
    drawn_parts, named = [], {}
    for i, (outcome, released) in enumerate(models.items()):
        try:
            scores = released.model.predict(None, frame)
        except KeyError as exc:
            raise BatchError(f"{released.name}: {exc.args[0]}") from None
        scored = pd.DataFrame(
            {
                "person_id": frame["person_id"].astype(str),
                "local_authority": frame["local_authority"].astype(str),
                "outcome": outcome,
                "probability": scores["probability"].to_numpy(dtype=float),
                "band": scores["band"].astype(str).to_numpy(),
                "age_years": frame["demo_asof_age_years"].to_numpy(),
            }
        )
        try:
            drawn = select_lists(scored, capacity, cohort=frame["cohort"].to_numpy())
        except PanelError as exc:
            raise BatchError(str(exc)) from None
        drawn_parts.append(drawn)
        named[outcome] = named_rows(drawn)
        stages.say(STAGES[2], i + 1, len(models))
    stages.done(STAGES[2])
    return _Scores(pd.concat(drawn_parts, ignore_index=True), named)


def previous_as_of(baseline_as_of: str | None, as_of: dt.date) -> dt.date:
    """The as-of date to say what changed since: the previous run's (from the output
    folder's manifest), else one month before."""
    if baseline_as_of:
        return dt.date.fromisoformat(baseline_as_of)
    return month_before(as_of)


def _previous_rows(
    snapshot: FeatureSnapshot, scores: _Scores, previous: dt.date
) -> pd.DataFrame | None:
    """Features on ``previous`` of the young people named now, and nobody else (built
    from their records alone: cheap, and nobody who is not named is read), or ``None``
    when the data begin later."""
    data = snapshot.data
    if not data.start < previous < snapshot.as_of[-1]:
        return None
    named = pd.concat([n["person_id"] for n in scores.named.values()]).astype(str).unique()
    if not len(named):
        return None
    tables = {
        name: table[table["person_id"].astype(str).isin(named)]
        for name, table in data.tables.items()
    }
    return build_snapshot(replace(data, tables=tables), [previous]).frame


def _explain(
    frame: pd.DataFrame,
    models: Mapping[str, Released],
    scores: _Scores,
    snapshot: FeatureSnapshot,
    freshness: str,
    stages: _Stages,
    previous: pd.DataFrame | None = None,
) -> tuple[pd.DataFrame, dict[tuple[str, str], Explanation]]:
    """Explain everyone named: the list rows and each ``(outcome, person_id)``'s explanation
    (nobody beyond capacity is explained), with what changed since ``previous`` (their
    features at the previous as-of date)."""
    stages.say(STAGES[3], 0, len(models))
    parts = []
    explained: dict[tuple[str, str], Explanation] = {}
    by_person = frame.set_index("person_id", drop=False)
    for i, (outcome, released) in enumerate(models.items()):
        listed = scores.named[outcome]
        rows = by_person.loc[listed["person_id"].to_numpy()]
        explanations = released.model.explain(
            rows, top_k=TOP_REASONS, data_as_of=snapshot.freshness
        )
        if previous is not None and len(rows):
            changed = changes_since(released.model, rows, previous)
            explanations = attach_changes(explanations, changed)
        for person, explanation in zip(listed["person_id"], explanations, strict=True):
            explained[(outcome, person)] = explanation
        parts.append(list_rows(listed, explanations, freshness))
        stages.say(STAGES[3], i + 1, len(models))
    return pd.concat(parts, ignore_index=True), explained


@dataclass
class _Written:
    """What the writing stage put in the staged folder."""

    files: list[str] = field(default_factory=list)
    counts: dict[str, dict[str, dict[str, Any]]] = field(default_factory=dict)
    packs: dict[str, str] = field(default_factory=dict)
    #: seconds of each part of the stage (:data:`WRITING_PARTS`)
    parts: dict[str, float] = field(default_factory=dict)

    def add(self, part: str, since: float) -> float:
        """Add the time since ``since`` to ``part``; the time now."""
        now = time.perf_counter()
        self.parts[part] = self.parts.get(part, 0.0) + now - since
        return now


#: the columns of everyone's scores that the lists' counts and the packs read; the
#: few-valued ones are made categorical, so that a pack's many selections copy codes
_PACK_COLUMNS = ("person_id", "local_authority", "outcome", "list", "within_capacity", "band")
_CATEGORICAL = ("local_authority", "outcome", "list", "band")


def _by_authority(drawn: pd.DataFrame, authorities: Sequence[str]) -> dict[str, pd.DataFrame]:
    """Everyone scored (the columns the packs read), split by local authority in one pass
    (not one comparison of every row per authority); an authority nobody lives in gets
    no rows."""
    slim = drawn[[*_PACK_COLUMNS, "probability"]].astype(dict.fromkeys(_CATEGORICAL, "category"))
    codes = slim["local_authority"].cat.codes.to_numpy()
    position = {str(name): i for i, name in enumerate(slim["local_authority"].cat.categories)}
    return {
        la: slim.take(np.flatnonzero(codes == position[la])).reset_index(drop=True)
        if la in position
        else slim.iloc[:0]
        for la in authorities
    }


def _write_packs(
    staged: Path,
    out_dir: Path,
    *,
    as_of: dt.date,
    lists: pd.DataFrame,
    gone: pd.DataFrame,
    scores: _Scores,
    models: Mapping[str, Released],
    explained: Mapping[tuple[str, str], Explanation],
    capacity: PanelCapacity,
    freshness: str,
    baseline_as_of: str | None,
    stages: _Stages,
    statement: Coverage | None = None,
    before: pd.DataFrame | None = None,
    agenda: Mapping[str, Mapping[str, int]] | None = None,
    suspended: Mapping[str, Suspension] | None = None,
    compared: Sequence[str] | None = None,
) -> _Written:
    """Each local authority's list (CSV, Parquet) and HTML pack, in the staged folder
    (``models`` are the outcomes listed; ``suspended`` the ones switched off, which the
    pack names without a list)."""
    from serving.panel import render_pack

    authorities = capacity.authorities
    stages.say(STAGES[4], 0, len(authorities))
    written = _Written(parts=dict.fromkeys(WRITING_PARTS, 0.0))
    clock = time.perf_counter()
    residents = _by_authority(scores.drawn, authorities)
    clock = written.add(COUNTS, clock)
    for k, la in enumerate(authorities):
        drawn = residents[la]
        mine = lists[lists["local_authority"] == la].reset_index(drop=True)
        stem = f"panel_{slug(la)}"
        clock = written.add(COUNTS, clock)
        written.files += [p.name for p in write_list(mine, staged, stem)]
        clock = written.add(LIST_FILES, clock)
        written.counts[la] = {
            outcome: list_counts(
                mine,
                drawn,
                gone,
                la=la,
                outcome=outcome,
                capacity=capacity,
                band_names=[b.name for b in released.model.bundle.bands],
            )
            for outcome, released in models.items()
        }
        clock = written.add(COUNTS, clock)
        html = render_pack(
            local_authority=la,
            as_of=as_of,
            lists=mine,
            drawn=drawn,
            models=models,
            explanations=explained,
            capacity=capacity.as_dict()[la],
            freshness=freshness,
            baseline_as_of=baseline_as_of,
            counts=written.counts[la],
            coverage=statement,
            previous_agenda=(
                None
                if before is None
                else set(before.loc[before["local_authority"] == la, "person_id"].astype(str))
            ),
            agenda_counts=(agenda or {}).get(la),
            suspended=suspended,
            compared=compared,
            timings=written.parts,
        )
        clock = time.perf_counter()
        (staged / f"{stem}.html").write_text(html, encoding="utf-8")
        clock = written.add(HTML_FILES, clock)
        written.files.append(f"{stem}.html")
        written.packs[la] = str(out_dir / f"{stem}.html")
        stages.say(STAGES[4], k + 1, len(authorities))
    return written


def _model_entries(models: Mapping[str, Released]) -> dict[str, dict[str, object]]:
    return {
        o: {
            "name": m.name,
            "version": m.version,
            "fairness_verdict": m.verdict,
            "bands": band_edges(m),
            "candidate": m.model.bundle.candidate_name,
        }
        for o, m in models.items()
    }


def _monitoring_entries(models: Mapping[str, Released]) -> dict[str, dict[str, object]]:
    """The latest monitoring note of each outcome's version (every status; none when it was
    never monitored), as the manifest keeps it."""
    notes: dict[str, MonitoringNote] = {
        o: m.monitoring for o, m in models.items() if m.monitoring is not None
    }
    return {
        o: {
            "version": n.version,
            "status": n.status,
            "as_of": n.as_of,
            "summary": n.summary,
            "plan": n.plan,
            "shown": n.amber,
            "words": n.words(),
        }
        for o, n in notes.items()
    }


def _anchor(access_log: tuple[Path, Path, Path] | None, as_of: dt.date) -> dict[str, object] | None:
    """Anchor the access log's head for this panel run (``None`` when there is no log yet)."""
    from serving.access_log import AccessLog, LogError

    if access_log is None or not access_log[0].exists():
        return None
    try:
        log = AccessLog(*access_log)
        try:
            return log.anchor(f"panel run {as_of.isoformat()}")
        finally:
            log.close()
    except LogError as exc:
        raise BatchError(f"cannot anchor the access log: {exc}") from None


def score_panels(
    data_dir: Path,
    as_of: dt.date,
    out_dir: Path,
    models: Mapping[str, Released],
    capacity: PanelCapacity | Mapping[str, Any],
    *,
    tracking: Tracking | None = None,
    progress: Progress | None = None,
    before_swap: Callable[[], None] | None = None,
    access_log: tuple[Path, Path, Path] | None = None,
) -> Manifest:
    """Score everyone on ``as_of`` and write each local authority's panel lists and pack.

    Each outcome gets two lists per local authority, ``known`` and ``early``
    (:data:`features.vocabulary.LISTS`); only the young people within each list's
    capacity are named, everyone beyond it is counted by band.

    A version switched off after release (suspended) gets no list: its outcome is left
    out (nobody scored, named or explained with it), each pack says why in a box near
    the top, and the manifest's ``suspended`` keeps the sentence. A version whose latest
    monitoring is amber or red is used as usual, and each pack shows the note.

    Parameters
    ----------
    data_dir
        Data folder with ``raw/*.parquet``.
    as_of
        Assessment date: features see only records made before it.
    out_dir
        Output folder (replaced as a whole; must be new, empty or a previous run).
    models
        Released model per outcome (``victim``, ``perpetrator``), in pack order,
        switched-off ones included (:func:`~serving.batch.checks.check_releasable`).
    capacity
        Young people each local authority's panel reviews on each list
        (:class:`models.panels.PanelCapacity`; a plain ``{la: n}`` sets the known list).
    tracking
        Where the scoring run is logged (nothing is logged without it).
    progress
        Called as ``progress(stage, done, total)``; stages are :data:`STAGES`.
    before_swap
        Called with everything staged, just before the swap (tests interrupt a run
        there).
    access_log
        The service's access log, its key and its anchor file
        (``Settings.access_log_files``): when the log exists, its head is anchored and
        kept in the manifest and the MLflow run.

    Raises
    ------
    BatchError, features.schemas.ContractError
        Bad input, a version whose fairness verdict does not allow release, or every
        version switched off (one-line message; the snapshot's date checks raise
        :class:`features.snapshot.SnapshotError`); nothing is written.
    """
    capacity = capacity_of(capacity)
    check_out_dir(out_dir)
    suspended = check_releasable(models)
    listed = {o: m for o, m in models.items() if o not in suspended}
    outcomes = list(listed)
    stages = _Stages(progress or _silent)

    snapshot, frame = _features(data_dir, as_of, stages)
    freshness = freshness_text(snapshot.freshness)
    scores = _score(frame, listed, capacity, stages)
    recover(out_dir)  # first, so that a folder set aside by a dead run is the baseline
    baseline = find_baseline(out_dir, as_of)
    baseline_as_of = baseline.as_of
    # the outcomes the earlier run listed too; any other has nothing to compare with
    compared = [o for o in outcomes if baseline.holds(o)]
    previous = _previous_rows(snapshot, scores, previous_as_of(baseline_as_of, as_of))
    current, explained = _explain(
        frame, listed, scores, snapshot, freshness, stages, previous=previous
    )
    before = baseline.rows[baseline.rows["outcome"].isin(compared)]
    history, gone = add_history(current, before, scores.drawn, snapshot.data.people, as_of)
    if baseline.partial:  # a repeated run: whoever left any list was counted the first time
        gone = gone.iloc[:0]
    gone = pd.concat(
        [baseline.gone[baseline.gone["outcome"].isin(compared)], gone], ignore_index=True
    )
    lists = sort_lists(history, outcomes)
    agenda = agenda_changes(before, lists, baseline, capacity.authorities)
    stages.done(STAGES[3])

    with staging(out_dir) as staged:
        written = _write_packs(
            staged,
            out_dir,
            as_of=as_of,
            lists=lists,
            gone=gone,
            scores=scores,
            models=listed,
            explained=explained,
            capacity=capacity,
            freshness=freshness,
            baseline_as_of=baseline_as_of,
            stages=stages,
            statement=coverage(snapshot.freshness),
            before=before,
            agenda=agenda,
            suspended=suspended,
            compared=compared,
        )
        if baseline_as_of is not None:
            # only the people named again: nobody this run does not name is kept
            named_again(before, lists).to_parquet(staged / BASELINE, index=False)
            written.files.append(BASELINE)
        stages.done(STAGES[4])
        manifest = Manifest(
            as_of=as_of.isoformat(),
            data_dir=str(data_dir),
            data_fingerprint=snapshot.fingerprint,
            data_end=snapshot.data_end.isoformat(),
            outcomes=outcomes,
            models=_model_entries(listed),
            capacity=capacity.as_dict(),
            people_scored=len(frame),
            counts=written.counts,
            durations=stages.durations,
            writing_parts={k: round(v, 3) for k, v in written.parts.items()},
            files=sorted([*written.files, MANIFEST]),
            baseline_as_of=baseline_as_of,
            out_dir=str(out_dir),
            packs=written.packs,
            access_log_anchor=_anchor(access_log, as_of),
            agenda=agenda,
            suspended={o: s.words() for o, s in suspended.items()},
            monitoring=_monitoring_entries(models),
            compared=compared,
        )
        publish(staged, out_dir, manifest, tracking=tracking, before_swap=before_swap)
    return manifest
