"""The practitioners' page in headless Chromium (Debian's package, driven by Playwright).

Sign in with a token, ask for an explanation, read the reasons and the chart, record
feedback — with the keyboard where a practitioner would — and keep a screenshot.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from typing import Any

import pytest

from features.vocabulary import OUTCOMES
from serving.access_log import AccessLog
from tests.serving.conftest import ARTIFACTS, People
from vru.cli_serve import ServingProcess
from vru.serving_stack import ServingStack

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("serving")]

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


@pytest.fixture
def page() -> Iterator[Any]:
    if CHROMIUM is None:
        pytest.fail(
            "Debian's chromium is not installed (.ci/run installs it: apt-get install chromium)"
        )
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path=CHROMIUM,
            args=["--no-sandbox", "--disable-gpu", "--disable-background-networking"],
        )
        try:
            yield browser.new_page(viewport={"width": 1100, "height": 1600})
        finally:
            browser.close()


def test_sign_in_explain_and_record_feedback(
    page: Any, server: ServingProcess, stack: ServingStack, people: People
) -> None:
    from playwright.sync_api import expect

    page.goto(f"{server.url}/ui/")
    page.get_by_label("Access token").fill("wrong")
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("alert")).to_contain_text("not recognised")

    page.get_by_label("Access token").fill(stack.tokens["pat"])
    page.get_by_label("Access token").press("Enter")  # keyboard submits the form
    expect(page.get_by_text("Signed in as")).to_contain_text("pat")

    page.get_by_label("Person ID").fill(people.flagged_bristol)
    page.get_by_label("Purpose of this look-up").fill("preparing for the referral panel")
    page.get_by_role("button", name="Explain").click()

    # each outcome's section is headed in the project's one vocabulary
    victim = page.get_by_role("region", name=OUTCOMES["victim"].heading)
    expect(victim).to_contain_text("Band:")
    expect(victim.locator("ul.reasons li").first).to_be_visible()
    assert victim.locator("ul.reasons li").count() >= 1
    chart = victim.get_by_role("table", name="What each area of the records contributed")
    assert chart.locator("tbody tr").count() >= 3
    expect(page.get_by_role("region", name=OUTCOMES["perpetrator"].heading)).to_be_visible()

    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    explained_shot = ARTIFACTS / "practitioner-explanation.png"
    page.screenshot(path=str(explained_shot), full_page=True)
    assert explained_shot.stat().st_size > 10_000

    victim.get_by_label("Disagree").check()
    victim.get_by_label("Reason").select_option("already known and supported")
    victim.get_by_label("Anything else (optional)").fill("on a plan since October")
    victim.get_by_role("button", name="Record feedback on the victim explanation").click()
    expect(page.get_by_role("status")).to_contain_text(
        "feedback on the victim explanation was recorded"
    )

    shot = ARTIFACTS / "practitioner-feedback.png"
    page.screenshot(path=str(shot), full_page=True)
    assert shot.stat().st_size > 10_000

    # what the page did is on the record: the explanation and the feedback
    log = AccessLog(stack.access_log)
    explained = [
        r for r in log.rows()
        if r["person_id"] == people.flagged_bristol
        and r["purpose"] == "preparing for the referral panel"
    ]  # fmt: skip
    assert explained
    assert explained[-1]["user"] == "pat"
    stored = log.feedback()[-1]
    assert stored["text"] == "on a plan since October"
    assert stored["reason_code"] == "already known and supported"
    assert stored["agrees"] == 0


def test_results_page_with_a_cross_area_person_is_refused(
    page: Any, server: ServingProcess, stack: ServingStack, people: People
) -> None:
    page.goto(f"{server.url}/ui/")
    page.get_by_label("Access token").fill(stack.tokens["pat"])
    page.get_by_role("button", name="Sign in").click()
    page.get_by_label("Person ID").fill(people.somerset)
    page.get_by_label("Purpose of this look-up").fill("curiosity")
    page.get_by_role("button", name="Explain").click()
    assert "own local authority" in page.get_by_role("alert").inner_text()
    assert page.get_by_role("region").count() == 0
