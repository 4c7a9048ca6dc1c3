"""Monthly batch scoring for the five local-authority referral panels.

One call, :func:`score_panels`, builds the as-of snapshot with the same feature
builders as training, scores everyone with the released model of each outcome
(one scoring path: :class:`models.risk_model.RiskModel`), and writes for each
local authority a ranked list (CSV + Parquet) and an HTML panel pack, plus a
run manifest. Who is listed, per outcome and local authority:

- the ``capacity`` highest estimates (what the panel can review this month), and
- anyone else whose estimate is at or above the lower edge of the model's
  ``high`` band (so nobody in the high bands is silently cut off by capacity).

Each list is compared with the previous run in the same output folder: a listed
person is ``new`` or ``still listed``; a person listed last time and not now is
``dropped off`` with the reason (risk fell below the cut, aged out, moved).

Outputs are built in a temporary folder beside ``out_dir`` and swapped into
place in one rename, so an interrupted run leaves the previous outputs intact.
No audit-only column (sex, ethnicity, SEN, deprivation, free school meals) is
ever written. Every list is a prompt for professional review, never a decision.
"""

from __future__ import annotations

import contextlib
import ctypes
import datetime as dt
import json
import os
import re
import shutil
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from features.vocabulary import SOURCE_TITLES
from models.reasons import Explanation

#: stages reported to ``progress`` in this order
STAGES = ("loading data", "building features", "scoring", "explaining", "writing packs")
STATUS_NEW = "new"
STATUS_STILL = "still listed"
STATUS_DROPPED = "dropped off"
DROPPED_FELL = "risk fell below the panel's cut"
DROPPED_OUTRANKED = "below the panel's cut (others now rank higher)"
DROPPED_AGED_OUT = "aged out (25 or over)"
DROPPED_MOVED = "moved to {la}"
DROPPED_LEFT = "moved away (no longer resident)"
DROPPED_GONE = "no longer in the data"
#: the band whose lower edge is the panel threshold
THRESHOLD_BAND = "high"
MANIFEST = "manifest.json"
BASELINE = "baseline.parquet"
STAGE_TAG = "score"
REASONS_IN_LIST = 3
#: columns of every panel list, in order (no audit-only column may ever be added here)
LIST_COLUMNS = (
    "rank",
    "person_id",
    "local_authority",
    "outcome",
    "probability",
    "band",
    "within_capacity",
    "age_years",
    "reason_1",
    "reason_2",
    "reason_3",
    "protective_factors",
    "data_freshness",
    "status",
    "previous_rank",
    "previous_probability",
    "dropped_reason",
)
MSG_AFTER_END = "--as-of {as_of} is after the data ends ({end}); nothing would be visible later"
MSG_BEFORE_START = "--as-of {as_of} is before the data begins ({start}); nothing is on record yet"
MSG_NO_CAPACITY = "no panel capacity for {la} (set VRU_PANEL_CAPACITY)"
MSG_NOT_PANEL_FOLDER = (
    "--out {path} holds files that are not a panel run (no {manifest} from vru score); "
    "choose an empty or new folder"
)
MSG_REFUSED = (
    "{name} version {version} has fairness verdict '{verdict}': scores are refused until it "
    "passes the fairness gate or a named approver overrides a failure"
)


class BatchError(ValueError):
    """Input the batch cannot use; the message is one line naming the problem."""


@dataclass(frozen=True)
class PanelModel:
    """A registered model version with its fairness verdict."""

    outcome: str
    model: Any  # models.risk_model.RiskModel (kept loose: loaded through MLflow)
    name: str
    version: str
    verdict: str

    def threshold(self) -> float:
        """Lower edge of the ``high`` band: everyone at or above it is listed."""
        for band in self.model.bundle.bands:
            if band.name == THRESHOLD_BAND:
                return float(band.lower)
        raise BatchError(f"{self.name} version {self.version} has no '{THRESHOLD_BAND}' band")

    def base_rate(self) -> float:
        """Observed rate of the outcome on the model's calibration slice."""
        bands = self.model.bundle.bands
        people = sum(b.people for b in bands)
        return sum(b.involved for b in bands) / people if people else 0.0


@dataclass
class Manifest:
    """What a run used and produced (written as ``manifest.json``)."""

    as_of: str
    data_dir: str
    data_fingerprint: str
    data_end: str
    outcomes: list[str]
    models: dict[str, dict[str, object]]
    capacity: dict[str, int]
    people_scored: int
    counts: dict[str, dict[str, dict[str, int]]]
    durations: dict[str, float]
    files: list[str]
    baseline_as_of: str | None
    out_dir: str
    mlflow_run_id: str | None = None
    written_at: str = ""
    stage: str = STAGE_TAG
    note: str = "synthetic data only; every list is a prompt for professional review"
    packs: dict[str, str] = field(default_factory=dict)

    def to_dict(self) -> dict[str, object]:
        return asdict(self)

    def write(self, folder: Path) -> Path:
        path = folder / MANIFEST
        path.write_text(json.dumps(self.to_dict(), indent=2, sort_keys=True) + "\n")
        return path


def slug(local_authority: str) -> str:
    """File-name form of a local authority: ``bath_and_north_east_somerset``."""
    return re.sub(r"[^a-z0-9]+", "_", local_authority.lower()).strip("_")


def check_out_dir(out_dir: Path) -> None:
    """Refuse an output folder that holds something other than a previous panel run."""
    if out_dir.exists() and not out_dir.is_dir():
        raise BatchError(f"--out {out_dir} is a file, not a folder")
    if out_dir.is_dir() and any(out_dir.iterdir()) and not (out_dir / MANIFEST).is_file():
        raise BatchError(MSG_NOT_PANEL_FOLDER.format(path=out_dir, manifest=MANIFEST))


def check_releasable(models: Mapping[str, PanelModel]) -> None:
    """Refuse any model version whose fairness verdict does not allow release."""
    from fairness.status import RELEASABLE

    for panel_model in models.values():
        if panel_model.verdict not in RELEASABLE:
            raise BatchError(
                MSG_REFUSED.format(
                    name=panel_model.name,
                    version=panel_model.version,
                    verdict=panel_model.verdict,
                )
            )


# ---------------------------------------------------------------- selection


def rank_and_select(
    scored: pd.DataFrame, capacity: Mapping[str, int], threshold: float
) -> pd.DataFrame:
    """Rank each local authority's residents and keep those the panel should see.

    Parameters
    ----------
    scored
        One row per person with ``person_id``, ``local_authority`` and ``probability``.
    capacity
        Young people each local authority's panel can review.
    threshold
        Probability at or above which a person is listed even beyond capacity.

    Returns
    -------
    The listed rows with ``rank`` (1 = highest estimate; ties broken by
    ``person_id`` so runs are reproducible) and ``within_capacity``.
    """
    missing = sorted(set(scored["local_authority"].unique()) - set(capacity))
    if missing:
        raise BatchError(MSG_NO_CAPACITY.format(la=missing[0]))
    ordered = scored.sort_values(
        ["local_authority", "probability", "person_id"],
        ascending=[True, False, True],
        kind="mergesort",
    )
    rank = ordered.groupby("local_authority", sort=False).cumcount() + 1
    cap = ordered["local_authority"].map(dict(capacity)).astype(int)
    within = rank <= cap
    keep = within | (ordered["probability"] >= threshold)
    listed = ordered.assign(rank=rank.astype(int), within_capacity=within)[keep.to_numpy()]
    return listed.reset_index(drop=True)


def dropped_reason(
    local_authority: str,
    previous_probability: float,
    now: Mapping[Any, Any] | None,
    person: Mapping[Any, Any] | None,
    as_of: dt.date,
) -> str:
    """Why someone on the previous list is not on this one.

    Parameters
    ----------
    local_authority, previous_probability
        Where they were listed and their estimate then.
    now
        Their row on this snapshot (``local_authority``, ``probability``), or
        ``None`` when they are not on it (not resident or not aged 10–24).
    person
        Their row of the raw ``people`` table (``birth_month``, ``moved_out``), or
        ``None`` when the data no longer holds them.
    """
    from features.spine import AGE_MAX_YEARS, months_between

    if now is not None:
        if now["local_authority"] != local_authority:
            return DROPPED_MOVED.format(la=now["local_authority"])
        if float(now["probability"]) < previous_probability:
            return DROPPED_FELL
        return DROPPED_OUTRANKED
    if person is None:
        return DROPPED_GONE
    age = months_between(pd.Timestamp(as_of), pd.Series([person["birth_month"]])).iloc[0]
    if age >= (AGE_MAX_YEARS + 1) * 12:
        return DROPPED_AGED_OUT
    moved_out = person["moved_out"]
    if not pd.isna(moved_out) and pd.Timestamp(moved_out) <= pd.Timestamp(as_of):
        return DROPPED_LEFT
    return DROPPED_GONE


# ---------------------------------------------------------------- previous runs


def _read_lists(folder: Path) -> pd.DataFrame:
    frames = [pd.read_parquet(p) for p in sorted(folder.glob("panel_*.parquet"))]
    if not frames:
        return pd.DataFrame(columns=["person_id", "local_authority", "outcome", "rank"])
    lists = pd.concat(frames, ignore_index=True)
    return lists[lists["status"] != STATUS_DROPPED]


def find_baseline(out_dir: Path, as_of: dt.date) -> tuple[str | None, pd.DataFrame]:
    """The latest earlier run in ``out_dir`` (or the one it compared with) and its lists.

    Re-running the same as-of date compares with the same earlier run as before,
    so a repeated command writes identical lists.
    """
    empty = pd.DataFrame(columns=["person_id", "local_authority", "outcome", "rank", "probability"])
    manifest_path = out_dir / MANIFEST
    if not manifest_path.is_file():
        return None, empty
    try:
        manifest = json.loads(manifest_path.read_text())
    except (OSError, ValueError):
        return None, empty
    candidates: list[tuple[str, Callable[[], pd.DataFrame]]] = []
    if manifest.get("as_of"):
        candidates.append((str(manifest["as_of"]), lambda: _read_lists(out_dir)))
    if manifest.get("baseline_as_of") and (out_dir / BASELINE).is_file():
        candidates.append(
            (str(manifest["baseline_as_of"]), lambda: pd.read_parquet(out_dir / BASELINE))
        )
    earlier = [(when, read) for when, read in candidates if when < as_of.isoformat()]
    if not earlier:
        return None, empty
    when, read = max(earlier, key=lambda c: c[0])
    rows = read()
    return when, rows[[c for c in empty.columns if c in rows.columns]].reset_index(drop=True)


# ---------------------------------------------------------------- atomic output


def _exchange(a: Path, b: Path) -> bool:
    """Swap two paths in one atomic step (Linux ``renameat2(RENAME_EXCHANGE)``)."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        renameat2 = libc.renameat2
    except (OSError, AttributeError):
        return False
    at_fdcwd, rename_exchange = -100, 2
    result = renameat2(at_fdcwd, os.fsencode(a), at_fdcwd, os.fsencode(b), rename_exchange)
    return bool(result == 0)


def swap_into_place(staged: Path, out_dir: Path) -> None:
    """Put the staged folder at ``out_dir``; the previous outputs survive any interruption.

    Where the kernel can exchange two folders atomically it does; otherwise the
    old folder is renamed aside first (and restored by the next run if the
    process dies between the two renames).
    """
    if not out_dir.exists():
        staged.rename(out_dir)
        return
    if _exchange(staged, out_dir):
        shutil.rmtree(staged)
        return
    aside = out_dir.with_name(f".{out_dir.name}.previous-{os.getpid()}")
    out_dir.rename(aside)
    staged.rename(out_dir)
    shutil.rmtree(aside)


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def recover(out_dir: Path) -> None:
    """Tidy what an interrupted run left beside ``out_dir`` (never the outputs themselves)."""
    parent = out_dir.parent
    if not parent.is_dir():
        return
    for leftover in parent.glob(f".{out_dir.name}.*-*"):
        kind, _, pid = leftover.name.rpartition("-")
        if not pid.isdigit() or _pid_alive(int(pid)):
            continue
        if kind.endswith(".previous") and not out_dir.exists():
            leftover.rename(out_dir)  # died between the two renames: put the old run back
        elif kind.endswith((".partial", ".previous")):
            shutil.rmtree(leftover, ignore_errors=True)


@contextlib.contextmanager
def staging(out_dir: Path) -> Iterator[Path]:
    """A fresh folder beside ``out_dir``, removed unless it was swapped into place."""
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    staged = out_dir.with_name(f".{out_dir.name}.partial-{os.getpid()}")
    shutil.rmtree(staged, ignore_errors=True)
    staged.mkdir()
    try:
        yield staged
    finally:
        shutil.rmtree(staged, ignore_errors=True)


# ---------------------------------------------------------------- the run


def _freshness_text(fresh: Mapping[str, dt.date]) -> str:
    return "; ".join(f"{SOURCE_TITLES.get(k, k)} to {v.isoformat()}" for k, v in fresh.items())


def _list_rows(
    listed: pd.DataFrame, explanations: Sequence[Explanation], freshness: str
) -> pd.DataFrame:
    reasons = [[r.sentence for r in e.reasons[:REASONS_IN_LIST]] for e in explanations]
    padded = [r + [""] * (REASONS_IN_LIST - len(r)) for r in reasons]
    return pd.DataFrame(
        {
            "rank": listed["rank"].astype("Int64").to_numpy(),
            "person_id": listed["person_id"].astype(str).to_numpy(),
            "local_authority": listed["local_authority"].astype(str).to_numpy(),
            "outcome": listed["outcome"].to_numpy(),
            "probability": listed["probability"].to_numpy(dtype=float),
            "band": listed["band"].astype(str).to_numpy(),
            "within_capacity": listed["within_capacity"].astype(bool).to_numpy(),
            "age_years": listed["age_years"].astype("Int64").to_numpy(),
            "reason_1": [p[0] for p in padded],
            "reason_2": [p[1] for p in padded],
            "reason_3": [p[2] for p in padded],
            "protective_factors": [
                "; ".join(r.sentence for r in e.protective) for e in explanations
            ],
            "data_freshness": freshness,
        }
    )


def _finish_lists(
    current: pd.DataFrame,
    baseline: pd.DataFrame,
    snapshot: pd.DataFrame,
    people: pd.DataFrame,
    as_of: dt.date,
    freshness: str,
) -> pd.DataFrame:
    """Add status and previous rank; append the people who dropped off.

    ``snapshot`` holds every scored row (``outcome, person_id, local_authority,
    probability, band, age_years``); ``people`` is the raw people table.
    """
    key = ["local_authority", "outcome", "person_id"]
    before = baseline.rename(
        columns={"rank": "previous_rank", "probability": "previous_probability"}
    )[[*key, "previous_rank", "previous_probability"]]
    before = before.astype({"person_id": str, "local_authority": str, "outcome": str})
    gone_ids = set(before["person_id"])
    in_snapshot = snapshot[snapshot["person_id"].isin(gone_ids)]
    now_rows = {(r["outcome"], r["person_id"]): r for r in in_snapshot.to_dict("records")}
    in_people = people[people["person_id"].isin(gone_ids)]
    people_rows = {str(r["person_id"]): r for r in in_people.to_dict("records")}
    merged = current.merge(before, on=key, how="left", validate="one_to_one")
    merged["status"] = np.where(merged["previous_rank"].isna(), STATUS_NEW, STATUS_STILL)
    merged["dropped_reason"] = ""
    now_keys = set(map(tuple, current[key].to_numpy().tolist()))
    gone = before[[tuple(k) not in now_keys for k in before[key].to_numpy().tolist()]]
    dropped_rows = []
    for row in gone.to_dict("records"):
        now = now_rows.get((row["outcome"], row["person_id"]))
        person_id = str(row["person_id"])
        reason = dropped_reason(
            str(row["local_authority"]),
            float(row["previous_probability"]),
            now,
            people_rows.get(person_id),
            as_of,
        )
        dropped_rows.append(
            {
                "rank": pd.NA,
                "person_id": person_id,
                "local_authority": row["local_authority"],
                "outcome": row["outcome"],
                "probability": np.nan if now is None else now["probability"],
                "band": "" if now is None else now["band"],
                "within_capacity": False,
                "age_years": pd.NA if now is None else now["age_years"],
                "reason_1": "",
                "reason_2": "",
                "reason_3": "",
                "protective_factors": "",
                "data_freshness": freshness,
                "status": STATUS_DROPPED,
                "previous_rank": row["previous_rank"],
                "previous_probability": row["previous_probability"],
                "dropped_reason": reason,
            }
        )
    if dropped_rows:
        merged = pd.concat([merged, pd.DataFrame(dropped_rows)], ignore_index=True)
    merged["rank"] = merged["rank"].astype("Int64")
    merged["previous_rank"] = merged["previous_rank"].astype("Int64")
    merged["age_years"] = merged["age_years"].astype("Int64")
    merged["probability"] = merged["probability"].astype(float)
    merged["previous_probability"] = merged["previous_probability"].astype(float)
    merged["within_capacity"] = merged["within_capacity"].astype(bool)
    return merged[list(LIST_COLUMNS)]


def _sort_lists(lists: pd.DataFrame, outcomes: Sequence[str]) -> pd.DataFrame:
    order = {o: i for i, o in enumerate(outcomes)}
    return (
        lists.assign(
            _o=lists["outcome"].map(order),
            _dropped=lists["status"] == STATUS_DROPPED,
            _r=lists["rank"].fillna(lists["previous_rank"]).astype(float),
        )
        .sort_values(["local_authority", "_o", "_dropped", "_r", "person_id"], kind="mergesort")
        .drop(columns=["_o", "_dropped", "_r"])
        .reset_index(drop=True)
    )


def write_list(frame: pd.DataFrame, folder: Path, stem: str) -> list[Path]:
    """The list as CSV (probabilities to 6 decimals, stable bytes) and Parquet."""
    from features.registry import AUDIT_ONLY

    leaked = [c for c in frame.columns if c in AUDIT_ONLY and c != "local_authority"]
    if leaked:  # a programming error, never a user error
        raise AssertionError(f"audit-only columns in a panel list: {leaked}")
    csv = folder / f"{stem}.csv"
    frame.to_csv(csv, index=False, float_format="%.6f", lineterminator="\n")
    parquet = folder / f"{stem}.parquet"
    frame.to_parquet(parquet, index=False, compression="zstd")
    return [csv, parquet]


def score_panels(
    data_dir: Path,
    as_of: dt.date,
    out_dir: Path,
    models: Mapping[str, PanelModel],
    capacity: Mapping[str, int],
    *,
    tracking_uri: str | None = None,
    experiment: str = "vru-risk",
    artifact_dir: Path | None = None,
    progress: Callable[[str, int, int], None] | None = None,
    pause_before_swap: float = 0.0,
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
    tracking_uri, experiment, artifact_dir
        Where the scoring run is logged (nothing is logged without ``tracking_uri``).
    progress
        Called as ``progress(stage, done, total)``; stages are :data:`STAGES`.
    pause_before_swap
        Seconds to wait with everything staged, before the swap (tests use it to
        interrupt a run at a known point).

    Raises
    ------
    BatchError, features.schemas.ContractError
        Bad input (one-line message); nothing is written.
    """
    from features.build import build_feature_table, source_freshness, to_frame
    from features.schemas import EVENT_TABLES, data_end, load_raw
    from serving.panel import render_pack
    from training.tracking import data_fingerprint

    say = progress or (lambda stage, done, total: None)
    durations: dict[str, float] = {}
    clock = time.perf_counter()

    def lap(stage: str) -> None:
        nonlocal clock
        now = time.perf_counter()
        durations[stage] = round(now - clock, 3)
        clock = now

    check_out_dir(out_dir)
    check_releasable(models)
    outcomes = list(models)

    say(STAGES[0], 0, 1)
    tables = load_raw(data_dir)
    end = data_end(tables)
    start = min(pd.Timestamp(tables[t]["recorded_date"].min()) for t in EVENT_TABLES).date()
    if as_of > end:
        raise BatchError(MSG_AFTER_END.format(as_of=as_of, end=end))
    if as_of <= start:
        raise BatchError(MSG_BEFORE_START.format(as_of=as_of, start=start))
    fingerprint = data_fingerprint(data_dir)
    people = tables["people"]
    say(STAGES[0], 1, 1)
    lap(STAGES[0])

    say(STAGES[1], 0, 4)
    frame = to_frame(
        build_feature_table(
            tables, [as_of], end, progress=lambda done, total, _: say(STAGES[1], done, total)
        )
    )
    if frame.empty:
        raise BatchError(f"nobody aged 10–24 is resident on {as_of}")
    frame = frame.sort_values("person_id", kind="mergesort").reset_index(drop=True)
    fresh = source_freshness(tables, as_of)
    freshness = _freshness_text(fresh)
    lap(STAGES[1])

    say(STAGES[2], 0, len(outcomes))
    scored_parts, listed_parts = [], []
    for i, outcome in enumerate(outcomes):
        panel_model = models[outcome]
        try:
            scores = panel_model.model.predict(None, frame)
        except KeyError as exc:
            raise BatchError(f"{panel_model.name}: {exc.args[0]}") from None
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
        listed = rank_and_select(scored, capacity, panel_model.threshold())
        listed_parts.append(listed)
        say(STAGES[2], i + 1, len(outcomes))
    snapshot = pd.concat(scored_parts, ignore_index=True)
    lap(STAGES[2])

    say(STAGES[3], 0, len(outcomes))
    current_parts = []
    explained: dict[tuple[str, str], Explanation] = {}
    by_person = frame.set_index("person_id", drop=False)
    for i, outcome in enumerate(outcomes):
        listed = listed_parts[i]
        rows = by_person.loc[listed["person_id"].to_numpy()]
        explanations = models[outcome].model.explain(rows, top_k=5, data_as_of=fresh)
        for person, explanation in zip(listed["person_id"], explanations, strict=True):
            explained[(outcome, person)] = explanation
        current_parts.append(_list_rows(listed, explanations, freshness))
        say(STAGES[3], i + 1, len(outcomes))
    current = pd.concat(current_parts, ignore_index=True)
    recover(out_dir)  # first, so that a folder set aside by a dead run is the baseline
    baseline_as_of, baseline = find_baseline(out_dir, as_of)
    baseline = baseline[baseline["outcome"].isin(outcomes)]
    lists = _sort_lists(
        _finish_lists(current, baseline, snapshot, people, as_of, freshness), outcomes
    )
    lap(STAGES[3])

    authorities = sorted(capacity)
    say(STAGES[4], 0, len(authorities))
    counts: dict[str, dict[str, dict[str, int]]] = {}
    files: list[str] = []
    packs: dict[str, str] = {}
    with staging(out_dir) as staged:
        for k, la in enumerate(authorities):
            mine = lists[lists["local_authority"] == la].reset_index(drop=True)
            stem = f"panel_{slug(la)}"
            files += [p.name for p in write_list(mine, staged, stem)]
            counts[la] = {
                outcome: _counts(mine[mine["outcome"] == outcome], snapshot, la, outcome)
                for outcome in outcomes
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
                counts=counts[la],
            )
            (staged / f"{stem}.html").write_text(html, encoding="utf-8")
            files.append(f"{stem}.html")
            packs[la] = str(out_dir / f"{stem}.html")
            say(STAGES[4], k + 1, len(authorities))
        if not baseline.empty:
            baseline.to_parquet(staged / BASELINE, index=False)
            files.append(BASELINE)
        lap(STAGES[4])
        manifest = Manifest(
            as_of=as_of.isoformat(),
            data_dir=str(data_dir),
            data_fingerprint=fingerprint,
            data_end=end.isoformat(),
            outcomes=outcomes,
            models={
                o: {
                    "name": m.name,
                    "version": m.version,
                    "fairness_verdict": m.verdict,
                    "threshold": m.threshold(),
                    "candidate": m.model.bundle.candidate_name,
                }
                for o, m in models.items()
            },
            capacity={la: int(capacity[la]) for la in authorities},
            people_scored=len(frame),
            counts=counts,
            durations=durations,
            files=sorted([*files, MANIFEST]),
            baseline_as_of=baseline_as_of,
            out_dir=str(out_dir),
            packs=packs,
        )
        _publish(
            staged, out_dir, manifest, tracking_uri, experiment, artifact_dir, pause_before_swap
        )
    return manifest


def _counts(mine: pd.DataFrame, snapshot: pd.DataFrame, la: str, outcome: str) -> dict[str, int]:
    listed = mine[mine["status"] != STATUS_DROPPED]
    residents = snapshot[(snapshot["local_authority"] == la) & (snapshot["outcome"] == outcome)]
    return {
        "residents": len(residents),
        "listed": len(listed),
        "within_capacity": int(listed["within_capacity"].sum()),
        "beyond_capacity": int((~listed["within_capacity"]).sum()),
        "new": int((listed["status"] == STATUS_NEW).sum()),
        "still_listed": int((listed["status"] == STATUS_STILL).sum()),
        "dropped_off": int((mine["status"] == STATUS_DROPPED).sum()),
    }


def _publish(
    staged: Path,
    out_dir: Path,
    manifest: Manifest,
    tracking_uri: str | None,
    experiment: str,
    artifact_dir: Path | None,
    pause_before_swap: float,
) -> None:
    """Write the manifest, log the run to MLflow, then swap the outputs into place."""
    began = time.perf_counter()
    if tracking_uri is None:
        manifest.written_at = dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
        manifest.write(staged)
        if pause_before_swap:
            time.sleep(pause_before_swap)
        swap_into_place(staged, out_dir)
        return
    import mlflow

    from training.tracking import configure

    configure(tracking_uri, experiment, artifact_dir or out_dir.parent / "mlartifacts")
    with mlflow.start_run(run_name=f"score-{manifest.as_of}") as run:
        manifest.mlflow_run_id = run.info.run_id
        mlflow.set_tags(
            {
                "vru.stage": STAGE_TAG,
                "as_of": manifest.as_of,
                "data_fingerprint": manifest.data_fingerprint,
                **{f"model.{o}": f"{m['name']}/{m['version']}" for o, m in manifest.models.items()},
                "note": manifest.note,
            }
        )
        mlflow.log_params(
            {
                "as_of": manifest.as_of,
                "outcomes": ",".join(manifest.outcomes),
                "data_dir": manifest.data_dir,
                "out_dir": manifest.out_dir,
                "panel_capacity": json.dumps(manifest.capacity),
                **{f"{o}_version": m["version"] for o, m in manifest.models.items()},
            }
        )
        mlflow.log_metrics(
            {
                "people_scored": manifest.people_scored,
                **{
                    f"listed_{o}": sum(c[o]["listed"] for c in manifest.counts.values())
                    for o in manifest.outcomes
                },
                **{f"seconds_{k.replace(' ', '_')}": v for k, v in manifest.durations.items()},
            }
        )
        for name in sorted(manifest.files):
            if name.endswith(".csv"):
                mlflow.log_artifact(str(staged / name), artifact_path="panels")
        manifest.durations["logging"] = round(time.perf_counter() - began, 3)
        manifest.written_at = dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
        mlflow.log_artifact(str(manifest.write(staged)))
        if pause_before_swap:
            time.sleep(pause_before_swap)
        swap_into_place(staged, out_dir)
