"""One monthly run, :func:`score_panels`: snapshot → scores → lists → packs → publish.

Each stage is a function of what the stage before produced; this module only
orders them, reports progress and times them. The rules live elsewhere: who is
listed in :mod:`models.panels`, list columns in :mod:`serving.batch.lists`,
statuses in :mod:`serving.batch.history`, the pack in :mod:`serving.panel`.
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from features.snapshot import FeatureSnapshot, build_snapshot, load_tables
from models.panels import PanelError, panel_threshold
from models.reasons import Explanation
from models.registry import Released
from serving.batch.atomic import MANIFEST, check_out_dir, recover, staging
from serving.batch.checks import BatchError, check_releasable
from serving.batch.history import BASELINE, add_history, find_baseline
from serving.batch.lists import (
    freshness_text,
    list_counts,
    list_rows,
    panel_list,
    slug,
    sort_lists,
    write_list,
)
from serving.batch.publish import Manifest, Tracking, publish

__all__ = ["STAGES", "score_panels"]

#: stages reported to ``progress`` in this order
STAGES = ("loading data", "building features", "scoring", "explaining", "writing packs")
#: reasons kept per explanation (the list shows three, the pack's card all of them)
TOP_REASONS = 5
Progress = Callable[[str, int, int], None]


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
    """Everyone's scores (``snapshot``) and each outcome's list, in pack order."""

    snapshot: pd.DataFrame
    listed: dict[str, pd.DataFrame]


def threshold(released: Released) -> float:
    """The panel threshold of a released model: the lower edge of its ``high`` band."""
    try:
        return panel_threshold(released.model.bundle.bands)
    except PanelError as exc:
        raise BatchError(f"{released.name} version {released.version}: {exc}") from None


def _features(
    data_dir: Path, as_of: dt.date, stages: _Stages
) -> tuple[FeatureSnapshot, pd.DataFrame]:
    """Load and check the raw tables, then build the as-of snapshot (labels off); its
    frame in person order (so ties and files are the same on every run)."""
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
    return snapshot, frame


def _score(
    frame: pd.DataFrame,
    models: Mapping[str, Released],
    capacity: Mapping[str, int],
    stages: _Stages,
) -> _Scores:
    """Score everyone with each outcome's model and draw each outcome's lists."""
    stages.say(STAGES[2], 0, len(models))
    scored_parts, listed = [], {}
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
        scored_parts.append(scored)
        try:
            listed[outcome] = panel_list(scored, capacity, threshold(released))
        except PanelError as exc:
            raise BatchError(str(exc)) from None
        stages.say(STAGES[2], i + 1, len(models))
    stages.done(STAGES[2])
    return _Scores(pd.concat(scored_parts, ignore_index=True), listed)


def _explain(
    frame: pd.DataFrame,
    models: Mapping[str, Released],
    scores: _Scores,
    snapshot: FeatureSnapshot,
    freshness: str,
    stages: _Stages,
) -> tuple[pd.DataFrame, dict[tuple[str, str], Explanation]]:
    """Explain everyone listed: the list rows and each ``(outcome, person_id)``'s explanation."""
    stages.say(STAGES[3], 0, len(models))
    parts = []
    explained: dict[tuple[str, str], Explanation] = {}
    by_person = frame.set_index("person_id", drop=False)
    for i, (outcome, released) in enumerate(models.items()):
        listed = scores.listed[outcome]
        rows = by_person.loc[listed["person_id"].to_numpy()]
        explanations = released.model.explain(
            rows, top_k=TOP_REASONS, data_as_of=snapshot.freshness
        )
        for person, explanation in zip(listed["person_id"], explanations, strict=True):
            explained[(outcome, person)] = explanation
        parts.append(list_rows(listed, explanations, freshness))
        stages.say(STAGES[3], i + 1, len(models))
    return pd.concat(parts, ignore_index=True), explained


@dataclass
class _Written:
    """What the writing stage put in the staged folder."""

    files: list[str] = field(default_factory=list)
    counts: dict[str, dict[str, dict[str, int]]] = field(default_factory=dict)
    packs: dict[str, str] = field(default_factory=dict)


def _write_packs(
    staged: Path,
    out_dir: Path,
    *,
    as_of: dt.date,
    lists: pd.DataFrame,
    scores: _Scores,
    models: Mapping[str, Released],
    explained: Mapping[tuple[str, str], Explanation],
    capacity: Mapping[str, int],
    freshness: str,
    baseline_as_of: str | None,
    stages: _Stages,
) -> _Written:
    """Each local authority's list (CSV, Parquet) and HTML pack, in the staged folder."""
    from serving.panel import render_pack

    authorities = sorted(capacity)
    stages.say(STAGES[4], 0, len(authorities))
    written = _Written()
    snapshot = scores.snapshot
    for k, la in enumerate(authorities):
        mine = lists[lists["local_authority"] == la].reset_index(drop=True)
        stem = f"panel_{slug(la)}"
        written.files += [p.name for p in write_list(mine, staged, stem)]
        written.counts[la] = {
            outcome: list_counts(mine[mine["outcome"] == outcome], snapshot, la, outcome)
            for outcome in models
        }
        html = render_pack(
            local_authority=la,
            as_of=as_of,
            lists=mine,
            snapshot=snapshot[snapshot["local_authority"] == la],
            models=models,
            explanations=explained,
            capacity=int(capacity[la]),
            freshness=freshness,
            baseline_as_of=baseline_as_of,
            counts=written.counts[la],
        )
        (staged / f"{stem}.html").write_text(html, encoding="utf-8")
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
            "threshold": threshold(m),
            "candidate": m.model.bundle.candidate_name,
        }
        for o, m in models.items()
    }


def score_panels(
    data_dir: Path,
    as_of: dt.date,
    out_dir: Path,
    models: Mapping[str, Released],
    capacity: Mapping[str, int],
    *,
    tracking: Tracking | None = None,
    progress: Progress | None = None,
    before_swap: Callable[[], None] | None = None,
) -> Manifest:
    """Score everyone on ``as_of`` and write each local authority's panel list and pack.

    Parameters
    ----------
    data_dir
        Data folder with ``raw/*.parquet``.
    as_of
        Assessment date: features see only records made before it.
    out_dir
        Output folder (replaced as a whole; must be new, empty or a previous run).
    models
        Released model per outcome (``victim``, ``perpetrator``), in pack order.
    capacity
        Young people each local authority's panel can review per outcome.
    tracking
        Where the scoring run is logged (nothing is logged without it).
    progress
        Called as ``progress(stage, done, total)``; stages are :data:`STAGES`.
    before_swap
        Called with everything staged, just before the swap (tests interrupt a run
        there).

    Raises
    ------
    BatchError, features.schemas.ContractError
        Bad input (one-line message; the snapshot's date checks raise
        :class:`features.snapshot.SnapshotError`); nothing is written.
    """
    check_out_dir(out_dir)
    check_releasable(models)
    outcomes = list(models)
    stages = _Stages(progress or _silent)

    snapshot, frame = _features(data_dir, as_of, stages)
    freshness = freshness_text(snapshot.freshness)
    scores = _score(frame, models, capacity, stages)
    current, explained = _explain(frame, models, scores, snapshot, freshness, stages)
    recover(out_dir)  # first, so that a folder set aside by a dead run is the baseline
    baseline_as_of, baseline = find_baseline(out_dir, as_of)
    baseline = baseline[baseline["outcome"].isin(outcomes)]
    history = add_history(
        current, baseline, scores.snapshot, snapshot.data.people, as_of, freshness
    )
    lists = sort_lists(history, outcomes)
    stages.done(STAGES[3])

    with staging(out_dir) as staged:
        written = _write_packs(
            staged,
            out_dir,
            as_of=as_of,
            lists=lists,
            scores=scores,
            models=models,
            explained=explained,
            capacity=capacity,
            freshness=freshness,
            baseline_as_of=baseline_as_of,
            stages=stages,
        )
        if not baseline.empty:
            baseline.to_parquet(staged / BASELINE, index=False)
            written.files.append(BASELINE)
        stages.done(STAGES[4])
        manifest = Manifest(
            as_of=as_of.isoformat(),
            data_dir=str(data_dir),
            data_fingerprint=snapshot.fingerprint,
            data_end=snapshot.data_end.isoformat(),
            outcomes=outcomes,
            models=_model_entries(models),
            capacity={la: int(capacity[la]) for la in sorted(capacity)},
            people_scored=len(frame),
            counts=written.counts,
            durations=stages.durations,
            files=sorted([*written.files, MANIFEST]),
            baseline_as_of=baseline_as_of,
            out_dir=str(out_dir),
            packs=written.packs,
        )
        publish(staged, out_dir, manifest, tracking=tracking, before_swap=before_swap)
    return manifest
