"""Outcome labels: recorded serious-violence involvement in the 12 months after as_of.

``sv_victim_12m`` / ``sv_perpetrator_12m`` are 1 when the person is recorded as
victim / suspect of a serious-violence incident with ``event_date`` in
``[as_of, as_of + 12 months)``, 0 when not — and missing (never 0) when that
whole window does not lie inside the data.
"""

from __future__ import annotations

import datetime as dt

import ibis
import ibis.expr.types as ir
import pandas as pd

from features._engine import memtable
from features.spine import Spine
from features.vocabulary import OUTCOMES

#: label column → the incidents role that makes it 1 (from the outcome table)
LABELS = {o.label: o.role for o in OUTCOMES.values()}
HORIZON_MONTHS = 12


def label_window_end(as_of: dt.date) -> dt.date:
    """End (excluded) of the label window of ``as_of``."""
    return (pd.Timestamp(as_of) + pd.DateOffset(months=HORIZON_MONTHS)).date()


def build_labels(
    incidents: ir.Table, spine: ir.Table, spine_info: Spine, data_end: dt.date
) -> ir.Table:
    """Labels for every spine row (pure: an Ibis expression).

    Parameters
    ----------
    incidents
        The ``incidents`` table.
    spine, spine_info
        The spine (table and snapshot dates).
    data_end
        First day after the data; a label whose window ends after it is missing.
    """
    windows = memtable(
        pd.DataFrame(
            {
                "snapshot": range(len(spine_info.as_of_dates)),
                "start": pd.to_datetime(list(spine_info.as_of_dates)),
                "stop": pd.to_datetime([label_window_end(d) for d in spine_info.as_of_dates]),
            }
        )
    ).mutate(start=lambda t: t.start.date(), stop=lambda t: t.stop.date())
    sv = incidents.filter(incidents.serious_violence & incidents.role.isin(list(LABELS.values())))
    sv = sv.mutate(event_date=sv.event_date.cast("date"))
    hits = sv.join(windows, [sv.event_date >= windows.start, sv.event_date < windows.stop])
    flags = hits.group_by(["person_id", "snapshot"]).aggregate(
        **{name: (hits.role == role).any() for name, role in LABELS.items()}
    )
    rows = spine.select("row", "person_id", "snapshot").left_join(flags, ["person_id", "snapshot"])
    rows = rows.drop("person_id_right", "snapshot_right").join(windows, "snapshot")
    inside = rows.stop <= ibis.date(data_end)
    return rows.select(
        "row",
        "person_id",
        "snapshot",
        **{
            name: inside.ifelse(rows[name].fill_null(False).cast("int8"), ibis.null("int8"))
            for name in LABELS
        },
    )
