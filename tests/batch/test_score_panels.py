"""`vru score` end to end on a small population: lists, statuses, packs, atomicity, errors."""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from html.parser import HTMLParser
from pathlib import Path

import pandas as pd
import pytest
from mlflow import MlflowClient

from features.registry import AUDIT_ONLY
from features.snapshot import data_fingerprint
from models.registry import RELEASABLE, model_name, release_verdict
from serving.batch.history import (
    DROPPED_AGED_OUT,
    DROPPED_FELL,
    DROPPED_LEFT,
    DROPPED_OUTRANKED,
)
from serving.batch.lists import LIST_COLUMNS, STATUS_DROPPED, STATUS_NEW, STATUS_STILL, slug
from tests.batch.conftest import (
    AUTHORITIES,
    CAPACITY,
    EXPERIMENT,
    FIRST_AS_OF,
    SECOND_AS_OF,
    Released,
    TwoRuns,
    score,
)

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("batch")]
AUDIT = [c for c in AUDIT_ONLY if c != "local_authority"]


def _lists(folder: Path) -> pd.DataFrame:
    return pd.concat(
        [
            pd.read_csv(folder / f"panel_{slug(la)}.csv", dtype={"person_id": str})
            for la in AUTHORITIES
        ],
        ignore_index=True,
    )


def _listed(frame: pd.DataFrame) -> pd.DataFrame:
    return frame[frame["status"] != STATUS_DROPPED]


@pytest.fixture(scope="module")
def scores_now(two_runs: TwoRuns) -> pd.DataFrame:
    """Independent scores of everyone on the second as-of date, from the champions."""
    import datetime as dt

    import mlflow

    from features.build import build_feature_table, to_frame
    from features.schemas import data_end, load_raw

    tables = load_raw(two_runs.released.data_dir)
    when = dt.date.fromisoformat(SECOND_AS_OF)
    frame = to_frame(build_feature_table(tables, [when], data_end(tables)))
    mlflow.set_tracking_uri(two_runs.released.tracking_uri)
    mlflow.set_registry_uri(two_runs.released.tracking_uri)
    parts = []
    for outcome in ("victim", "perpetrator"):
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
                }
            )
        )
    return pd.concat(parts, ignore_index=True)


def test_every_listed_person_is_within_capacity_or_above_threshold(
    two_runs: TwoRuns, scores_now: pd.DataFrame
) -> None:
    manifest = json.loads((two_runs.out / "manifest.json").read_text())
    lists = _listed(_lists(two_runs.out))
    assert list(lists.columns) == list(LIST_COLUMNS)
    for (la, outcome), group in lists.groupby(["local_authority", "outcome"]):
        threshold = manifest["models"][outcome]["threshold"]
        assert ((group["rank"] <= CAPACITY[la]) | (group["probability"] >= threshold - 1e-6)).all()
        assert (group["within_capacity"] == (group["rank"] <= CAPACITY[la])).all()
        # ranks are 1..n in order of probability
        ranked = group.sort_values("rank")
        assert list(ranked["rank"]) == list(range(1, len(group) + 1))
        assert ranked["probability"].is_monotonic_decreasing
        # exactly the capacity plus everyone else at or above the threshold, nobody missed
        residents = scores_now[
            (scores_now["local_authority"] == la) & (scores_now["outcome"] == outcome)
        ].sort_values(["probability", "person_id"], ascending=[False, True])
        expected = set(residents["person_id"].head(CAPACITY[la])) | set(
            residents.loc[residents["probability"] >= threshold, "person_id"]
        )
        assert set(group["person_id"]) == expected
    for la in AUTHORITIES:
        mine = _lists(two_runs.out)
        mine = mine[mine["local_authority"] == la]
        own = pd.read_csv(two_runs.out / f"panel_{slug(la)}.csv", dtype={"person_id": str})
        assert (own["local_authority"] == la).all()
        assert len(own) == len(mine)


def test_status_compares_with_the_previous_month(
    two_runs: TwoRuns, scores_now: pd.DataFrame
) -> None:
    before = _listed(_lists(two_runs.first))
    assert (before["status"] == STATUS_NEW).all()  # the first run had nothing to compare with
    now = _lists(two_runs.out)
    key = ["local_authority", "outcome", "person_id"]
    was = before.set_index(key)["rank"]
    listed = _listed(now).set_index(key)
    was_listed = listed.index.isin(was.index)
    assert (listed.loc[was_listed, "status"] == STATUS_STILL).all()
    assert (listed.loc[~was_listed, "status"] == STATUS_NEW).all()
    assert (
        listed.loc[was_listed, "previous_rank"].astype(int) == was.loc[listed.index[was_listed]]
    ).all()
    dropped = now[now["status"] == STATUS_DROPPED].set_index(key)
    assert set(dropped.index) == set(was.index) - set(listed.index)
    assert len(dropped) > 0, "a month later someone should have dropped off"
    assert dropped["rank"].isna().all()
    assert (dropped["previous_rank"].astype(int) == was.loc[dropped.index]).all()
    # the reason given is true of the person
    current = scores_now.set_index(["outcome", "person_id"])
    for (la, outcome, person), row in dropped.iterrows():
        reason = row["dropped_reason"]
        if reason in (DROPPED_FELL, DROPPED_OUTRANKED):
            assert current.loc[(outcome, person), "local_authority"] == la
            fell = current.loc[(outcome, person), "probability"] < row["previous_probability"]
            assert fell == (reason == DROPPED_FELL)
        elif reason.startswith("moved to "):
            assert current.loc[(outcome, person), "local_authority"] == reason[len("moved to ") :]
        else:
            assert reason in (DROPPED_AGED_OUT, DROPPED_LEFT, "no longer in the data")
            assert (outcome, person) not in current.index
    counts = json.loads((two_runs.out / "manifest.json").read_text())["counts"]
    for la in AUTHORITIES:
        for outcome in ("victim", "perpetrator"):
            mine = now[(now["local_authority"] == la) & (now["outcome"] == outcome)]
            assert counts[la][outcome]["dropped_off"] == (mine["status"] == STATUS_DROPPED).sum()
            assert counts[la][outcome]["new"] == (mine["status"] == STATUS_NEW).sum()


class _Pack(HTMLParser):
    """Collects the cards (data attributes) and the visible text of a pack."""

    def __init__(self) -> None:
        super().__init__()
        self.cards: list[dict[str, str | None]] = []
        self.sections: list[str | None] = []
        self.text: list[str] = []
        self.headers: list[str] = []
        self._in_th = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        found = dict(attrs)
        if tag == "article" and "card" in (found.get("class") or ""):
            self.cards.append(found)
        if tag == "section":
            self.sections.append(found.get("data-outcome"))
        self._in_th = tag == "th"

    def handle_endtag(self, tag: str) -> None:
        if tag == "th":
            self._in_th = False

    def handle_data(self, data: str) -> None:
        self.text.append(data)
        if self._in_th:
            self.headers.append(data.strip())


def test_packs_render_one_card_per_person_within_capacity(two_runs: TwoRuns) -> None:
    lists = _lists(two_runs.out)
    models = json.loads((two_runs.out / "manifest.json").read_text())["models"]
    verdicts = {models[o]["fairness_verdict"] for o in ("victim", "perpetrator")}
    for la in AUTHORITIES:
        html = (two_runs.out / f"panel_{slug(la)}.html").read_text()
        pack = _Pack()
        pack.feed(html)
        assert pack.sections == ["victim", "perpetrator"]
        mine = lists[(lists["local_authority"] == la) & lists["within_capacity"]]
        expected = [
            (o, p, str(r), s)
            for o, p, r, s in mine[["outcome", "person_id", "rank", "status"]].itertuples(
                index=False
            )
        ]
        got = [
            (c["data-outcome"], c["data-person"], c["data-rank"], c["data-status"])
            for c in pack.cards
        ]
        assert got == [(o, p, str(int(float(r))), s) for o, p, r, s in expected]
        assert len(pack.cards) == 2 * CAPACITY[la]
        assert html.count("<svg") >= len(pack.cards)  # a contributions chart per card
        text = " ".join(pack.text)
        assert "prompt for professional review" in text
        assert "Fairness verdict" in text
        for verdict in verdicts:  # each outcome's verdict, as released (pass or override)
            assert f"{verdict} (this version's result" in text
        assert "dropped off" in text
        for reason in lists.loc[lists["local_authority"] == la, "dropped_reason"].dropna():
            assert reason in text  # who dropped off and why
        # no audit-only column anywhere: not as a header, not as a word
        assert not set(pack.headers) & set(AUDIT_ONLY)
        for column in AUDIT:
            assert not re.search(rf"\b{column}\b", html, flags=re.IGNORECASE), column
        assert "ethnic" not in html.lower()


def test_lists_hold_no_audit_only_column(two_runs: TwoRuns) -> None:
    for la in AUTHORITIES:
        for suffix in ("csv", "parquet"):
            path = two_runs.out / f"panel_{slug(la)}.{suffix}"
            frame = pd.read_csv(path) if suffix == "csv" else pd.read_parquet(path)
            assert not set(frame.columns) & set(AUDIT)


def test_manifest_and_mlflow_scoring_run(two_runs: TwoRuns) -> None:
    manifest = json.loads((two_runs.out / "manifest.json").read_text())
    released = two_runs.released
    assert manifest["as_of"] == SECOND_AS_OF
    assert manifest["baseline_as_of"] == FIRST_AS_OF
    assert manifest["data_fingerprint"] == data_fingerprint(released.data_dir)
    assert set(manifest["durations"]) >= {"loading data", "building features", "scoring"}
    client = MlflowClient(released.tracking_uri, released.tracking_uri)
    for outcome in ("victim", "perpetrator"):
        model = manifest["models"][outcome]
        champion = client.get_model_version_by_alias(model_name(outcome), "champion")
        assert model["version"] == str(champion.version)
        assert model["fairness_verdict"] == release_verdict(champion.tags)
        assert model["fairness_verdict"] in RELEASABLE
    lists = _listed(_lists(two_runs.out))
    for la in AUTHORITIES:
        for outcome in ("victim", "perpetrator"):
            mine = lists[(lists["local_authority"] == la) & (lists["outcome"] == outcome)]
            assert manifest["counts"][la][outcome]["listed"] == len(mine)
    run = client.get_run(manifest["mlflow_run_id"])
    assert run.data.tags["vru.stage"] == "score"
    assert run.data.tags["data_fingerprint"] == manifest["data_fingerprint"]
    assert client.get_experiment(run.info.experiment_id).name == EXPERIMENT
    logged = {a.path for a in client.list_artifacts(run.info.run_id, "panels")}
    assert logged == {f"panels/panel_{slug(la)}.csv" for la in AUTHORITIES}
    assert "manifest.json" in {a.path for a in client.list_artifacts(run.info.run_id)}
    for la in AUTHORITIES:  # the command prints where every pack is
        assert str(two_runs.out / f"panel_{slug(la)}.html") in two_runs.second_stdout


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
    """A second registered version of the victim model that never passed the gate."""
    client = MlflowClient(two_runs.released.tracking_uri, two_runs.released.tracking_uri)
    champion = client.get_model_version_by_alias(model_name("victim"), "champion")
    version = client.create_model_version(
        model_name("victim"),
        champion.source,
        run_id=champion.run_id,
        tags={"fairness_gate": "fail"},
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
        ("version for both", "needs one version per outcome"),
        ("bad outcome", "--outcome must be one of victim, perpetrator, both"),
        ("bad date", "not a date"),
    ],
)
def test_bad_input_is_one_line_exit_2_and_nothing_written(
    two_runs: TwoRuns,
    unreleased_version: str,
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
    elif case == "version for both":
        extra = ["--outcome", "both", "--model-version", "1"]
    elif case == "bad outcome":
        extra = ["--outcome", "witness"]
    elif case == "bad date":
        as_of = "January"
    out = tmp_path / "out" / "panels"
    released = Released(released.root, data, released.tracking_uri)
    code, stdout, stderr = score(released, out, as_of, *extra)
    assert code == 2, stdout + stderr
    lines = stderr.strip().splitlines()
    assert len(lines) == 1, stderr
    assert lines[0].startswith("error: ")
    assert message in lines[0]
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").iterdir())


def test_a_folder_of_other_files_is_never_replaced(two_runs: TwoRuns, tmp_path: Path) -> None:
    (tmp_path / "notes.txt").write_text("keep me")
    code, _, stderr = score(two_runs.released, tmp_path, SECOND_AS_OF)
    assert code == 2
    assert "not a panel run" in stderr
    assert [p.name for p in tmp_path.iterdir()] == ["notes.txt"]
