"""What the service loads as it starts: the champion of each outcome and the snapshot.

Loaded once and pinned: the registry may move on (a new champion), the running
service keeps answering with the versions it loaded and reports them in every
response. Anything that would make answers wrong stops the start with a one-line
:class:`CannotStartError`: no champion, a version whose fairness verdict does not
allow release, a version switched off after release (suspended: its sentence says which
check, since when and what to do), a model that does not load, a snapshot missing the
model's inputs.

Data freshness: ``vru features`` writes each source's latest *recorded* date into
the snapshot's Parquet metadata (:func:`features.snapshot.with_freshness`), the
dates the panel packs print, so the service and the packs say the same. For a
snapshot written before that, the service falls back to the latest record date
implied by the support columns (``as_of − min(days since the latest matching
record)``: the newest *event* that reached anyone's features, a lower bound).

This month's panel lists (:class:`PanelLists`) are drawn here too, once per outcome:
the snapshot scored by the champion (``RiskModel.predict``) and split into its two
cohorts by :func:`models.panels.select_lists` with the settings' capacity, so a
young person's place on a list is the place the panel's own list gives them.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from features.vocabulary import INVOLVEMENT_FEATURES, LISTS, cohort_of
from models.panels import PanelCapacity, PanelError, as_capacity, select_lists
from models.registry import RELEASABLE, Released

__all__ = [
    "KEY_COLUMNS",
    "CannotStartError",
    "Champion",
    "ListPlace",
    "PanelLists",
    "Snapshot",
    "load_champions",
]

KEY_COLUMNS = ("person_id", "as_of", "local_authority")


class CannotStartError(RuntimeError):
    """The service cannot start (or answer) honestly; the message is one line."""


#: a pinned, releasable model version of one outcome, loaded with its model card
Champion = Released


def first_line(exc: BaseException) -> str:
    """The first line of an exception's message (or its type), for one-line refusals."""
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__


def load_champions(tracking_uri: str, outcomes: Sequence[str]) -> dict[str, Champion]:
    """The ``champion`` of each outcome's registered model (or :class:`CannotStartError`).

    The fairness verdict is checked before the model is loaded: only a pass or a
    recorded override is served.
    """
    from models.registry import (
        CHAMPION,
        Registry,
        RegistryError,
        model_name,
        release_verdict,
        suspension_of,
    )

    registry = Registry(tracking_uri)
    champions = {}
    for outcome in outcomes:
        name = model_name(outcome)
        try:
            version = registry.version(outcome, alias=CHAMPION)
        except RegistryError as exc:
            raise CannotStartError(
                f"no champion for {name} in {tracking_uri} ({exc}); "
                "train, gate and promote one first (vru train, vru fairness gate, vru promote)"
            ) from None
        verdict = release_verdict(version.tags)
        if verdict not in RELEASABLE:
            raise CannotStartError(
                f"{name} version {version.version} is champion but its fairness verdict is "
                f"'{verdict}': only a pass or a recorded override may be served"
            )
        try:
            released = registry.load(outcome, version=str(version.version))
        except RegistryError as exc:
            raise CannotStartError(str(exc)) from None
        # after the ledger check: the suspension read is the recorded one
        suspension = suspension_of(outcome, released.version, released.tags)
        if suspension is not None:
            raise CannotStartError(
                f"{name} version {released.version} is champion but is switched off: "
                f"{suspension.words()}"
            )
        champions[outcome] = registry.with_card(released)
    return champions


def _freshness(frame: pd.DataFrame, as_of: dt.date) -> dict[str, dt.date]:
    from features.registry import REGISTRY, support_columns

    by_source: dict[str, list[str]] = {}
    for column in support_columns():
        if column in frame.columns:
            by_source.setdefault(str(REGISTRY[column].source), []).append(column)
    fresh = {}
    for source, columns in sorted(by_source.items()):
        days = frame[columns].min(skipna=True).min(skipna=True)
        if days is not pd.NA and not (isinstance(days, float) and math.isnan(days)):
            fresh[source] = as_of - dt.timedelta(days=int(days))
    return fresh


class Snapshot:
    """The latest as-of of a feature table, indexed by person, with per-source freshness."""

    def __init__(
        self,
        path: Path,
        frame: pd.DataFrame,
        as_of: dt.date,
        texts: Sequence[str] = (),
        freshness: Mapping[str, dt.date] | None = None,
    ) -> None:
        from features.registry import support_columns

        self.path = path
        self.as_of = as_of
        frame = frame.reset_index(drop=True)
        self.person_ids = frame["person_id"].astype(str).to_numpy(dtype=object)
        self.positions = {p: i for i, p in enumerate(self.person_ids)}
        self.areas = frame["local_authority"].astype(str).to_numpy(dtype=object)
        self.freshness = dict(freshness) if freshness else _freshness(frame, as_of)
        # one float matrix of what explanations read (inputs and the dates behind them):
        # a one-row frame cut from it costs microseconds, not the milliseconds of slicing a
        # wide frame of nullable and Arrow-backed columns
        support = set(support_columns())
        self.columns = [
            c
            for c in frame.columns
            if c not in KEY_COLUMNS and (c in support or pd.api.types.is_numeric_dtype(frame[c]))
        ]
        self.values = frame[self.columns].to_numpy(dtype=float, na_value=np.nan)
        self._as_of = pd.Timestamp(as_of)
        #: text columns a model reads only to calibrate (sex), kept beside the matrix
        self.texts = {c: frame[c].astype(str).to_numpy(dtype=object) for c in texts}
        # the column index built once (object dtype: a one-row frame on Arrow-string columns,
        # pandas 3's default, costs half as much again to build)
        self._columns = pd.Index(self.columns, dtype=object)

    def __len__(self) -> int:
        return len(self.person_ids)

    @classmethod
    def load(cls, path: Path, features: Sequence[str], texts: Sequence[str] = ()) -> Snapshot:
        """Read the Parquet snapshot; refuse one that lacks a model input, a key column or
        a column the models are calibrated by (``texts``: sex, kept only for that)."""
        import pyarrow.parquet as pq

        from features.build import to_frame

        if not path.exists():
            raise CannotStartError(f"no feature snapshot at {path} (make one with vru features)")
        try:
            schema = pq.read_schema(path)
        except Exception as exc:
            raise CannotStartError(f"cannot read the snapshot {path}: {first_line(exc)}") from None
        # the involvement counts decide each young person's cohort (and so their list)
        needed = list(dict.fromkeys([*KEY_COLUMNS, *features, *texts, *INVOLVEMENT_FEATURES]))
        missing = [c for c in needed if c not in schema.names]
        if missing:
            raise CannotStartError(
                f"the snapshot {path} does not match the model: it lacks {len(missing)} "
                f"column(s) the model or the panel lists need, e.g. {', '.join(missing[:3])}"
            )
        from features.registry import AUDIT_ONLY

        keep = [
            c for c in schema.names if c not in AUDIT_ONLY or c == "local_authority" or c in texts
        ]
        frame = to_frame(pq.read_table(path, columns=keep))
        if frame.empty:
            raise CannotStartError(f"the snapshot {path} has no rows")
        as_of = pd.Timestamp(frame["as_of"].max()).date()
        latest = frame[frame["as_of"].dt.date == as_of]
        if latest["person_id"].duplicated().any():
            raise CannotStartError(
                f"the snapshot {path} has more than one row per person on {as_of}"
            )
        from features.snapshot import read_freshness

        return cls(path, latest, as_of, texts, freshness=read_freshness(schema.metadata))

    def frame(self) -> pd.DataFrame:
        """Every row of the snapshot as one float frame (what the lists are scored from),
        with the text columns the models calibrate by."""
        frame = pd.DataFrame(self.values, columns=self._columns)
        for column, values in self.texts.items():
            frame[column] = values
        return frame

    def row(self, person_id: str) -> pd.DataFrame | None:
        """The person's row as a one-row frame, or ``None`` if they are not on the snapshot."""
        position = self.positions.get(person_id)
        if position is None:
            return None
        row = pd.DataFrame(self.values[position : position + 1], columns=self._columns)
        for column, values in self.texts.items():
            row[column] = values[position : position + 1]
        row.insert(0, "as_of", [self._as_of])
        row.insert(0, "person_id", [person_id])
        return row

    def record(self, person_id: str) -> dict[str, object] | None:
        """The person's row as a mapping of column to value (the cells of :meth:`row`,
        without building a frame), or ``None`` if they are not on the snapshot."""
        position = self.positions.get(person_id)
        if position is None:
            return None
        record: dict[str, object] = {"person_id": person_id, "as_of": self._as_of}
        record.update(zip(self.columns, self.values[position].tolist(), strict=True))
        for column, values in self.texts.items():
            record[column] = values[position]
        return record

    def area(self, person_id: str) -> str | None:
        position = self.positions.get(person_id)
        return None if position is None else str(self.areas[position])


# ------------------------------------------------------------------ this month's lists


@dataclass(frozen=True)
class ListPlace:
    """Where one young person stands on this month's list of one outcome.

    Only their own place: ``rank`` is given when they are named to the panel (within
    the list's capacity in their local authority) and is ``None`` otherwise.
    """

    #: ``already_involved`` or ``not_yet_involved`` (:data:`features.vocabulary.COHORTS`)
    cohort: str
    #: the list drawn from that cohort: ``known`` or ``early``
    list_key: str
    local_authority: str
    #: how many young people the list names in this local authority
    capacity: int
    #: 1 = the highest estimate of the list; ``None`` = beyond capacity, not named
    rank: int | None
    #: as-of date of the snapshot the lists were drawn from
    as_of: dt.date

    @property
    def named(self) -> bool:
        return self.rank is not None


class PanelLists:
    """This month's lists of every outcome, drawn once as the service starts.

    Holds, per person of the snapshot, their cohort and, per outcome, their rank on
    their cohort's list and whether it is within capacity; answers one person at a
    time (:meth:`place`), never a list.
    """

    def __init__(
        self,
        snapshot: Snapshot,
        capacity: PanelCapacity,
        cohorts: np.ndarray,
        marked: Mapping[str, pd.DataFrame],
    ) -> None:
        self.snapshot = snapshot
        self.as_of = snapshot.as_of
        self.capacity = capacity
        self.cohorts = np.asarray(cohorts, dtype=object)
        self._lists = {o: m["list"].to_numpy(dtype=object) for o, m in marked.items()}
        self._ranks = {o: m["rank"].to_numpy(dtype=np.int64) for o, m in marked.items()}
        self._within = {o: m["within_capacity"].to_numpy(dtype=bool) for o, m in marked.items()}
        self._capacity = {key: capacity.of(key) for key in LISTS}

    @property
    def outcomes(self) -> tuple[str, ...]:
        return tuple(self._ranks)

    @classmethod
    def draw(
        cls,
        champions: Mapping[str, Champion],
        snapshot: Snapshot,
        capacity: PanelCapacity | Mapping[str, Any],
    ) -> PanelLists:
        """Score the snapshot with each champion and draw both lists of every local authority.

        Raises
        ------
        CannotStartError
            The capacity does not cover a local authority of the snapshot (one line).
        """
        try:
            capacity = as_capacity(capacity)
        except PanelError as exc:
            raise CannotStartError(f"cannot draw this month's lists: {exc}") from None
        frame = snapshot.frame()
        cohorts = cohort_of(frame)
        marked = {}
        for outcome, champion in champions.items():
            probability = champion.model.predict(None, frame)["probability"]
            scored = pd.DataFrame(
                {
                    "person_id": snapshot.person_ids,
                    "local_authority": snapshot.areas,
                    "probability": probability.to_numpy(dtype=float),
                }
            )
            try:
                marked[outcome] = select_lists(scored, capacity, cohort=cohorts)
            except PanelError as exc:
                raise CannotStartError(f"cannot draw this month's lists: {exc}") from None
        return cls(snapshot, capacity, cohorts, marked)

    def cohort(self, person_id: str) -> str | None:
        """The young person's cohort key, or ``None`` if they are not on the snapshot."""
        position = self.snapshot.positions.get(person_id)
        return None if position is None else str(self.cohorts[position])

    def place(self, outcome: str, person_id: str) -> ListPlace | None:
        """The young person's place on this month's list of ``outcome`` (``None``: not on
        the snapshot)."""
        position = self.snapshot.positions.get(person_id)
        if position is None:
            return None
        list_key = str(self._lists[outcome][position])
        area = str(self.snapshot.areas[position])
        within = bool(self._within[outcome][position])
        return ListPlace(
            cohort=str(self.cohorts[position]),
            list_key=list_key,
            local_authority=area,
            capacity=int(self._capacity[list_key][area]),
            rank=int(self._ranks[outcome][position]) if within else None,
            as_of=self.as_of,
        )
