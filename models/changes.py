"""What changed since the young person was last scored: :func:`changes_since`.

Given the rows of the same young people at two as-of dates (matched by
``person_id``), the model scores both with its own :meth:`~models.risk_model.RiskModel.predict`
and :meth:`~models.risk_model.RiskModel.contributions` — no second scoring path —
and, per person scored at both dates, reports the band then and now and the (up
to three) inputs whose contributions moved most, each with a sentence naming the
records behind the move, computed from the feature values then and now and the
registry's ``what`` and ``window``:

- a count over all time that rose: "2 new missing-from-home episodes reported to
  police since 2024-12-01";
- a count over a window: "suspensions in the last 12 months: 1 on 2024-12-01, 3 now";
- a flag: "now open as a child in need (was not on 2024-12-01)", "no longer …";
- the time since the latest record: a new record ("a new police record as a suspect
  since 2024-12-01 (dated 2024-12-15)") or time passing with none ("no new police
  record as a suspect since 2024-12-01 (last one 2023-05-02)");
- age: "now aged 16 (15 on 2024-12-01)".

The band then is re-estimated by the current model on the records as they stood
then, which the explanation says. An input whose contribution moved while its
value did not (a tree model sharing an interaction) names no record and is left
out; moves under :data:`~models.reasons.MIN_CONTRIBUTION` are ignored.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Mapping, Sequence
from dataclasses import replace
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from features._declare import WINDOW_WORDS
from features.vocabulary import SOURCE_TITLES
from models.reasons import MIN_CONTRIBUTION, Change, Changes, Explanation

if TYPE_CHECKING:
    from models.risk_model import RiskModel

__all__ = [
    "MOVERS",
    "NOTE",
    "attach_changes",
    "band_sentence",
    "change_sentence",
    "changes_of_record",
    "changes_since",
    "month_before",
]

#: inputs named per young person
MOVERS = 3
#: how the earlier band was found, said beside it
NOTE = "(The earlier band is this model's estimate from the records as they stood then.)"
AGE = "demo_asof_age_years"
#: words that end the head noun of a registry ``what`` ("missing-from-home episodes
#: reported to police": only "episodes" is made singular)
_AFTER_NOUN = frozenset({"to", "for", "after", "involving", "reported", "of", "involved", "in"})


def month_before(day: dt.date) -> dt.date:
    """The same day one month earlier (the last day of that month when it is shorter)."""
    year, month = (day.year, day.month - 1) if day.month > 1 else (day.year - 1, 12)
    for last in (day.day, 30, 29, 28):
        try:
            return dt.date(year, month, min(day.day, last))
        except ValueError:
            continue
    raise AssertionError("unreachable")  # pragma: no cover


def _missing(value: object) -> bool:
    return value is None or value is pd.NA or (isinstance(value, float) and math.isnan(value))


def _n(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else f"{value:.1f}"


def _signed(value: float) -> str:
    return ("+" if value > 0 else "") + _n(value)


def _one(what: str) -> str:
    """ "missing-from-home episode reported to police" from the plural."""
    words = what.split()
    for i, word in enumerate(words):
        if word in _AFTER_NOUN:
            break
        if word.endswith("ies"):
            words[i] = word[:-3] + "y"
        elif word.endswith(("ches", "shes", "sses", "xes")):
            words[i] = word[:-2]
        elif word.endswith("s") and not word.endswith("ss"):
            words[i] = word[:-1]
    return " ".join(words)


def _record(source: str | None) -> str:
    """ "police record" (the source's title, one record)."""
    return SOURCE_TITLES.get(source or "", "record").removesuffix("s")


def change_sentence(
    name: str,
    what: str,
    window: int | None,
    then: float | None,
    now: float | None,
    *,
    since: dt.date,
    as_of: dt.date,
    source: str | None = None,
) -> str | None:
    """The records behind one input's move from ``then`` (on ``since``) to ``now`` (on
    ``as_of``), or ``None`` when its value did not change (nothing on record moved).

    ``what`` and ``window`` are the registry's: the records counted and their window in
    days (``None``: ever). ``None`` or NaN values mean "never" for the "days since" and
    "first age" inputs.
    """
    then = None if _missing(then) else float(then)  # type: ignore[arg-type]
    now = None if _missing(now) else float(now)  # type: ignore[arg-type]
    if name.endswith("_days_since_last"):
        return _days_since(what, then, now, since=since, as_of=as_of, source=source)
    if then == now:
        return None
    if name == AGE or what == "age":
        return f"now aged {_n(now or 0)} ({_n(then or 0)} on {since})"
    if name.endswith("_first_age"):
        if then is None:
            return f"{what} since {since} (at age {_n(now or 0)})"
        if now is None:
            return f"{what}: no longer on record (at age {_n(then)} on {since})"
        return f"{what}: at age {_n(then)} on {since}, {_n(now)} now"
    if name.endswith("_flag"):
        core = what.removesuffix(" at the time of this assessment")
        on = (now or 0) >= 1
        if "_asof_" in name:
            return (
                f"now {core} (was not on {since})" if on else f"no longer {core} (was on {since})"
            )
        if on:
            return f"{core} — first recorded since {since}"
        return f"{core}: no longer on record (was on {since})"
    before, after = then or 0.0, now or 0.0
    if name.endswith("_escalation"):
        noun = what.removeprefix("more ").split(" in the last ")[0]
        change = f"{_signed(before)} on {since}, {_signed(after)} now"
        return f"change in {noun} on the year before: {change}"
    if window is None and after > before:
        new = after - before
        if what.startswith("times recorded as "):
            role = what.removeprefix("times recorded as ")
            record = _record(source) + ("" if new == 1 else "s")
            return f"{_n(new)} new {record} as {role} since {since}"
        return f"{_n(new)} new {_one(what) if new == 1 else what} since {since}"
    return f"{what} {WINDOW_WORDS.get(window, '')}: {_n(before)} on {since}, {_n(after)} now"


def _days_since(
    what: str,
    then: float | None,
    now: float | None,
    *,
    since: dt.date,
    as_of: dt.date,
    source: str | None,
) -> str | None:
    if now is None:
        if then is None:
            return None
        return f"{what}: no longer on record (was on {since})"
    latest = as_of - dt.timedelta(days=int(now))
    elapsed = (as_of - since).days
    new = then is None or now < then + elapsed - 0.5
    if what.startswith("the last "):
        thing = what.removeprefix("the last ")
    elif what.startswith("last recorded as "):
        thing = f"{_record(source)} as {what.removeprefix('last recorded as ')}"
    else:
        thing = f"record of {what}"
    if new:
        return f"a new {thing} since {since} (dated {latest})"
    return f"no new {thing} since {since} (last one {latest})"


def band_sentence(band_then: str, band_now: str, since: dt.date | str) -> str:
    """ "band was 'raised' on 2024-12-01, now 'high'" or "band unchanged ('high')"."""
    if band_then == band_now:
        return f"band unchanged since {since} ('{band_now}')"
    return f"band was '{band_then}' on {since}, now '{band_now}'"


def _as_of(frame: pd.DataFrame, given: dt.date | None) -> list[dt.date]:
    if given is not None:
        return [given] * len(frame)
    if "as_of" not in frame.columns:
        raise ValueError("rows need an as_of column (or the date given)")
    return [pd.Timestamp(v).date() for v in frame["as_of"].tolist()]


def _info(name: str, registry: Mapping[str, Mapping[str, object]]) -> tuple[str, Any, Any]:
    """``what``, ``window`` and ``source`` of an input (the live registry, then the model's)."""
    from features.registry import REGISTRY

    live = REGISTRY.get(name)
    if live is not None and live.what:
        return live.what, live.window, live.source
    entry = registry.get(name, {})
    what = str(entry.get("what") or str(entry.get("template", name)).split(" — ")[0])
    return what, entry.get("window"), entry.get("source")


def changes_since(
    model: RiskModel,
    now: pd.DataFrame,
    then: pd.DataFrame,
    *,
    as_of: dt.date | None = None,
    since: dt.date | None = None,
    top: int = MOVERS,
) -> dict[str, Changes]:
    """What changed for each young person in ``now`` who is also in ``then``.

    Parameters
    ----------
    model
        The model that scores both (its ``predict`` and ``contributions``).
    now, then
        Feature rows at the current and the previous as-of date, each with
        ``person_id`` and (unless the dates are given) ``as_of``.
    as_of, since
        The two as-of dates, when the rows do not carry them.
    top
        Inputs named per young person.

    Returns
    -------
    ``{person_id: Changes}`` for everyone scored at both dates (nobody else).
    """
    now_ids = now["person_id"].astype(str).to_numpy(dtype=object)
    then_ids = then["person_id"].astype(str).to_numpy(dtype=object)
    position = {p: i for i, p in enumerate(then_ids)}
    both = [i for i, p in enumerate(now_ids) if p in position]
    if not both:
        return {}
    a = now.iloc[both]
    b = then.iloc[[position[now_ids[i]] for i in both]]
    a = a.set_axis(pd.RangeIndex(len(a)))
    b = b.set_axis(pd.RangeIndex(len(b)))
    scored_a, scored_b = model.predict(None, a), model.predict(None, b)
    moved_frame = model.contributions(a).values - model.contributions(b).values
    names = [str(c) for c in moved_frame.columns]
    moves = moved_frame.to_numpy(dtype=float)
    registry = model.registry()
    infos = {n: _info(n, registry) for n in names}
    dates_a, dates_b = _as_of(a, as_of), _as_of(b, since)
    values_a = a[names].to_numpy(dtype=float, na_value=np.nan)
    values_b = b[names].to_numpy(dtype=float, na_value=np.nan)
    out: dict[str, Changes] = {}
    for i in range(len(a)):
        out[str(now_ids[both[i]])] = _changes(
            names, infos, moves[i], values_b[i], values_a[i],
            since=dates_b[i], as_of=dates_a[i], top=top,
            band_then=str(scored_b["band"].iloc[i]), band_now=str(scored_a["band"].iloc[i]),
            probability_then=float(scored_b["probability"].iloc[i]),
            probability_now=float(scored_a["probability"].iloc[i]),
        )  # fmt: skip
    return out


def changes_of_record(
    model: RiskModel,
    now: Mapping[str, object],
    then: Mapping[str, object],
    *,
    as_of: dt.date,
    since: dt.date,
    top: int = MOVERS,
) -> Changes:
    """:func:`changes_since` of one young person whose rows are given as mappings of
    column to value (the same :class:`Changes` as for one-row frames of them; what the
    service says for one young person), scored by :meth:`RiskModel.score_record`."""
    scored_a, scored_b = model.score_record(now), model.score_record(then)
    names = scored_a.names
    registry = model.registry()
    return _changes(
        names, {n: _info(n, registry) for n in names},
        scored_a.contributions - scored_b.contributions, scored_b.values, scored_a.values,
        since=since, as_of=as_of, top=top,
        band_then=scored_b.band, band_now=scored_a.band,
        probability_then=scored_b.probability, probability_now=scored_a.probability,
    )  # fmt: skip


def _changes(
    names: Sequence[str],
    infos: Mapping[str, tuple[str, Any, Any]],
    moves: np.ndarray,
    values_b: np.ndarray,
    values_a: np.ndarray,
    *,
    since: dt.date,
    as_of: dt.date,
    top: int,
    band_then: str,
    band_now: str,
    probability_then: float,
    probability_now: float,
) -> Changes:
    """One young person's :class:`Changes` from each input's move, value then and now."""
    order = sorted(
        (j for j in range(len(names)) if abs(moves[j]) >= MIN_CONTRIBUTION),
        key=lambda j: (-abs(moves[j]), names[j]),
    )
    movers: list[Change] = []
    seen: set[str] = set()
    for j in order:
        what, window, source = infos[names[j]]
        before, after = values_b[j], values_a[j]
        sentence = change_sentence(
            names[j], what, window, before, after, since=since, as_of=as_of, source=source
        )
        if sentence is None or sentence in seen:
            continue
        seen.add(sentence)
        movers.append(
            Change(
                feature=names[j],
                sentence=sentence,
                moved=round(float(moves[j]), 4),
                then=None if math.isnan(before) else float(before),
                now=None if math.isnan(after) else float(after),
            )
        )
        if len(movers) == top:
            break
    return Changes(
        since=since.isoformat(),
        band_then=band_then,
        band_now=band_now,
        probability_then=probability_then,
        probability_now=probability_now,
        moved=movers,
        summary=band_sentence(band_then, band_now, since),
        note=NOTE,
    )


def attach_changes(
    explanations: Sequence[Explanation], changes: Mapping[str, Changes]
) -> list[Explanation]:
    """Each explanation with its young person's changes (``None`` for anyone not scored
    at the previous date)."""
    return [replace(e, changes=changes.get(str(e.person_id))) for e in explanations]
