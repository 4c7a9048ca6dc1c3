"""A switched-off model version is obeyed by the service (vru-risk issue 15): the running
service answers 503 with the reason within its recheck interval, its page shows a banner
and no explanation, a reinstatement is picked up the same way, and the service refuses to
start on a suspended champion. An amber or red monitoring note is shown on the page (the
service still answers) and carried by each explanation, and goes when it turns green.

The server here runs on a copy of the stack's tracking store and release ledger (and an
access log of its own), so suspending a version never reaches the session's shared server
or the other serving tests.
"""

from __future__ import annotations

import shutil
import sqlite3
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import unquote, urlparse

import httpx
import pandas as pd
import pytest

from features.registry import model_inputs
from features.vocabulary import OUTCOMES
from models.chain import anchor_path_for, key_path_for
from models.ledger import LEDGER_NAME
from models.registry import STATUS_TAG, SUSPENDED, Registry
from serving.startup import CannotStartError, load_champions
from tests.serving.conftest import People
from vru.cli_serve import ServingProcess, serving_process
from vru.serving_stack import ServingStack

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("serving")]
#: the recheck interval the test's server runs with (seconds)
RECHECK = 1
#: how long a change may take to be obeyed: the interval, plus a request's own time
WITHIN = RECHECK + 5.0
REASON = "school inputs moved after the exclusions policy changed"


@dataclass(frozen=True)
class Copy:
    """A server on a copy of the stack's store, and that copy's registry."""

    server: ServingProcess
    registry: Registry
    tracking_uri: str


def _copy_store(stack: ServingStack, into: Path) -> str:
    """The stack's tracking store and release ledger (key, anchors) copied into ``into``;
    the copy's tracking URI (the model artifacts stay where they are, read only)."""
    source = Path(unquote(urlparse(stack.tracking_uri).path))
    into.mkdir(parents=True, exist_ok=True)
    target = into / "mlflow.db"
    with sqlite3.connect(source) as src, sqlite3.connect(target) as dst:
        src.backup(dst)  # consistent even while the shared server reads it
    ledger = source.with_name(LEDGER_NAME)
    for path in (ledger, key_path_for(ledger), anchor_path_for(ledger)):
        shutil.copy2(path, into / path.name)
    (into / key_path_for(ledger).name).chmod(0o600)
    return f"sqlite:///{target}"


@pytest.fixture(scope="module")
def copy(stack: ServingStack, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Copy]:
    root = tmp_path_factory.mktemp("suspension-serving")
    uri = _copy_store(stack, root / "store")
    log = root / "access-log.sqlite"
    variables = {
        **stack.variables(),
        "MLFLOW_TRACKING_URI": uri,
        "VRU_MLFLOW_TRACKING_URI": uri,
        "VRU_ACCESS_LOG_PATH": str(log),
        "VRU_ACCESS_LOG_KEY_PATH": str(key_path_for(log)),
        "VRU_ACCESS_LOG_ANCHOR_PATH": str(anchor_path_for(log)),
        "VRU_STATUS_RECHECK_SECONDS": str(RECHECK),
        "BENTOML_HOME": str(root / "bentoml"),
    }
    with serving_process(variables, log=root / "server.log") as running:
        yield Copy(running, Registry(uri), uri)


def _post(copy: Copy, path: str, body: object, token: str) -> httpx.Response:
    return httpx.post(
        f"{copy.server.url}{path}",
        json=body,
        headers={"Authorization": f"Bearer {token}"},
        timeout=30,
    )


def _until(check: Callable[[], httpx.Response], status: int) -> tuple[httpx.Response, float]:
    """Ask until the answer has ``status`` (or :data:`WITHIN` seconds pass); the last
    answer and the seconds it took."""
    began = time.monotonic()
    while True:
        answer = check()
        took = time.monotonic() - began
        if answer.status_code == status or took > WITHIN:
            return answer, took
        time.sleep(0.2)


def _score_rows(stack: ServingStack) -> list[dict[str, object]]:
    frame = pd.read_parquet(stack.snapshot).head(2)
    rows = frame[model_inputs()].astype(float).to_dict("records")
    return [
        {**{k: (None if pd.isna(v) else v) for k, v in r.items()}, "sex": str(s)}
        for r, s in zip(rows, frame["sex"], strict=True)
    ]


def _page(copy: Copy, token: str) -> httpx.Response:
    with httpx.Client(base_url=copy.server.url, timeout=30) as http:
        signed = http.post("/ui/signin", data={"token": token})
        assert signed.status_code == 303
        return http.get("/ui/explain")


def test_the_running_service_obeys_a_suspension_and_a_reinstatement(
    copy: Copy, stack: ServingStack, people: People
) -> None:
    version = stack.versions["victim"]
    explain = {"person_id": people.flagged_bristol, "purpose": "Safeguarding concern raised"}
    feedback = {
        "person_id": people.flagged_bristol,
        "outcome": "victim",
        "agrees": True,
        "reason_code": "matches professional judgement",
    }
    pat, pia = stack.tokens["pat"], stack.tokens["pia"]
    assert _post(copy, "/explain", explain, pat).status_code == 200
    assert httpx.get(f"{copy.server.url}/readyz").status_code == 200

    copy.registry.suspend(
        "victim", version, check="inputs drift", figures="PSI 0.41 in Bristol",
        by="S. Owner", reason=REASON,
    )  # fmt: skip
    try:
        refused, took = _until(lambda: _post(copy, "/explain", explain, pat), 503)
        assert refused.status_code == 503, refused.text
        assert took <= WITHIN
        assert int(refused.headers["Retry-After"]) >= RECHECK
        message = refused.json()["error"]
        for words in (
            f"model version {version}",
            "switched off on",
            "'inputs drift'",
            "PSI 0.41 in Bristol",
            REASON,
            "switch it back on",
            OUTCOMES["victim"].title,
        ):
            assert words in message, (words, message)  # fmt: skip
        # nothing of the young person is answered on any endpoint, and readiness says so
        score = _post(copy, "/score", {"rows": _score_rows(stack)}, pia)
        assert score.status_code == 503
        assert score.json()["error"] == message
        assert "Retry-After" in score.headers
        noted = _post(copy, "/feedback", feedback, pat)
        assert noted.status_code == 503
        assert noted.json()["error"] == message
        assert httpx.get(f"{copy.server.url}/readyz").status_code == 503
        # the page: the banner with the sentence at the top, no look-up form, no explanation
        page = _page(copy, pat)
        assert page.status_code == 503
        html = page.text
        assert 'id="suspended"' in html
        assert "PSI 0.41 in Bristol" in html
        assert html.index('id="suspended"') < html.index('id="main"') + 200
        assert 'action="/ui/explain"' not in html
        assert "Look up a young person" not in html
        with httpx.Client(base_url=copy.server.url, timeout=30) as http:
            http.post("/ui/signin", data={"token": pat})
            looked = http.post("/ui/explain", data=explain)
        assert looked.status_code == 503
        assert people.flagged_bristol not in looked.text
        assert "switched off" in looked.text
    finally:
        copy.registry.reinstate(
            "victim", version, approver="S. Owner", reason="drift explained by the policy"
        )
    answered, took = _until(lambda: _post(copy, "/explain", explain, pat), 200)
    assert answered.status_code == 200, answered.text
    assert took <= WITHIN
    assert answered.json()["outcomes"]["victim"]["model_version"] == version
    assert httpx.get(f"{copy.server.url}/readyz").status_code == 200
    page = _page(copy, pat)
    assert page.status_code == 200
    assert 'id="suspended"' not in page.text
    assert "Look up a young person" in page.text
    assert copy.registry.ledger.verify().ok


def _until_text(ask: Callable[[], httpx.Response], seen: Callable[[str], bool]) -> httpx.Response:
    """Ask until the answer's text passes ``seen`` (or :data:`WITHIN` seconds pass)."""
    began = time.monotonic()
    while True:
        answer = ask()
        if seen(answer.text) or time.monotonic() - began > WITHIN:
            return answer
        time.sleep(0.2)


def test_an_amber_monitoring_note_is_on_the_page_until_it_is_green(
    copy: Copy, stack: ServingStack, people: People
) -> None:
    version = stack.versions["perpetrator"]
    explain = {"person_id": people.flagged_bristol, "purpose": "Safeguarding concern raised"}
    pat = stack.tokens["pat"]
    note = copy.registry.note_monitoring(
        "perpetrator", version, status="amber", as_of="2026-12-01",
        summary="school records for Bristol arrived three weeks late", plan="1",
    )  # fmt: skip
    try:
        page = _until_text(lambda: _page(copy, pat), lambda text: 'id="monitoring"' in text)
        html = page.text
        assert page.status_code == 200  # a note, not a refusal: the service still answers
        assert 'id="monitoring"' in html, html
        assert note.words() in html
        assert "is amber for the month to 1 December 2026" in html
        assert 'id="suspended"' not in html
        assert html.index('id="monitoring"') < html.index("Look up a young person")
        # the explanation: answered, with the note above it and in the JSON answer
        answer = _post(copy, "/explain", explain, pat)
        assert answer.status_code == 200, answer.text
        outcomes = answer.json()["outcomes"]
        assert outcomes["perpetrator"]["monitoring"] == {
            "status": "amber",
            "as_of": "2026-12-01",
            "words": note.words(),
        }
        assert outcomes["victim"]["monitoring"] is None  # its version was never monitored
        with httpx.Client(base_url=copy.server.url, timeout=30) as http:
            http.post("/ui/signin", data={"token": pat})
            looked = http.post("/ui/explain", data=explain)
        assert looked.status_code == 200
        assert people.flagged_bristol in looked.text
        assert looked.text.index('id="monitoring"') < looked.text.index('class="lists"')
    finally:
        copy.registry.note_monitoring(
            "perpetrator", version, status="green", as_of="2026-12-01", summary="", plan="1"
        )
    page = _until_text(lambda: _page(copy, pat), lambda text: 'id="monitoring"' not in text)
    assert page.status_code == 200
    assert 'id="monitoring"' not in page.text
    assert "Monitoring of the estimate" not in page.text
    answer = _post(copy, "/explain", explain, pat)
    assert answer.json()["outcomes"]["perpetrator"]["monitoring"] is None


def test_the_service_refuses_to_start_on_a_suspended_champion(
    copy: Copy, stack: ServingStack
) -> None:
    version = stack.versions["perpetrator"]
    copy.registry.suspend(
        "perpetrator", version, check="calibration in the large", figures="",
        by="vru monitor", reason="the top band promises twice what happened",
    )  # fmt: skip
    try:
        with pytest.raises(CannotStartError) as refused:
            load_champions(copy.tracking_uri, list(OUTCOMES))
        message = str(refused.value)
        assert "\n" not in message
        assert f"vru-perpetrator version {version} is champion but is switched off" in message
        assert "'calibration in the large'" in message
        assert "can switch it back on" in message
    finally:
        copy.registry.reinstate(
            "perpetrator", version, approver="S. Owner", reason="bands recalibrated"
        )
    assert copy.registry.tags("perpetrator", version)[STATUS_TAG] != SUSPENDED
    # and the session's own store was never touched
    assert STATUS_TAG not in Registry(stack.tracking_uri).tags("perpetrator", version)
