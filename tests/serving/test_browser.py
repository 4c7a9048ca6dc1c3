"""The practitioners' page in headless Chromium (Debian's package, driven by Playwright).

Sign in with a token, ask for an explanation, read this month's list place, the reasons
and the chart, record feedback — with the keyboard where a practitioner would — and keep
screenshots.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from typing import Any

import pandas as pd
import pytest

from features.vocabulary import OUTCOMES
from serving.access_log import read_rows
from tests.serving.conftest import ARTIFACTS, CAPACITY, People
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

    # what changed since last month's snapshot, under each outcome's reasons
    changed = victim.get_by_role("heading", name="What changed since 2024-12-01")
    expect(changed).to_be_visible()
    expect(victim.locator(".changes")).to_contain_text("2024-12-01")
    # what the records cannot see: one box, near the explanations
    box = page.get_by_role("region", name="What this cannot see")
    expect(box).to_contain_text("family circumstances and relationships")
    expect(box).to_contain_text("anything the young person or their family has told a worker")
    expect(box).to_contain_text("Multi-agency records, to 20")

    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    explained_shot = ARTIFACTS / "practitioner-explanation.png"
    page.screenshot(path=str(explained_shot), full_page=True)
    assert explained_shot.stat().st_size > 10_000
    box.screenshot(path=str(ARTIFACTS / "practitioner-cannot-see.png"))
    victim.locator(".changes").screenshot(path=str(ARTIFACTS / "practitioner-changes.png"))

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
    explained = [
        r for r in read_rows(stack.access_log)
        if r["person_id"] == people.flagged_bristol
        and r["purpose"] == "preparing for the referral panel"
    ]  # fmt: skip
    assert explained
    assert explained[-1]["user"] == "pat"
    stored = read_rows(stack.access_log, "feedback")[-1]
    assert stored["text"] == "on a plan since October"
    assert stored["reason_code"] == "already known and supported"
    assert stored["agrees"] == 0


def _sign_in_and_explain(page: Any, server: ServingProcess, token: str, person_id: str) -> None:
    page.goto(f"{server.url}/ui/")
    page.get_by_label("Access token").fill(token)
    page.get_by_role("button", name="Sign in").click()
    page.get_by_label("Person ID").fill(person_id)
    page.get_by_label("Purpose of this look-up").fill("preparing for the referral panel")
    page.get_by_role("button", name="Explain").click()


def test_the_page_says_the_cohort_and_the_list_place_near_the_top(
    page: Any, server: ServingProcess, stack: ServingStack, month_lists: dict[str, pd.DataFrame]
) -> None:
    from playwright.sync_api import expect

    victim = month_lists["victim"]
    bristol_early = victim[(victim["local_authority"] == "Bristol") & (victim["list"] == "early")]
    named = str(bristol_early.index[bristol_early["rank"] == 4][0])
    # beyond capacity on both outcomes' lists, so the page names no place at all
    perpetrator = month_lists["perpetrator"].loc[victim.index]
    beyond = victim[
        (victim["local_authority"] == "Bristol")
        & (victim["list"] == "known")
        & ~victim["within_capacity"]
        & ~perpetrator["within_capacity"]
    ]
    known = CAPACITY.of("known")["Bristol"]
    early = CAPACITY.of("early")["Bristol"]

    _sign_in_and_explain(page, server, stack.tokens["pat"], named)
    lists = page.get_by_role("region", name="This month's panel lists")
    expect(lists).to_contain_text(
        "No serious-violence record yet — on Bristol's early-help list this month "
        f"(number 4 of {early})."
    )
    expect(lists).to_contain_text(OUTCOMES["victim"].heading)
    expect(lists).to_contain_text("Drawn from the records as of 2025-01-01")
    # near the top: above the first outcome's explanation
    first = page.get_by_role("region", name=OUTCOMES["victim"].heading)
    assert lists.bounding_box()["y"] < first.bounding_box()["y"]
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    shot = ARTIFACTS / "practitioner-list-place.png"
    page.screenshot(path=str(shot), full_page=False)
    assert shot.stat().st_size > 10_000

    page.get_by_role("button", name="Sign out").click()
    _sign_in_and_explain(page, server, stack.tokens["pat"], str(beyond.index[0]))
    lists = page.get_by_role("region", name="This month's panel lists")
    expect(lists).to_contain_text(
        "Already known to services for serious violence — not among the "
        f"{known} on Bristol's list this month."
    )
    expect(lists).to_contain_text("usual safeguarding route")
    expect(lists).not_to_contain_text("number ")
    page.screenshot(path=str(ARTIFACTS / "practitioner-list-beyond.png"), full_page=False)


def test_results_page_with_a_cross_area_person_is_refused(
    page: Any, server: ServingProcess, stack: ServingStack, people: People
) -> None:
    from playwright.sync_api import expect

    page.goto(f"{server.url}/ui/")
    page.get_by_label("Access token").fill(stack.tokens["pat"])
    page.get_by_role("button", name="Sign in").click()
    page.get_by_label("Person ID").fill(people.somerset)
    page.get_by_label("Purpose of this look-up").fill("curiosity")
    page.get_by_role("button", name="Explain").click()
    # the words an unknown id gets: the page does not say the young person lives elsewhere
    alert = page.get_by_role("alert")
    expect(alert).to_have_text(
        "No young person with this person_id on Bristol's records as of 2025-01-01 "
        "(not resident in Bristol, not aged 10–24, or mistyped): check the ID."
    )
    assert page.get_by_role("region").count() == 0
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "practitioner-not-on-records.png"), full_page=True)
    # the stylesheet applies under the Content-Security-Policy: the alert has its border
    assert alert.evaluate("e => getComputedStyle(e).borderLeftStyle") == "solid"

    page.get_by_role("button", name="Sign out").click()
    expect(page.get_by_label("Access token")).to_be_visible()
    page.get_by_label("Access token").fill("not-a-token")
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("alert")).to_have_text("That token is not recognised.")
    page.screenshot(path=str(ARTIFACTS / "practitioner-sign-in-refused.png"), full_page=True)
    # signed out: the page of records is not reachable any more
    page.goto(f"{server.url}/ui/explain")
    expect(page.get_by_label("Access token")).to_be_visible()
