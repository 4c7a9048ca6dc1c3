"""Historic referral panels: who they discussed, who took up help, and what help did.

Before this tool, each local authority's panel ranked young people by hand rules — a
few points for each kind of record in the last 12 months — and discussed as many as it
could each month. :class:`PanelHistory` runs those panels inside the monthly
simulation, so that their help can change what happens next:

* at the start of each month from :meth:`PanelHistory.first_month
  <synthetic.config.PanelHistory.first_month>`, every resident with at least one
  point who was not discussed in the last 12 months is ranked within their local
  authority: most points first, then in a random order drawn afresh each month (a
  coordinator's order among equals: ordering equals by their latest record instead
  put young people of different kinds either side of the cut, which the balance
  check found);
* the top ``capacity`` are discussed; the list is kept to ``depth × capacity`` places
  (the reserve list), which is what an evaluation at the cut needs;
* a discussed young person takes up the help offered with probability ``take_up``;
  the programme depends on their age;
* while help lasts (``effect_months``, from the month of the panel) the true monthly
  probabilities of serious violence, as victim and as perpetrator, are multiplied by
  ``1 − intervention_effect`` (:meth:`PanelRun.hazard_scale`).

The panels read only what agencies *recorded* (the record side), by the month the
event happened: the historic panels are taken to have seen a record in its month.
Their own random draws come from a stream of their own, so a world whose help does
nothing (``intervention_effect = 0``) is the same world as one without panels.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from features.vocabulary import PROGRAMMES
from synthetic.config import PanelHistory

#: the hand rules: (points, kind of record, at least this many in the last 12 months) —
#: the rules baseline's points (``models.candidates.BASELINE_RULES``; a test keeps them equal)
HAND_RULES: tuple[tuple[int, str, int], ...] = (
    (3, "sv_suspect", 1),
    (3, "sv_victim", 1),
    (2, "permanent_exclusion", 1),
    (2, "yot_order", 1),
    (1, "missing", 2),
    (1, "weapon", 1),
)
#: the feature each kind of record is counted in (for the test against the baseline)
RULE_FEATURES: dict[str, str] = {
    "sv_suspect": "incidents_365d_sv_suspect_count",
    "sv_victim": "incidents_365d_sv_victim_count",
    "permanent_exclusion": "school_365d_permanent_exclusion_count",
    "yot_order": "contacts_365d_yot_order_count",
    "missing": "contacts_365d_missing_count",
    "weapon": "incidents_365d_weapon_count",
}
RECORD_KINDS: tuple[str, ...] = tuple(RULE_FEATURES)
_KIND = {k: i for i, k in enumerate(RECORD_KINDS)}
_RING = 16  # months of counts kept: 12 read, and room for orders dated 2 months ahead
#: programmes offered, by age (under 16, 16 and over), with their shares
_PROGRAMME_MIX: dict[bool, tuple[tuple[str, float], ...]] = {
    True: (("mentoring", 0.4), ("family_support", 0.4), ("youth_work", 0.2)),
    False: (("mentoring", 0.4), ("youth_work", 0.4), ("hospital_navigator", 0.2)),
}
_PROGRAMME_CODE = {name: i for i, name in enumerate(PROGRAMMES)}


class RecordWindow:
    """Each person's recorded rule events per month, and their sums over the last 12."""

    def __init__(self, n: int) -> None:
        self.counts = np.zeros((len(RECORD_KINDS), _RING, n), np.uint8)
        self.window = np.zeros((len(RECORD_KINDS), n), np.int16)

    def add(self, kind: str, persons: np.ndarray, months: np.ndarray | int) -> None:
        """Count recorded events of one kind (months may run up to 2 ahead: orders)."""
        if np.size(persons) == 0:
            return
        months = np.broadcast_to(np.asarray(months), np.shape(persons))
        np.add.at(self.counts[_KIND[kind]], (months % _RING, persons), 1)

    def begin_month(self, t: int) -> None:
        """Move the window to the months ``[t − 12, t)``."""
        if t >= 1:
            self.window += self.counts[:, (t - 1) % _RING]
        if t >= 13:
            self.window -= self.counts[:, (t - 13) % _RING]
        self.counts[:, (t + 2) % _RING] = 0  # held month t − 14, already out of the window

    def points(self, idx: np.ndarray) -> np.ndarray:
        """The hand rules' points of people ``idx`` on the current window."""
        out = np.zeros(idx.size, np.int16)
        for points, kind, at_least in HAND_RULES:
            out += points * (self.window[_KIND[kind], idx] >= at_least)
        return out


@dataclass
class PanelRun:
    """The panels of one simulation: their state month to month, and what they did."""

    settings: PanelHistory
    first_month: int
    rng: np.random.Generator
    n: int
    records: RecordWindow = field(init=False)
    last_discussed: np.ndarray = field(init=False)
    helped_until: np.ndarray = field(init=False)
    lists: dict[str, list[np.ndarray]] = field(default_factory=dict)
    helped: dict[str, list[np.ndarray]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.records = RecordWindow(self.n)
        self.last_discussed = np.full(self.n, -10_000, np.int32)
        self.helped_until = np.full(self.n, -1, np.int32)

    def _keep(self, store: dict[str, list[np.ndarray]], **columns: np.ndarray | int) -> None:
        size = np.size(columns["person"])
        for name, value in columns.items():
            store.setdefault(name, []).append(np.array(np.broadcast_to(value, (size,))))

    def meet(self, t: int, act: np.ndarray, la: np.ndarray, age: np.ndarray) -> None:
        """This month's panels (before the month's events): rank, discuss, offer help.

        ``act`` are the residents of month ``t``; ``la`` and ``age`` are aligned with it.
        """
        self.records.begin_month(t)
        if t < self.first_month:
            return
        points = self.records.points(act)
        eligible = (points > 0) & (t - self.last_discussed[act] >= 12)
        order_key = self.rng.random(act.size)  # drawn for every resident: a stable stream
        for code in np.unique(la):
            here = la == code
            capacity = self.settings.capacity(int(here.sum()))
            pick = np.flatnonzero(here & eligible)
            order = np.lexsort((order_key[pick], -points[pick]))
            ranked = pick[order[: self.settings.depth * capacity]]
            if ranked.size == 0:
                continue
            rank = np.arange(1, ranked.size + 1)
            self._keep(
                self.lists,
                person=act[ranked],
                month=t,
                la=code,
                rank=rank,
                capacity=capacity,
            )
            discussed = ranked[rank <= capacity]
            self.last_discussed[act[discussed]] = t
            take = self.rng.random(discussed.size) < self.settings.take_up
            took_up = discussed[take]
            young = age[took_up] < 16
            programme = np.zeros(took_up.size, np.int8)
            for is_young in (True, False):
                names, shares = zip(*_PROGRAMME_MIX[is_young], strict=True)
                rows = np.flatnonzero(young == is_young)
                drawn = self.rng.choice(len(names), size=rows.size, p=np.array(shares))
                programme[rows] = np.array([_PROGRAMME_CODE[n] for n in names])[drawn]
            self.helped_until[act[took_up]] = t + self.settings.effect_months
            self._keep(
                self.helped,
                person=act[took_up],
                month=t,
                rank=rank[: discussed.size][take],
                programme=programme,
                day=(self.rng.random(took_up.size) * 28).astype(np.int8) + 1,
            )

    def hazard_scale(self, t: int, act: np.ndarray) -> np.ndarray | None:
        """What multiplies this month's serious-violence probabilities (None: nothing)."""
        effect = self.settings.intervention_effect
        if effect == 0 or t < self.first_month:
            return None
        helped = self.helped_until[act] > t
        if not helped.any():
            return None
        return np.where(helped, 1.0 - effect, 1.0)

    def columns(self) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
        """The ranked lists and the help taken up, by column (indices into the population)."""

        def concat(store: dict[str, list[np.ndarray]], names: dict[str, str]) -> dict:
            return {
                name: (np.concatenate(store[name]) if name in store else np.zeros(0)).astype(dtype)
                for name, dtype in names.items()
            }

        lists = concat(
            self.lists,
            {
                "person": "int32",
                "month": "int16",
                "la": "int8",
                "rank": "int32",
                "capacity": "int32",
            },
        )
        helped = concat(
            self.helped,
            {
                "person": "int32",
                "month": "int16",
                "rank": "int32",
                "programme": "int8",
                "day": "int8",
            },
        )
        return lists, helped
