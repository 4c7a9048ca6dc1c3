"""The monthly batch obeys a switched-off model version and shows monitoring (vru-risk issue
15): an outcome whose version is switched off gets no list while the other is listed as
usual, each pack says why, and when every outcome asked for is switched off nothing is
written; an amber or red monitoring note is on every pack, a green one on none."""

from __future__ import annotations

import datetime as dt
import json
import shutil
import sqlite3
from dataclasses import dataclass, replace
from pathlib import Path
from urllib.parse import unquote, urlparse

import pandas as pd
import pytest
from markupsafe import escape

from features.vocabulary import OUTCOMES
from models.chain import anchor_path_for, key_path_for
from models.ledger import LEDGER_NAME
from models.registry import CHAMPION, MonitoringNote, Registry, Released, Suspension
from serving.batch import BatchError, check_releasable, score_panels
from serving.batch.lists import STATUS_NEW, slug
from tests.batch.conftest import AUTHORITIES, FIRST_AS_OF, SECOND_AS_OF, score
from tests.batch.conftest import Released as ReleasedPopulation

SUSPENSION = Suspension(
    outcome="victim",
    version="7",
    check="inputs drift",
    figures="PSI 0.41 in Bristol",
    at="2026-12-03T09:00:00+00:00",
    by="vru monitor",
    reason="school inputs moved after the exclusions policy changed",
)
AMBER = "school records for Bristol arrived three weeks late"
SLOW = [pytest.mark.slow, pytest.mark.xdist_group("batch")]


def _released(
    outcome: str, suspension: Suspension | None, verdict: str = "pass", version: str = "7"
) -> Released:
    return Released(
        outcome=outcome,
        name=f"vru-{outcome}",
        version=version,
        verdict=verdict,  # a suspended version keeps its fairness verdict
        model=object(),
        run_id=None,
        tags={},
        suspension=suspension,
    )


def test_a_suspended_version_is_left_out_and_the_other_outcome_listed() -> None:
    suspended = _released("victim", SUSPENSION)
    assert suspended.verdict == "pass"
    assert not suspended.releasable
    both = {"victim": suspended, "perpetrator": _released("perpetrator", None)}
    assert check_releasable(both) == {"victim": SUSPENSION}
    assert check_releasable({"victim": _released("victim", None)}) == {}  # reinstated
    # the other outcome's fairness verdict is still checked
    failed = {"victim": suspended, "perpetrator": _released("perpetrator", None, "fail")}
    with pytest.raises(BatchError, match="vru-perpetrator version 7 has fairness verdict 'fail'"):
        check_releasable(failed)


def test_a_run_of_only_suspended_versions_is_refused_with_each_sentence() -> None:
    with pytest.raises(BatchError) as refused:
        check_releasable({"victim": _released("victim", SUSPENSION)})
    message = str(refused.value)
    assert "\n" not in message
    assert message.startswith("vru-victim version 7 is switched off, so no list is written")
    assert SUSPENSION.words() in message
    assert "switched off on 3 December 2026" in message
    assert "(PSI 0.41 in Bristol)" in message

    other = replace(SUSPENSION, outcome="perpetrator", version="4", check="calibration")
    with pytest.raises(BatchError) as refused:
        check_releasable(
            {
                "victim": _released("victim", SUSPENSION),
                "perpetrator": _released("perpetrator", other, version="4"),
            }
        )
    message = str(refused.value)
    assert "\n" not in message
    assert message.startswith("every model asked for is switched off, so no list is written")
    assert f"vru-victim version 7: {SUSPENSION.words()}" in message
    assert f"vru-perpetrator version 4: {other.words()}" in message


def test_the_batch_writes_nothing_for_a_suspended_model(tmp_path: Path) -> None:
    out = tmp_path / "panels"
    with pytest.raises(BatchError, match="is switched off"):
        score_panels(
            tmp_path / "no-data",
            dt.date(2025, 1, 1),
            out,
            {"victim": _released("victim", SUSPENSION)},
            {"Bristol": 5},
        )
    assert not out.exists()


def _render_pack(monitoring: MonitoringNote | None, **extra: object) -> str:
    """The unit pack of area Y (:func:`tests.batch.test_panel_rules._pack_inputs`), its victim
    version carrying ``monitoring``."""
    from serving.panel import render_pack
    from tests.batch.test_panel_rules import _pack_inputs

    inputs = _pack_inputs()
    models: dict[str, Released] = inputs["models"]  # type: ignore[assignment]
    inputs["models"] = {"victim": replace(models["victim"], monitoring=monitoring)}
    return render_pack(**{**inputs, **extra})  # type: ignore[arg-type]


def test_the_pack_shows_an_amber_note_and_not_a_green_one() -> None:
    note = MonitoringNote("victim", "3", "amber", "2026-12-01", AMBER, "1")
    amber = _render_pack(note)
    assert 'id="monitoring-victim"' in amber
    assert str(escape(note.words())) in amber
    assert "is amber for the month to 1 December 2026" in note.words()
    assert amber.index('id="monitoring-victim"') < amber.index('id="agenda"')  # near the top
    assert "Read the estimates of the risk of being the victim" in amber
    red = _render_pack(replace(note, status="red"))
    assert 'data-status="red"' in red
    unmonitored = _render_pack(None)
    for shown in (replace(note, status="green", summary=""), None):
        html = _render_pack(shown)
        assert 'id="monitoring-victim"' not in html
        assert "Monitoring of the estimate" not in html
        assert html == unmonitored  # green reads exactly as never monitored


def test_the_pack_says_why_a_switched_off_outcome_has_no_list() -> None:
    other = replace(SUSPENSION, outcome="perpetrator", version="4")
    html = _render_pack(None, suspended={"perpetrator": other}, compared=[])
    box = html.index('id="switched-off-perpetrator"')
    assert box < html.index('id="agenda"')
    title = "No list of young people at risk of being involved in serious violence as a suspect"
    assert title in html
    assert str(escape(other.words())) in html
    assert "Use what your services already know about these young people" in html
    # no column, card block or list section for it; the agenda and the about part point up
    assert "Place and band as a suspect" not in html
    assert 'data-outcome="perpetrator" data-list' not in html
    assert 'id="list-perpetrator-' not in html
    assert html.count('href="#switched-off-perpetrator"') == 2
    # the listed outcome's list was not compared: the pack says so rather than "all new"
    assert "Not compared with 2024-12-01: there is no list for this risk from then" in html
    assert "Since 2024-12-01:" not in html
    assert "Not compared with" not in _render_pack(None)


# -- end to end: `vru score` on the session's released population ------------------------


@dataclass(frozen=True)
class Store:
    """A copy of the released population's tracking store and release ledger: suspending a
    version here never reaches the session's store or the other batch tests."""

    registry: Registry
    env: dict[str, str]
    versions: dict[str, str]


@pytest.fixture
def store(released: ReleasedPopulation, tmp_path: Path) -> Store:
    source = Path(unquote(urlparse(released.tracking_uri).path))
    into = tmp_path / "store"
    into.mkdir()
    target = into / "mlflow.db"
    with sqlite3.connect(source) as src, sqlite3.connect(target) as dst:
        src.backup(dst)
    ledger = source.with_name(LEDGER_NAME)
    for path in (ledger, key_path_for(ledger), anchor_path_for(ledger)):
        shutil.copy2(path, into / path.name)
    (into / key_path_for(ledger).name).chmod(0o600)
    uri = f"sqlite:///{target}"
    registry = Registry(uri)
    versions = {o: str(registry.version(o, alias=CHAMPION).version) for o in OUTCOMES}
    env = {"MLFLOW_TRACKING_URI": uri, "VRU_PROJECT_DIR": str(into)}
    return Store(registry, env, versions)


def _lists(out: Path) -> pd.DataFrame:
    return pd.concat(
        [pd.read_csv(out / f"panel_{slug(la)}.csv") for la in AUTHORITIES], ignore_index=True
    )


def _pack(out: Path, la: str = "Bristol") -> str:
    return (out / f"panel_{slug(la)}.html").read_text(encoding="utf-8")


@pytest.mark.slow
@pytest.mark.xdist_group("batch")
def test_one_switched_off_outcome_gets_no_list_and_the_packs_say_why(
    released: ReleasedPopulation, store: Store, tmp_path: Path
) -> None:
    registry, versions = store.registry, store.versions
    suspension = registry.suspend(
        "victim", versions["victim"], check="inputs drift", figures="PSI 0.41 in Bristol",
        by="vru monitor", reason="school inputs moved after the exclusions policy changed",
    )  # fmt: skip
    amber = registry.note_monitoring(
        "perpetrator", versions["perpetrator"], status="amber", as_of=FIRST_AS_OF,
        summary=AMBER, plan="1",
    )  # fmt: skip
    out = tmp_path / "panels"
    code, stdout, stderr = score(released, out, FIRST_AS_OF, "--outcome", "both", env=store.env)
    assert code == 0, stderr
    # one line says which outcome has no list, and why
    said = [line for line in stdout.splitlines() if line.startswith("victim:")]
    assert said == [
        f"victim: no list this month, because its model is switched off. {suspension.words()}"
    ]
    assert "perpetrator: " in stdout
    assert "named on known lists" in " ".join(stdout.split())

    lists = _lists(out)
    assert set(lists["outcome"]) == {"perpetrator"}
    assert len(lists) > 0
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["outcomes"] == ["perpetrator"]
    assert manifest["suspended"] == {"victim": suspension.words()}
    assert set(manifest["models"]) == {"perpetrator"}
    assert all(set(by_outcome) == {"perpetrator"} for by_outcome in manifest["counts"].values())
    assert manifest["monitoring"]["perpetrator"]["status"] == "amber"
    assert manifest["monitoring"]["perpetrator"]["shown"] is True
    assert manifest["monitoring"]["perpetrator"]["words"] == amber.words()
    assert manifest["compared"] == []

    for la in AUTHORITIES:
        html = _pack(out, la)
        # the box near the top: no list for victim, and why, in the suspension's words
        top = html.index('id="switched-off-victim"')
        assert top < html.index('id="agenda"')
        assert "No list of young people at risk of being the victim of serious violence" in html
        assert str(escape(suspension.words())) in html
        assert "the estimates will return when the problem is understood" in html
        # the amber note of the outcome that is listed, near the top too
        assert html.index('id="monitoring-perpetrator"') < html.index('id="agenda"')
        assert str(escape(amber.words())) in html
        # victim is no part of the lists: no card block, no column, no list section
        assert 'data-outcome="victim" data-list' not in html
        assert 'class="outcome-card" data-outcome="victim"' not in html
        assert 'id="list-victim-' not in html
        assert "Place and band as a victim" not in html
        assert 'data-suspended="true"' in html  # the about section points to the box
        named = lists.loc[lists["local_authority"] == la, "person_id"].astype(str)
        for person in named:
            assert f'data-person="{person}"' in html

    # reinstated, with the next month's monitoring green: both lists come back, no box
    registry.reinstate(
        "victim", versions["victim"], approver="S. Owner", reason="drift explained by the policy"
    )
    registry.note_monitoring(
        "perpetrator", versions["perpetrator"], status="green", as_of=SECOND_AS_OF,
        summary="", plan="1",
    )  # fmt: skip
    code, stdout, stderr = score(released, out, SECOND_AS_OF, env=store.env)
    assert code == 0, stderr
    assert not [line for line in stdout.splitlines() if "switched off" in line]
    lists = _lists(out)
    assert set(lists["outcome"]) == {"victim", "perpetrator"}
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["outcomes"] == ["victim", "perpetrator"]
    assert manifest["suspended"] == {}
    assert manifest["monitoring"]["perpetrator"]["shown"] is False
    # last month had no victim list: this one is compared with nothing, and says so
    assert manifest["compared"] == ["perpetrator"]
    victim = lists[lists["outcome"] == "victim"]
    assert (victim["status"] == STATUS_NEW).all()
    assert (lists.loc[lists["outcome"] == "perpetrator", "status"] != STATUS_NEW).any()
    html = _pack(out)
    assert 'id="switched-off-victim"' not in html
    assert 'id="monitoring-perpetrator"' not in html
    assert "Monitoring of the estimate" not in html
    assert f"Not compared with {FIRST_AS_OF}: there is no list for this risk from then" in html
    assert 'class="outcome-card" data-outcome="victim"' in html


@pytest.mark.slow
@pytest.mark.xdist_group("batch")
def test_every_outcome_switched_off_is_refused_and_nothing_written(
    released: ReleasedPopulation, store: Store, tmp_path: Path
) -> None:
    words = [
        store.registry.suspend(
            o, store.versions[o], check="calibration in the large", figures="",
            by="vru monitor", reason=f"the {o} top band promises twice what happened",
        ).words()
        for o in OUTCOMES
    ]  # fmt: skip
    out = tmp_path / "panels"
    code, stdout, stderr = score(released, out, FIRST_AS_OF, env=store.env)
    assert code == 2, stdout + stderr
    lines = stderr.strip().splitlines()
    assert len(lines) == 1, stderr
    assert lines[0].startswith("error: every model asked for is switched off")
    for sentence in words:
        assert sentence in lines[0]
    assert not out.exists()
