"""`vru score` end to end on a small population: two lists per outcome and authority, only
the people within capacity named anywhere, counts, statuses, packs, atomicity, errors."""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Mapping
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from mlflow import MlflowClient

from features.registry import AUDIT_ONLY
from features.snapshot import data_fingerprint
from features.vocabulary import LISTS
from models.panels import PanelCapacity
from models.registry import RELEASABLE, model_name, release_verdict
from serving.access_log import anchor_path_for, verify_file
from serving.batch.history import (
    DROPPED_AGED_OUT,
    DROPPED_FELL,
    DROPPED_LEFT,
    DROPPED_OTHER_LIST,
    DROPPED_OUTRANKED,
)
from serving.batch.lists import LIST_COLUMNS, STATUS_MOVED, STATUS_NEW, STATUS_STILL, slug
from serving.batch.run import WRITING_PARTS
from tests.batch.conftest import (
    ACCESS_ROWS,
    AUTHORITIES,
    EXPERIMENT,
    FIRST_AS_OF,
    PANEL_CAPACITY,
    SECOND_AS_OF,
    Released,
    TwoRuns,
    score,
)

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("batch")]
AUDIT = [c for c in AUDIT_ONLY if c != "local_authority"]
OUTCOME_KEYS = ("victim", "perpetrator")
#: a person identifier anywhere in a text (the generator's are letters then digits)
TOKEN = re.compile(r"[A-Za-z0-9_]+")


def _lists(folder: Path, suffix: str = "csv") -> pd.DataFrame:
    def read(path: Path) -> pd.DataFrame:
        if suffix == "parquet":
            return pd.read_parquet(path)
        return pd.read_csv(path, dtype={"person_id": str})

    return pd.concat(
        [read(folder / f"panel_{slug(la)}.{suffix}") for la in AUTHORITIES], ignore_index=True
    )


def _named_in(text: str, everyone: set[str]) -> set[str]:
    """The people of ``everyone`` whose identifier appears in ``text``."""
    return set(TOKEN.findall(text)) & everyone


@pytest.fixture(scope="module")
def scores_now(two_runs: TwoRuns) -> pd.DataFrame:
    """Independent scores of everyone on the second as-of date, from the champions, with
    each person's serious-violence record read from the feature columns directly."""
    import datetime as dt

    import mlflow

    from features.build import build_feature_table, to_frame
    from features.schemas import data_end, load_raw

    tables = load_raw(two_runs.released.data_dir)
    when = dt.date.fromisoformat(SECOND_AS_OF)
    frame = to_frame(build_feature_table(tables, [when], data_end(tables)))
    involved = (frame["incidents_all_sv_victim_count"].fillna(0) > 0) | (
        frame["incidents_all_sv_suspect_count"].fillna(0) > 0
    )
    mlflow.set_tracking_uri(two_runs.released.tracking_uri)
    mlflow.set_registry_uri(two_runs.released.tracking_uri)
    parts = []
    for outcome in OUTCOME_KEYS:
        model = mlflow.pyfunc.load_model(
            f"models:/{model_name(outcome)}@champion"
        ).unwrap_python_model()
        scored = model.predict(None, frame)
        parts.append(
            pd.DataFrame(
                {
                    "person_id": frame["person_id"].astype(str),
                    "local_authority": frame["local_authority"].astype(str),
                    "outcome": outcome,
                    "probability": scored["probability"].to_numpy(),
                    "band": scored["band"].astype(str).to_numpy(),
                    "list": np.where(involved.to_numpy(dtype=bool), "known", "early"),
                }
            )
        )
    return pd.concat(parts, ignore_index=True)


def _expected(scores: pd.DataFrame, capacity: PanelCapacity) -> pd.DataFrame:
    """Each list's ``capacity`` highest estimates in its cohort (ties by id), ranked."""
    ordered = scores.sort_values(["probability", "person_id"], ascending=[False, True])
    ordered = ordered.assign(
        rank=ordered.groupby(["local_authority", "outcome", "list"]).cumcount() + 1
    )
    cap = [
        capacity.of(key)[la]
        for la, key in zip(ordered["local_authority"], ordered["list"], strict=True)
    ]
    return ordered[ordered["rank"].to_numpy() <= np.asarray(cap)]


def test_each_list_names_its_capacity_highest_estimates_in_its_own_cohort(
    two_runs: TwoRuns, scores_now: pd.DataFrame
) -> None:
    lists = _lists(two_runs.out)
    assert list(lists.columns) == list(LIST_COLUMNS)
    expected = _expected(scores_now, PANEL_CAPACITY)
    key = ["local_authority", "outcome", "list", "person_id"]
    assert set(map(tuple, lists[key].to_numpy().tolist())) == set(
        map(tuple, expected[key].to_numpy().tolist())
    )
    for la in AUTHORITIES:
        for outcome in OUTCOME_KEYS:
            for name in LISTS:
                group = lists[
                    (lists["local_authority"] == la)
                    & (lists["outcome"] == outcome)
                    & (lists["list"] == name)
                ]
                cohort = scores_now[
                    (scores_now["local_authority"] == la)
                    & (scores_now["outcome"] == outcome)
                    & (scores_now["list"] == name)
                ]
                # both lists, each full to its capacity (or its whole cohort)
                assert len(group) == min(PANEL_CAPACITY.of(name)[la], len(cohort)) > 0
                assert list(group["rank"]) == list(range(1, len(group) + 1))
                assert group["probability"].is_monotonic_decreasing
    # the early list is of young people with no serious-violence record, the known list of
    # those with one (read from the features, not from the list)
    record = scores_now.drop_duplicates("person_id").set_index("person_id")["list"]
    assert (record.loc[lists["person_id"]].to_numpy() == lists["list"].to_numpy()).all()
    assert set(lists["list"]) == {"known", "early"}
    for la in AUTHORITIES:  # each authority's files hold its own people only
        own = pd.read_csv(two_runs.out / f"panel_{slug(la)}.csv", dtype={"person_id": str})
        parquet = pd.read_parquet(two_runs.out / f"panel_{slug(la)}.parquet")
        assert (own["local_authority"] == la).all()
        assert list(parquet["person_id"]) == list(own["person_id"])
        assert list(parquet["list"]) == list(own["list"])


def test_nobody_beyond_capacity_is_named_anywhere(
    two_runs: TwoRuns, scores_now: pd.DataFrame
) -> None:
    everyone = set(scores_now["person_id"]) | set(_lists(two_runs.first)["person_id"])
    lists = _lists(two_runs.out)
    named = set(lists["person_id"])
    assert len(named) < len(everyone) / 10  # so that the checks below can fail
    for la in AUTHORITIES:
        mine = set(lists.loc[lists["local_authority"] == la, "person_id"])
        for suffix in ("csv", "parquet", "html"):
            path = two_runs.out / f"panel_{slug(la)}.{suffix}"
            text = pd.read_parquet(path).to_csv() if suffix == "parquet" else path.read_text()
            assert _named_in(text, everyone) == mine, path.name
    manifest_text = (two_runs.out / "manifest.json").read_text()
    assert not _named_in(manifest_text, everyone)
    # the kept baseline holds only people named again this month
    kept = pd.read_parquet(two_runs.out / "baseline.parquet")
    assert set(kept["person_id"]) <= named
    # MLflow: the artifacts, parameters, tags and metrics of the run
    client = MlflowClient(two_runs.released.tracking_uri, two_runs.released.tracking_uri)
    run_id = json.loads(manifest_text)["mlflow_run_id"]
    folder = Path(client.download_artifacts(run_id, "", str(two_runs.out.parent / "logged")))
    logged = "".join(p.read_text() for p in sorted(folder.rglob("*")) if p.is_file())
    assert _named_in(logged, everyone) == named
    run = client.get_run(run_id)
    meta = json.dumps([run.data.params, run.data.tags, list(run.data.metrics)])
    assert not _named_in(meta, everyone)


def test_counts_beyond_capacity_by_band_add_up(two_runs: TwoRuns, scores_now: pd.DataFrame) -> None:
    counts = json.loads((two_runs.out / "manifest.json").read_text())["counts"]
    lists = _lists(two_runs.out)
    for la in AUTHORITIES:
        for outcome in OUTCOME_KEYS:
            mine = scores_now[
                (scores_now["local_authority"] == la) & (scores_now["outcome"] == outcome)
            ]
            assert counts[la][outcome]["residents"] == len(mine)
            for name in LISTS:
                c = counts[la][outcome][name]
                cohort = mine[mine["list"] == name]
                on_list = lists[
                    (lists["local_authority"] == la)
                    & (lists["outcome"] == outcome)
                    & (lists["list"] == name)
                ]
                assert c["capacity"] == PANEL_CAPACITY.of(name)[la]
                assert c["cohort"] == len(cohort)
                assert c["named"] == len(on_list)
                assert c["beyond_capacity"] == len(cohort) - len(on_list)
                assert sum(c["beyond_capacity_by_band"].values()) == c["beyond_capacity"]
                beyond = cohort[~cohort["person_id"].isin(on_list["person_id"])]
                assert c["beyond_capacity_by_band"] == {
                    band: int((beyond["band"] == band).sum())
                    for band in c["beyond_capacity_by_band"]
                }
                assert c["new"] + c["still_listed"] + c["moved_in"] == c["named"]


def test_status_compares_with_the_previous_month(
    two_runs: TwoRuns, scores_now: pd.DataFrame
) -> None:
    before = _lists(two_runs.first, "parquet")  # full precision: "fell" compares estimates
    assert (before["status"] == STATUS_NEW).all()  # the first run had nothing to compare with
    now = _lists(two_runs.out)
    key = ["local_authority", "outcome", "person_id"]
    was = before.set_index(key)
    listed = now.set_index(key)
    again = listed.index.isin(was.index)
    assert again.any()
    assert (~again).any()
    assert (listed.loc[~again, "status"] == STATUS_NEW).all()
    previous = was.loc[listed.index[again]]
    same_list = listed.loc[again, "list"].to_numpy() == previous["list"].to_numpy()
    still = listed[again][same_list]
    assert (still["status"] == STATUS_STILL).all()
    assert (still["previous_rank"].astype(int) == previous[same_list]["rank"]).all()
    moved = listed[again][~same_list]
    assert (
        moved["status"] == [STATUS_MOVED.format(list=p) for p in previous[~same_list]["list"]]
    ).all()
    assert moved["previous_rank"].isna().all()  # a rank on the other list means nothing here
    # who is no longer named: counted by the list they were on and why, never listed
    counts = json.loads((two_runs.out / "manifest.json").read_text())["counts"]
    gone = was[~was.index.isin(listed.index)].reset_index()
    assert len(gone) > 0, "a month later someone should no longer be named"
    current = scores_now.set_index(["outcome", "person_id"])
    for la in AUTHORITIES:
        for outcome in OUTCOME_KEYS:
            for name in LISTS:
                c = counts[la][outcome][name]
                mine = gone[
                    (gone["local_authority"] == la)
                    & (gone["outcome"] == outcome)
                    & (gone["list"] == name)
                ]
                assert c["no_longer_named"] == len(mine)
                assert sum(c["no_longer_named_by_reason"].values()) == len(mine)
                expected: dict[str, int] = {}
                for row in mine.to_dict("records"):
                    reason = _why(current, outcome, str(row["person_id"]), la, name, row)
                    if reason is not None:
                        expected[reason] = expected.get(reason, 0) + 1
                reasons = c["no_longer_named_by_reason"]
                for reason, n in expected.items():  # reasons decided from this month's scores
                    assert reasons.get(reason) == n, (la, outcome, name, reasons)
                others = {r: n for r, n in reasons.items() if r not in expected}
                assert set(others) <= {DROPPED_AGED_OUT, DROPPED_LEFT, "no longer in the data"}


def _why(
    current: pd.DataFrame, outcome: str, person: str, la: str, name: str, row: Mapping[Any, Any]
) -> str | None:
    """Why someone named last month is not named now, from this month's scores (``None``
    when they are not on this month's snapshot)."""
    if (outcome, person) not in current.index:
        return None
    now: Any = current.loc[(outcome, person)]
    if now["local_authority"] != la:
        return f"moved to {now['local_authority']}"
    if now["list"] != name:
        return DROPPED_OTHER_LIST.format(list=now["list"])
    return DROPPED_FELL if now["probability"] < row["probability"] else DROPPED_OUTRANKED


class _Pack(HTMLParser):
    """Collects the cards, each outcome on them, the agenda rows and list sections (data
    attributes) and the text of a pack."""

    def __init__(self) -> None:
        super().__init__()
        self.cards: list[dict[str, str | None]] = []
        self.blocks: list[dict[str, str | None]] = []
        self.agenda: list[dict[str, str | None]] = []
        self.sections: list[str | None] = []
        self.lists: list[tuple[str | None, str | None]] = []
        self.text: list[str] = []
        self.headers: list[str] = []
        self._in_th = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        found = dict(attrs)
        classes = found.get("class") or ""
        if tag == "article" and "card" in classes:
            self.cards.append(found)
        if tag == "div" and "outcome-card" in classes:
            self.blocks.append({**found, "card": self.cards[-1].get("data-person")})
        if tag == "tr" and "data-number" in found:
            self.agenda.append(found)
        if tag == "section" and "outcome" in classes.split():
            self.sections.append(found.get("data-outcome"))
        if tag == "section" and "list" in classes.split():
            self.lists.append((found.get("data-outcome"), found.get("data-list")))
        self._in_th = tag == "th"

    def handle_endtag(self, tag: str) -> None:
        if tag == "th":
            self._in_th = False

    def handle_data(self, data: str) -> None:
        self.text.append(data)
        if self._in_th:
            self.headers.append(data.strip())


def test_packs_have_two_lists_per_outcome_with_one_card_per_named_person(
    two_runs: TwoRuns,
) -> None:
    lists = _lists(two_runs.out)
    manifest = json.loads((two_runs.out / "manifest.json").read_text())
    verdicts = {manifest["models"][o]["fairness_verdict"] for o in OUTCOME_KEYS}
    for la in AUTHORITIES:
        html = (two_runs.out / f"panel_{slug(la)}.html").read_text()
        pack = _Pack()
        pack.feed(html)
        assert pack.sections == list(OUTCOME_KEYS)
        assert pack.lists == [(o, name) for o in OUTCOME_KEYS for name in LISTS]
        mine = lists[lists["local_authority"] == la]
        expected = [
            (o, name, p, str(r), s)
            for o, name, p, r, s in mine[
                ["outcome", "list", "person_id", "rank", "status"]
            ].itertuples(index=False)
        ]
        got = [
            (b["data-outcome"], b["data-list"], b["card"], b["data-rank"], b["data-status"])
            for b in pack.blocks
            if b.get("data-list")
        ]
        assert sorted(got) == sorted(expected)
        # one card per young person, both outcomes on each, in the agenda's order
        people = [c["data-person"] for c in pack.cards]
        assert len(people) == len(set(people)) == mine["person_id"].nunique()
        assert [a["data-person"] for a in pack.agenda] == people
        assert [c["data-number"] for c in pack.cards] == [str(i + 1) for i in range(len(people))]
        assert len(pack.blocks) == len(OUTCOME_KEYS) * len(people)
        # the agenda takes the known list's young people first
        order = [c["data-list"] for c in pack.cards]
        assert order == sorted(order, key=list(LISTS).index)
        text = " ".join(" ".join(pack.text).split())
        for name in LISTS:  # each list with its title and what it is for: in the opening
            # words, then in the agenda and under each outcome
            assert text.count(LISTS[name].list_title) >= 2 + len(OUTCOME_KEYS)
            assert text.count(LISTS[name].purpose) == 1
        assert "prompt for professional review" in text
        assert "Fairness check" in text
        for verdict in verdicts:  # each outcome's verdict, as released: a pass, or a warning
            assert (
                "passed (this version's result"
                if verdict == "pass"
                else "Warning: this version did not pass the fairness check"
            ) in text
        assert "OFFICIAL-SENSITIVE" in text
        assert "log-odds" not in html
        assert "lightgbm" not in html.lower()
        for outcome in OUTCOME_KEYS:
            for name in LISTS:
                c = manifest["counts"][la][outcome][name]
                beyond = f"{c['beyond_capacity']:,} more young people in this cohort"
                assert beyond in text
                for reason in c["no_longer_named_by_reason"]:
                    assert reason in text  # why people are no longer named, counted
        assert "VRU_PANEL_CAPACITY=" in text  # how to raise a list's capacity
        # no audit-only column anywhere: not as a header, not as a word
        assert not set(pack.headers) & set(AUDIT_ONLY)
        for column in AUDIT:
            assert not re.search(rf"\b{column}\b", html, flags=re.IGNORECASE), column
        assert "ethnic" not in html.lower()


def test_every_output_is_readable_by_its_owner_alone(two_runs: TwoRuns) -> None:
    """Issue 21, finding 4: lists, packs and Parquet were 0644 (every local user could read
    who is on a panel list). The folder is 0700 and every file 0600, whatever the umask."""
    import stat

    assert stat.S_IMODE(two_runs.out.stat().st_mode) == 0o700
    files = [p for p in two_runs.out.rglob("*") if p.is_file()]
    assert len(files) > 10
    assert {p.suffix for p in files} >= {".csv", ".parquet", ".html", ".json"}
    loose = {p.name: oct(stat.S_IMODE(p.stat().st_mode)) for p in files
             if stat.S_IMODE(p.stat().st_mode) != 0o600}  # fmt: skip
    assert not loose


def test_lists_hold_no_audit_only_column(two_runs: TwoRuns) -> None:
    for la in AUTHORITIES:
        for suffix in ("csv", "parquet"):
            path = two_runs.out / f"panel_{slug(la)}.{suffix}"
            frame = pd.read_csv(path) if suffix == "csv" else pd.read_parquet(path)
            assert not set(frame.columns) & set(AUDIT)


def test_manifest_mlflow_run_and_summary(two_runs: TwoRuns) -> None:
    manifest = json.loads((two_runs.out / "manifest.json").read_text())
    released = two_runs.released
    assert manifest["as_of"] == SECOND_AS_OF
    assert manifest["baseline_as_of"] == FIRST_AS_OF
    assert manifest["data_fingerprint"] == data_fingerprint(released.data_dir)
    assert manifest["capacity"] == PANEL_CAPACITY.as_dict()
    assert set(manifest["durations"]) >= {"loading data", "building features", "scoring"}
    # the writing stage's parts, each timed (they fall within the stage's own time)
    assert set(manifest["writing_parts"]) == set(WRITING_PARTS)
    parts = sum(manifest["writing_parts"].values())
    assert 0 < parts <= manifest["durations"]["writing packs"] + 0.01  # each rounded to 1 ms
    client = MlflowClient(released.tracking_uri, released.tracking_uri)
    for outcome in OUTCOME_KEYS:
        model = manifest["models"][outcome]
        champion = client.get_model_version_by_alias(model_name(outcome), "champion")
        assert model["version"] == str(champion.version)
        assert model["fairness_verdict"] == release_verdict(champion.tags)
        assert model["fairness_verdict"] in RELEASABLE
    lists = _lists(two_runs.out)
    run = client.get_run(manifest["mlflow_run_id"])
    for outcome in OUTCOME_KEYS:
        named = {
            name: int(((lists["outcome"] == outcome) & (lists["list"] == name)).sum())
            for name in LISTS
        }
        for la in AUTHORITIES:
            c = manifest["counts"][la][outcome]
            assert c["named"] == c["known"]["named"] + c["early"]["named"]
        for name in LISTS:
            assert run.data.metrics[f"named_{outcome}_{name}"] == named[name]
        # the command's summary: named per list, of everyone scored
        assert (
            f"{outcome}: {named['known']:,} named on known lists, {named['early']:,} on early "
            f"lists, of {manifest['people_scored']:,} scored"
        ) in " ".join(two_runs.second_stdout.split())
    assert run.data.tags["vru.stage"] == "score"
    assert run.data.tags["data_fingerprint"] == manifest["data_fingerprint"]
    assert client.get_experiment(run.info.experiment_id).name == EXPERIMENT
    logged = {a.path for a in client.list_artifacts(run.info.run_id, "panels")}
    assert logged == {f"panels/panel_{slug(la)}.csv" for la in AUTHORITIES}
    assert "manifest.json" in {a.path for a in client.list_artifacts(run.info.run_id)}
    # the run anchored the access log's head: in the manifest, the MLflow run and the
    # anchor file (issue 21: removing rows after a panel run is found)
    anchor = manifest["access_log_anchor"]
    assert (anchor["rows"], anchor["reason"]) == (ACCESS_ROWS, f"panel run {SECOND_AS_OF}")
    assert run.data.tags["access_log_rows"] == str(ACCESS_ROWS)
    assert run.data.tags["access_log_head"] == anchor["head"]
    anchors = anchor_path_for(two_runs.access_log).read_text().splitlines()
    assert [json.loads(a)["reason"] for a in anchors][-2:] == [
        f"panel run {FIRST_AS_OF}",
        f"panel run {SECOND_AS_OF}",
    ]
    assert verify_file(two_runs.access_log).ok
    for la in AUTHORITIES:  # the command prints where every pack is
        assert str(two_runs.out / f"panel_{slug(la)}.html") in two_runs.second_stdout


def test_a_list_with_no_places_names_nobody_and_says_so_kindly(
    two_runs: TwoRuns, tmp_path: Path
) -> None:
    capacity = {"Bristol": {"known": 3, "early": 0}, "Somerset": {"known": 0, "early": 2}}
    out = tmp_path / "panels"
    code, _, stderr = score(
        two_runs.released,
        out,
        SECOND_AS_OF,
        "--outcome",
        "victim",
        env={"VRU_PANEL_CAPACITY": json.dumps(capacity)},
    )
    assert code == 0, stderr
    lists = _lists(out)
    counts = json.loads((out / "manifest.json").read_text())["counts"]
    for la, places in capacity.items():
        mine = lists[lists["local_authority"] == la]
        for name, n in places.items():
            assert (mine["list"] == name).sum() == n
            c = counts[la]["victim"][name]
            assert c["named"] == n
            assert c["beyond_capacity"] == c["cohort"] - n > 0
        html = (out / f"panel_{slug(la)}.html").read_text()
        pack = _Pack()
        pack.feed(html)
        empty = next(name for name, n in places.items() if n == 0)
        assert {c["data-list"] for c in pack.cards} == set(LISTS) - {empty}
        text = " ".join(" ".join(pack.text).split())
        assert "This list has no places this month (its capacity is 0)" in text
        assert "not about these young people" in text
    # other authorities keep the default capacities
    assert counts["North Somerset"]["victim"]["early"]["named"] == 20


#: the refusals of a bad VRU_PANEL_CAPACITY, as the settings give them
BAD_CAPACITY = {
    "negative capacity": (
        '{"Bristol": {"early": -5}}',
        "the early-list capacity for Bristol cannot be negative, got -5",
    ),
    "not a whole number": (
        '{"Bristol": 12.5}',
        "the panel capacity for Bristol must be a whole number of young people, got 12.5",
    ),
    "unknown authority": (
        '{"Gotham": 10}',
        "panel capacity names an unknown local authority 'Gotham'",
    ),
}


#: ``vru score`` with a hook that holds the run once everything is staged, before the swap
#: (``score_panels`` takes the hook; the command passes none, so the program adds it)
PAUSED_SCORE = """
import functools, sys, time
import serving.batch
from vru.cli import app

serving.batch.score_panels = functools.partial(
    serving.batch.score_panels, before_swap=lambda: time.sleep(120)
)
app(sys.argv[1:], prog_name="vru")
"""


def test_interrupted_run_leaves_outputs_intact_and_rerun_is_identical(
    two_runs: TwoRuns, tmp_path: Path
) -> None:
    out = tmp_path / "panels"
    shutil.copytree(two_runs.out, out)
    before = {p.name: p.read_bytes() for p in out.iterdir()}
    env = {**os.environ, **two_runs.released.env()}
    args = ["score", "--data", str(two_runs.released.data_dir), "--as-of", SECOND_AS_OF]
    log = (tmp_path / "score.log").open("w")
    process = subprocess.Popen(
        [sys.executable, "-c", PAUSED_SCORE, *args, "--out", str(out)],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    staged = tmp_path / f".panels.partial-{process.pid}"
    deadline = time.monotonic() + 240
    while not (staged / "manifest.json").exists():
        assert process.poll() is None, (tmp_path / "score.log").read_text()
        assert time.monotonic() < deadline, "the run never reached the swap"
        time.sleep(0.2)
    process.send_signal(signal.SIGKILL)  # everything staged, nothing swapped yet
    process.wait(timeout=30)
    log.close()
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before
    assert staged.exists()  # the dead run's staging folder

    # the same command again: byte-identical lists and packs, and the leftover is tidied
    code, _, stderr = score(two_runs.released, out, SECOND_AS_OF)
    assert code == 0, stderr
    for name, content in before.items():
        if name != "manifest.json":
            assert (out / name).read_bytes() == content, name
    assert not staged.exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["panels", "score.log"]


@pytest.fixture(scope="module")
def unreleased_version(two_runs: TwoRuns) -> str:
    """A second registered version of the victim model that failed the gate (recorded
    through the registry gateway, so the release ledger holds the verdict)."""
    from models.registry import Registry

    uri = two_runs.released.tracking_uri
    client = MlflowClient(uri, uri)
    champion = client.get_model_version_by_alias(model_name("victim"), "champion")
    version = str(
        client.create_model_version(
            model_name("victim"), str(champion.source), run_id=champion.run_id
        ).version
    )
    registry = Registry(uri)
    registry.register("victim", version, {})
    registry.set_tags("victim", version, {"fairness_gate": "fail"})
    return version


@pytest.fixture(scope="module")
def stamped_version(two_runs: TwoRuns) -> str:
    """A version registered around vru, with a verdict stamped as a tag (issue 21, finding
    10: the ledger has no entry for it, so nothing may load it)."""
    uri = two_runs.released.tracking_uri
    client = MlflowClient(uri, uri)
    champion = client.get_model_version_by_alias(model_name("victim"), "champion")
    version = client.create_model_version(
        model_name("victim"),
        str(champion.source),
        run_id=champion.run_id,
        tags={"fairness_gate": "pass"},
    )
    return str(version.version)


def _broken_data(released: Released, tmp_path: Path) -> Path:
    broken = tmp_path / "broken"
    shutil.copytree(released.data_dir / "raw", broken / "raw")
    people = pd.read_parquet(broken / "raw" / "people.parquet")
    people.drop(columns=["birth_month"]).to_parquet(broken / "raw" / "people.parquet")
    return broken


@pytest.mark.parametrize(
    ("case", "message"),
    [
        ("missing table", "people"),
        ("contract failure", "input refused"),
        ("as-of after the data", "is after the data ends"),
        ("as-of before the data", "is before the data begins"),
        ("no champion", "cannot load vru-victim@champion"),
        ("unknown version", "cannot load vru-victim version 99"),
        ("fairness gate failed", "has fairness verdict 'fail'"),
        ("verdict stamped outside vru", "has no entry in the release ledger"),
        ("version for both", "needs one version per outcome"),
        ("bad outcome", "--outcome must be one of victim, perpetrator, both"),
        ("bad date", "not a date"),
        *[(case, f"VRU_PANEL_CAPACITY: {m}") for case, (_, m) in BAD_CAPACITY.items()],
    ],
)
def test_bad_input_is_one_line_exit_2_and_nothing_written(
    two_runs: TwoRuns,
    unreleased_version: str,
    stamped_version: str,
    tmp_path: Path,
    case: str,
    message: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    released = two_runs.released
    data = released.data_dir
    as_of, extra = SECOND_AS_OF, ["--outcome", "victim"]
    if case == "missing table":
        data = tmp_path / "partial"
        shutil.copytree(released.data_dir / "raw", data / "raw")
        (data / "raw" / "people.parquet").unlink()
    elif case == "contract failure":
        data = _broken_data(released, tmp_path)
    elif case == "as-of after the data":
        as_of = "2031-01-01"
    elif case == "as-of before the data":
        as_of = "2012-01-01"
    elif case == "no champion":
        released = Released(tmp_path, released.data_dir, f"sqlite:///{tmp_path / 'empty.db'}")
    elif case == "unknown version":
        extra += ["--model-version", "99"]
    elif case == "fairness gate failed":
        extra += ["--model-version", unreleased_version]
    elif case == "verdict stamped outside vru":
        extra += ["--model-version", stamped_version]
    elif case == "version for both":
        extra = ["--outcome", "both", "--model-version", "1"]
    elif case == "bad outcome":
        extra = ["--outcome", "witness"]
    elif case == "bad date":
        as_of = "January"
    env = {"VRU_PANEL_CAPACITY": BAD_CAPACITY[case][0]} if case in BAD_CAPACITY else {}
    out = tmp_path / "out" / "panels"
    released = Released(released.root, data, released.tracking_uri)
    client = MlflowClient(released.tracking_uri, released.tracking_uri)
    experiment = client.get_experiment_by_name(EXPERIMENT)
    runs_before = _runs(client, experiment)
    code, stdout, stderr = score(released, out, as_of, *extra, env=env)
    assert code == 2, stdout + stderr
    lines = stderr.strip().splitlines()
    assert len(lines) == 1, stderr
    assert lines[0].startswith("error: ")
    assert message in lines[0]
    assert not (tmp_path / "out").exists()  # no output folder
    assert _runs(client, client.get_experiment_by_name(EXPERIMENT)) == runs_before  # no run


def _runs(client: MlflowClient, experiment: object) -> set[str]:
    if experiment is None:
        return set()
    found = client.search_runs([experiment.experiment_id])  # type: ignore[attr-defined]
    return {r.info.run_id for r in found}


def test_a_folder_of_other_files_is_never_replaced(two_runs: TwoRuns, tmp_path: Path) -> None:
    (tmp_path / "notes.txt").write_text("keep me")
    code, _, stderr = score(two_runs.released, tmp_path, SECOND_AS_OF)
    assert code == 2
    assert "not a panel run" in stderr
    assert [p.name for p in tmp_path.iterdir()] == ["notes.txt"]


def test_cards_say_what_changed_since_the_previous_run_and_packs_what_they_cannot_see(
    two_runs: TwoRuns,
) -> None:
    """The second month's cards say what changed since the first run's as-of date (from
    its manifest); the first month's, with no earlier run, since one month before. Each
    pack says once what the records cannot see; the CSVs gain no column."""
    for folder, since in ((two_runs.first, "2024-11-01"), (two_runs.out, FIRST_AS_OF)):
        for la in AUTHORITIES:
            html = (folder / f"panel_{slug(la)}.html").read_text()
            cards = html.split('<article class="card"')[1:]
            assert cards, la
            changed = [c for c in cards if "What changed since" in c]
            # everyone resident and aged 10–24 a month earlier: nearly every card
            assert len(changed) >= len(cards) // 2, (la, len(changed), len(cards))
            assert all(f"What changed since {since}" in c for c in changed)
            # how the earlier estimate is found, said once; every card points to what the
            # records cannot see from the head of the cards
            assert html.count("records as they stood then") == 1
            head = html[html.index('id="cards"') : html.index('<article class="card"')]
            assert 'href="#coverage"' in head
            assert html.count('id="coverage"') == 1
            assert "None of these records hold: family circumstances" in html
            lists = pd.read_csv(folder / f"panel_{slug(la)}.csv")
            assert list(lists.columns) == list(LIST_COLUMNS)


#: the most pages a Bristol pack at the default places may print to (issue 20: a panel
#: reads it in a one-hour meeting)
MOST_PAGES = 40
#: the agenda MOST_PAGES was set for: the demo's Bristol at the default places (110 young
#: people, 37 pages); a longer agenda may take one more page per card row (three cards)
MOST_PAGES_PEOPLE = 110
CARDS_PER_PAGE = 3
#: A4 in PostScript points
A4 = (595, 842)


def _print_pdf(html: Path, pdf: Path) -> None:
    """Print ``html`` with Debian's Chromium as a user's browser would (its own @page
    size, margins and margin boxes)."""
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if chromium is None:
        pytest.fail("Debian's chromium is not installed (.ci/run installs it)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium, args=["--no-sandbox"])
        try:
            page = browser.new_page()
            page.goto(html.as_uri())
            page.pdf(path=str(pdf), prefer_css_page_size=True)
        finally:
            browser.close()


def test_the_bristol_pack_at_the_default_places_prints_to_a4_within_forty_pages(
    released: Released, tmp_path: Path
) -> None:
    """Issue 20: at the default places (50 known and 20 early per outcome), Bristol's pack
    prints on A4 to at most 40 pages for an agenda the size of the demo's (one more page
    per three young people beyond it), every page marked OFFICIAL-SENSITIVE at its head
    and foot and numbered; the agenda comes first and each young person has one card."""
    import pypdf

    # Bristol at the default places; the other authorities name nobody (quicker: only
    # Bristol's young people are explained)
    places = {
        la: {key: LISTS[key].default_capacity if la == "Bristol" else 0 for key in LISTS}
        for la in AUTHORITIES
    }
    out = tmp_path / "panels"
    code, _, stderr = score(
        released, out, SECOND_AS_OF, env={"VRU_PANEL_CAPACITY": json.dumps(places)}
    )
    assert code == 0, stderr
    html = out / "panel_bristol.html"
    lists = _lists(out)
    people = lists.loc[lists["local_authority"] == "Bristol", "person_id"].nunique()
    # a full agenda: both lists of both outcomes filled (people on two lists counted once)
    assert people > sum(places["Bristol"].values())
    pdf = tmp_path / "bristol.pdf"
    _print_pdf(html, pdf)
    reader = pypdf.PdfReader(pdf)
    pages = [page.extract_text() for page in reader.pages]
    most = MOST_PAGES + max(0, -(-(people - MOST_PAGES_PEOPLE) // CARDS_PER_PAGE))
    assert 3 <= len(pages) <= most, (len(pages), people)
    for number, (page, text) in enumerate(zip(reader.pages, pages, strict=True), start=1):
        width, height = float(page.mediabox.width), float(page.mediabox.height)
        assert (round(width), round(height)) == A4, (width, height)
        assert text.count("OFFICIAL-SENSITIVE") >= 2, number  # header and footer
        assert f"Page {number} of {len(pages)}" in text, number
    whole = " ".join(" ".join(pages).split())
    assert whole.index("Agenda:") < whole.index("One card per young person")
    cards = re.findall(r"#(\d+) — (YP\d+)", whole)
    assert len({person for _, person in cards}) == people == len(cards)


def test_the_agenda_is_measured_against_last_months_agenda(two_runs: TwoRuns) -> None:
    """Issue 20: "new to the agenda" means on no list of the previous run (either outcome,
    either list); the manifest and each pack count who is new, who is there again and
    who left the agenda (named last month on any list, on none now)."""
    first, second = _lists(two_runs.first), _lists(two_runs.out)
    manifest = json.loads((two_runs.out / "manifest.json").read_text())
    for la in AUTHORITIES:
        then = set(first.loc[first["local_authority"] == la, "person_id"])
        now = set(second.loc[second["local_authority"] == la, "person_id"])
        assert manifest["agenda"][la] == {
            "people": len(now),
            "new": len(now - then),
            "again": len(now & then),
            "left": len(then - now),
        }
        pack = _Pack()
        pack.feed((two_runs.out / f"panel_{slug(la)}.html").read_text())
        status = {c["data-person"]: c["data-status"] for c in pack.cards}
        assert {p for p, s in status.items() if s == "new to the agenda"} == now - then
        assert {p for p, s in status.items() if s == "on last month's agenda"} == now & then
        text = " ".join(" ".join(pack.text).split())
        assert f"{len(now - then):,} new to the agenda" in text
    # the first month had no agenda before it
    first_manifest = json.loads((two_runs.first / "manifest.json").read_text())
    assert all(a["new"] == a["people"] for a in first_manifest["agenda"].values())
