"""Who a referral panel sees: the one selection function every list comes from.

Each local authority's panel receives two lists a month, one per cohort
(:data:`features.vocabulary.COHORTS`):

- ``known`` — young people *already involved*: a police record of serious violence,
  as a victim or a suspect, before the as-of date;
- ``early`` — young people *not yet involved*: the early-identification list.

:func:`select_lists` ranks each cohort of each local authority by the calibrated
estimate and marks the ``capacity`` highest of each list (:class:`PanelCapacity`):
those, and only those, are named to the panel. Everyone beyond capacity is counted
by band, never named (data minimisation). :func:`select_panel` is the same ranking
for one list.

Training's metrics at capacity, the fairness gate's operating point and the
monthly batch (``vru score``) all call these, so the lists the gate audits are the
lists a panel receives. Ties are broken by ``person_id`` so every run of the same
data gives the same lists.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from features.vocabulary import COHORTS, LISTS, LOCAL_AUTHORITIES, cohort_of
from models.bands import BAND_ORDER

__all__ = [
    "MSG_NO_CAPACITY",
    "PANEL_BAND",
    "PanelCapacity",
    "PanelError",
    "as_capacity",
    "panel_threshold",
    "select_lists",
    "select_panel",
    "within_capacity",
]

#: the band whose lower edge is the panel threshold
PANEL_BAND = "high"
MSG_NO_CAPACITY = "no panel capacity for {la} (set VRU_PANEL_CAPACITY)"


class PanelError(ValueError):
    """A list cannot be drawn (one line naming the problem)."""


def _count(value: Any, where: str) -> int:
    """A capacity: a whole number of young people, 0 or more (``PanelError`` otherwise)."""
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise PanelError(f"{where} must be a whole number of young people, got {value!r}")
    try:
        number = float(value)
    except ValueError:
        raise PanelError(f"{where} must be a whole number of young people, got {value!r}") from None
    if not number.is_integer():
        raise PanelError(f"{where} must be a whole number of young people, got {value!r}")
    if number < 0:
        raise PanelError(f"{where} cannot be negative, got {value!r}")
    return int(number)


@dataclass(frozen=True)
class PanelCapacity:
    """How many young people each local authority's panel reviews on each list.

    ``known[la]`` for the list of young people already involved in serious violence,
    ``early[la]`` for the early-identification list.
    """

    known: Mapping[str, int]
    early: Mapping[str, int]

    def __post_init__(self) -> None:
        if set(self.known) != set(self.early):
            raise PanelError("each local authority needs a capacity for both lists")

    @property
    def authorities(self) -> tuple[str, ...]:
        return tuple(sorted(self.known))

    def of(self, list_key: str) -> dict[str, int]:
        """Capacity of one list (``known`` or ``early``) by local authority."""
        if list_key not in LISTS:
            raise PanelError(f"list must be one of {', '.join(LISTS)}, got {list_key!r}")
        return dict(self.known if list_key == "known" else self.early)

    def as_dict(self) -> dict[str, dict[str, int]]:
        """``{la: {"known": n, "early": m}}`` (what the settings and manifests hold)."""
        return {la: {"known": self.known[la], "early": self.early[la]} for la in self.authorities}

    def __str__(self) -> str:
        return json.dumps(self.as_dict())

    @classmethod
    def uniform(
        cls,
        known: int | None = None,
        early: int | None = None,
        authorities: Iterable[str] = LOCAL_AUTHORITIES,
    ) -> PanelCapacity:
        """The same capacity everywhere (each list's default where not given)."""
        k = LISTS["known"].default_capacity if known is None else known
        e = LISTS["early"].default_capacity if early is None else early
        names = tuple(authorities)
        return cls(dict.fromkeys(names, k), dict.fromkeys(names, e))

    @classmethod
    def parse(cls, value: Any, authorities: Iterable[str] = LOCAL_AUTHORITIES) -> PanelCapacity:
        """Read a capacity setting (``PanelError`` with one line naming the problem).

        Accepts a JSON object (or its text) by local authority, each either a number (the
        ``known`` list; the ``early`` list keeps its default) or ``{"known": n, "early": m}``.
        Local authorities not named keep the defaults; an unknown one is refused.
        """
        if isinstance(value, PanelCapacity):
            return value
        if isinstance(value, str | bytes):
            try:
                value = json.loads(value)
            except json.JSONDecodeError:
                raise PanelError(
                    "panel capacity must be a JSON object by local authority, e.g. "
                    '{"Bristol": {"known": 50, "early": 20}}'
                ) from None
        if not isinstance(value, Mapping):
            raise PanelError(f"panel capacity must be an object by local authority, got {value!r}")
        names = tuple(authorities)
        out = cls.uniform(authorities=names)
        known, early = dict(out.known), dict(out.early)
        for la, entry in value.items():
            if la not in names:
                raise PanelError(
                    f"panel capacity names an unknown local authority {la!r} "
                    f"(known: {', '.join(names)})"
                )
            if isinstance(entry, Mapping):
                unknown = sorted(set(entry) - set(LISTS))
                if unknown:
                    raise PanelError(
                        f"panel capacity for {la} names an unknown list {unknown[0]!r} "
                        f"(lists: {', '.join(LISTS)})"
                    )
                if "known" in entry:
                    known[la] = _count(entry["known"], f"the known-list capacity for {la}")
                if "early" in entry:
                    early[la] = _count(entry["early"], f"the early-list capacity for {la}")
            else:
                known[la] = _count(entry, f"the panel capacity for {la}")
        return cls(known, early)


def as_capacity(capacity: PanelCapacity | Mapping[str, Any]) -> PanelCapacity:
    """A :class:`PanelCapacity` from itself or from a mapping by local authority (any
    authority, each a number for the ``known`` list or ``{"known": n, "early": m}``)."""
    if isinstance(capacity, PanelCapacity):
        return capacity
    return PanelCapacity.parse(dict(capacity), authorities=tuple(capacity))


def panel_threshold(bands: Sequence[Any]) -> float:
    """Lower edge of the ``high`` band of a model's bands, or of the lowest band above it
    when ``high`` was merged into the band below (:func:`models.bands.fit_bands`)."""
    at_least = BAND_ORDER.index(PANEL_BAND)
    for band in bands:
        if band.name in BAND_ORDER and BAND_ORDER.index(band.name) >= at_least:
            return float(band.lower)
    raise PanelError(f"the model has no '{PANEL_BAND}' band")


def select_panel(
    scored: pd.DataFrame, capacity: Mapping[str, int], threshold: float | None
) -> pd.DataFrame:
    """Rank each local authority's young people and mark who the panel sees.

    Parameters
    ----------
    scored
        One row per young person with ``person_id``, ``local_authority`` and
        ``probability`` (other columns are carried along).
    capacity
        Young people each local authority's panel can review.
    threshold
        Estimate at or above which a person is listed even beyond capacity
        (:func:`panel_threshold`); ``None`` lists the capacity only.

    Returns
    -------
    ``scored`` in the same row order with ``rank`` (1 = highest estimate in its
    local authority), ``within_capacity`` and ``listed``.

    Raises
    ------
    PanelError
        A local authority in ``scored`` has no capacity.
    """
    # areas and people as codes in their sorted order: the same order as sorting the
    # strings themselves, without turning a column of strings into Python objects
    area_codes, area_names = pd.factorize(
        scored["local_authority"].astype(str), sort=True, use_na_sentinel=False
    )
    missing = sorted(set(area_names) - set(capacity))
    if missing:
        raise PanelError(MSG_NO_CAPACITY.format(la=missing[0]))
    person_codes, _ = pd.factorize(scored["person_id"].astype(str), sort=True)
    probability = scored["probability"].to_numpy(dtype=float)
    order = np.lexsort((person_codes, -probability, area_codes))
    ordered = area_codes[order]
    rank = np.empty(len(scored), dtype=np.int64)
    # 1 + the place in its area's run of the sorted rows
    rank[order] = np.arange(len(order)) - np.searchsorted(ordered, ordered, side="left") + 1
    cap = np.array([capacity[a] for a in area_names], dtype=np.int64)[area_codes]
    within = rank <= cap
    listed = within.copy()
    if threshold is not None:
        listed |= probability >= threshold
    return scored.assign(rank=rank, within_capacity=within, listed=listed)


def within_capacity(
    person_id: np.ndarray,
    area: np.ndarray,
    score: np.ndarray,
    capacity: PanelCapacity | Mapping[str, Any],
    cohort: np.ndarray | None = None,
) -> np.ndarray:
    """Boolean mask of who the panels are named: with ``cohort`` (each row's cohort key),
    both lists within their capacities (:func:`select_lists`); without, one list of each
    area's ``capacity`` highest scores (a plain mapping, or a :class:`PanelCapacity`'s
    ``known`` list)."""
    frame = pd.DataFrame({"person_id": person_id, "local_authority": area, "probability": score})
    if cohort is not None:
        marked = select_lists(frame, capacity, cohort=cohort)
        return marked["within_capacity"].to_numpy(dtype=bool)
    one = capacity.known if isinstance(capacity, PanelCapacity) else capacity
    return select_panel(frame, one, None)["within_capacity"].to_numpy(dtype=bool)


def select_lists(
    scored: pd.DataFrame,
    capacity: PanelCapacity | Mapping[str, Any],
    cohort: np.ndarray | pd.Series | None = None,
) -> pd.DataFrame:
    """Both lists of every local authority: rank each cohort and mark its capacity.

    Parameters
    ----------
    scored
        One row per young person with ``person_id``, ``local_authority`` and
        ``probability``, and either a ``cohort`` column or, to derive it, the
        :data:`features.vocabulary.INVOLVEMENT_FEATURES` columns.
    capacity
        Each list's capacity by local authority (:class:`PanelCapacity`).
    cohort
        The cohort key of each row, when ``scored`` has neither.

    Returns
    -------
    ``scored`` in the same row order with ``cohort``, ``list`` (``known``/``early``),
    ``rank`` (1 = highest estimate of its list in its local authority) and
    ``within_capacity`` (named to the panel).
    """
    capacity = as_capacity(capacity)
    if cohort is None:
        cohort = scored["cohort"] if "cohort" in scored.columns else cohort_of(scored)
    keys = np.asarray(cohort, dtype=object)
    unknown = sorted(set(keys) - set(COHORTS))
    if unknown:
        raise PanelError(f"unknown cohort {unknown[0]!r} (cohorts: {', '.join(COHORTS)})")
    rank = np.zeros(len(scored), dtype=np.int64)
    within = np.zeros(len(scored), dtype=bool)
    lists = np.empty(len(scored), dtype=object)
    base = scored[["person_id", "local_authority", "probability"]]
    for key, group in COHORTS.items():
        rows = np.flatnonzero(keys == key)
        lists[rows] = group.list_key
        if rows.size == 0:
            continue
        marked = select_panel(base.iloc[rows], capacity.of(group.list_key), None)
        rank[rows] = marked["rank"].to_numpy()
        within[rows] = marked["within_capacity"].to_numpy(dtype=bool)
    return scored.assign(cohort=keys, list=lists, rank=rank, within_capacity=within)
