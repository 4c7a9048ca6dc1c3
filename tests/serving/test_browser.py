"""The practitioners' page in headless Chromium (Debian's package, driven by Playwright).

Sign in with a token, look a young person up (an ID typed in small letters with spaces),
read this month's list place, the reasons and the chart, record feedback on both outcomes
without a second look-up — with the keyboard where a practitioner would — see the feedback
already recorded, be refused a reason that does not go with the answer, check the pages
with axe-core, and keep screenshots.
"""

from __future__ import annotations

import re
import shutil
from collections.abc import Iterator
from typing import Any

import pandas as pd
import pytest

from features.vocabulary import OUTCOMES
from serving.access_log import read_rows
from serving.web.app import when
from tests.serving.conftest import ARTIFACTS, CAPACITY, People
from vru.cli_serve import ServingProcess
from vru.serving_stack import ServingStack

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("serving")]

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
PURPOSE = "preparing for the referral panel"
#: axe-core's impacts this page must never have
BLOCKING = ("serious", "critical")


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


def _accessible(page: Any, name: str) -> None:
    """axe-core (the copy axe-playwright-python ships) finds nothing serious or critical;
    its whole report is kept beside the screenshots."""
    from axe_playwright_python.sync_playwright import Axe

    results = Axe().run(page)
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    (ARTIFACTS / f"axe-{name}.txt").write_text(results.generate_report(), encoding="utf-8")
    assert results.response["testEngine"]["name"] == "axe-core"
    assert results.response["passes"] or results.response["violations"] is not None
    blocking = [
        (v["id"], v["impact"], v["help"], [n["target"] for n in v["nodes"]][:3])
        for v in results.response["violations"]
        if v["impact"] in BLOCKING
    ]
    assert not blocking, blocking


def _look_ups(stack: ServingStack, person_id: str, user: str) -> list[dict[str, object]]:
    return [
        r
        for r in read_rows(stack.access_log)
        if r["action"] == "explain" and r["person_id"] == person_id and r["user"] == user
    ]


def _feedback_on(stack: ServingStack, person_id: str) -> list[dict[str, object]]:
    return [r for r in read_rows(stack.access_log, "feedback") if r["person_id"] == person_id]


def test_sign_in_explain_and_record_feedback_on_both_outcomes(
    page: Any, server: ServingProcess, stack: ServingStack, people: People
) -> None:
    from playwright.sync_api import expect

    wanted = people.flagged_bristol
    page.goto(f"{server.url}/ui/")
    _accessible(page, "sign-in")
    page.get_by_label("Access token").fill("wrong")
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("alert")).to_contain_text("not recognised")

    page.get_by_label("Access token").fill(stack.tokens["pat"])
    page.get_by_label("Access token").press("Enter")  # keyboard submits the form
    expect(page.get_by_text("Signed in as")).to_contain_text("pat")

    looked_up = len(_look_ups(stack, wanted, "pat"))
    stored = len(_feedback_on(stack, wanted))
    # typed as a busy practitioner might: small letters, spaces around and inside
    page.get_by_label("Young person's ID").fill(f"  {wanted[:2].lower()} {wanted[2:]} ")
    page.get_by_label("Purpose of this look-up").fill(PURPOSE)
    page.get_by_role("button", name="Explain").click()

    # found, and shown (and logged) under the ID's one spelling
    expect(page.get_by_role("heading", level=2, name=re.compile(wanted))).to_contain_text(
        "Bristol, records as of 1 January 2025"
    )
    expect(page.get_by_label("Young person's ID")).to_have_value(wanted)
    assert len(_look_ups(stack, wanted, "pat")) == looked_up + 1
    assert _look_ups(stack, wanted, "pat")[-1]["purpose"] == PURPOSE

    # each outcome's section is headed in the project's one vocabulary
    victim = page.get_by_role("region", name=OUTCOMES["victim"].heading)
    suspect = page.get_by_role("region", name=OUTCOMES["perpetrator"].heading)
    expect(victim).to_contain_text("Band:")
    expect(victim.locator("ul.reasons li").first).to_be_visible()
    chart = victim.get_by_role("table", name="What each area of the records contributed")
    assert chart.locator("tbody tr").count() >= 3
    # the chart says what each area did in words; no log-odds, no raw numbers
    effects = chart.locator("td.effect").all_inner_texts()
    assert all(
        re.fullmatch(r"(Raised|Lowered) it (a lot|somewhat|a little)|Made little difference", e)
        for e in effects
    ), effects
    assert any(e.startswith("Raised it") for e in effects), effects
    expect(victim).to_contain_text("raised (to the right) or lowered (to the left) the estimate")
    text = page.locator("main").inner_text()
    assert "log-odds" not in text.lower()
    assert not re.search(r"[+−-]\d+\.\d\d\b", text), re.search(r"[+−-]\d+\.\d\d\b", text)
    expect(suspect).to_be_visible()

    # one "records as of" date: the snapshot's, written out, as the panel pack gives it
    expect(victim).to_contain_text("Records as of 1 January 2025")
    assert "2024-12-28" not in text
    assert "2025-01-01" not in text
    # what changed since last month's snapshot, under each outcome's reasons
    changed = victim.get_by_role("heading", name="What changed since 1 December 2024")
    expect(changed).to_be_visible()
    # what the records cannot see: one box, near the explanations
    box = page.get_by_role("region", name="What this cannot see")
    expect(box).to_contain_text("family circumstances and relationships")
    expect(box).to_contain_text("anything the young person or their family has told a worker")
    expect(box).to_contain_text("records made before 1 January 2025")
    expect(box).to_contain_text(re.compile(r"Latest record: \d{1,2} December 2024"))

    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    explained_shot = ARTIFACTS / "practitioner-explanation.png"
    page.screenshot(path=str(explained_shot), full_page=True)
    assert explained_shot.stat().st_size > 10_000
    box.screenshot(path=str(ARTIFACTS / "practitioner-cannot-see.png"))
    victim.locator(".changes").screenshot(path=str(ARTIFACTS / "practitioner-changes.png"))

    # no reason is chosen for you; a reason to disagree does not go with "Agree"
    expect(victim.get_by_label("Reason")).to_have_value("")
    victim.get_by_label("Agree", exact=True).check()
    victim.get_by_label("Reason").select_option("information incorrect")
    victim.get_by_label("Anything else (optional)").fill("on a plan since October")
    victim.get_by_role("button", name="Record feedback").click()
    refused = victim.get_by_role("alert")
    expect(refused).to_contain_text(
        "Nothing was recorded: you chose Agree, but \u201cInformation incorrect\u201d is a "
        "reason to disagree. Choose a reason under \u201cIf you agree\u201d, or choose "
        "Disagree, then record your feedback again."
    )
    # ... and the form keeps what was typed
    expect(victim.get_by_label("Agree", exact=True)).to_be_checked()
    expect(victim.get_by_label("Reason")).to_have_value("information incorrect")
    expect(victim.get_by_label("Anything else (optional)")).to_have_value("on a plan since October")
    assert len(_feedback_on(stack, wanted)) == stored
    page.screenshot(path=str(ARTIFACTS / "practitioner-reason-refused.png"), full_page=False)

    victim.get_by_label("Disagree").check()
    victim.get_by_role("button", name="Record feedback").click()
    expect(page.get_by_role("status")).to_contain_text("was recorded, reference")
    first = _feedback_on(stack, wanted)[-1]
    assert (first["outcome"], first["agrees"], first["reason_code"], first["text"]) == (
        "victim",
        0,
        "information incorrect",
        "on a plan since October",
    )
    expect(page.get_by_role("status")).to_have_text(
        "Your feedback on the explanation of the risk of being the victim of serious violence "
        f"was recorded, reference {first['id']}."
    )
    # both explanations are still there, and the feedback is listed under its own
    expect(victim).to_contain_text("Band:")
    expect(suspect).to_contain_text("Band:")
    expect(suspect.locator("p.band")).to_be_visible()
    newest = victim.locator("ul.past-feedback li").first
    expect(newest).to_contain_text("Disagreed: Information incorrect")
    expect(newest).to_contain_text(f"pat (practitioner), {when(str(first['time']))}")
    expect(newest).to_contain_text("on a plan since October")
    expect(victim.get_by_label("Anything else (optional)")).to_have_value("")  # recorded

    # the other outcome's own form, on the same page: no second look-up
    suspect.get_by_label("Agree", exact=True).check()
    suspect.get_by_label("Reason").select_option("already known and supported")
    suspect.get_by_label("Reason").press("Tab")
    page.keyboard.press("Tab")  # past the note, to the button
    page.keyboard.press("Enter")
    expect(suspect.get_by_role("status")).to_contain_text("was recorded, reference")
    second = _feedback_on(stack, wanted)[-1]
    assert (second["outcome"], second["agrees"], second["reason_code"]) == (
        "perpetrator",
        1,
        "already known and supported",
    )
    expect(suspect.get_by_role("status")).to_contain_text(
        f"as a suspect was recorded, reference {second['id']}."
    )
    expect(suspect.locator("ul.past-feedback li").first).to_contain_text(
        "Agreed: Already known and supported"
    )
    expect(victim.locator("ul.past-feedback li").first).to_contain_text("Information incorrect")
    assert len(_look_ups(stack, wanted, "pat")) == looked_up + 1  # still the one look-up
    assert {r["person_id"] for r in _feedback_on(stack, wanted)[-2:]} == {wanted}
    _accessible(page, "explain")

    shot = ARTIFACTS / "practitioner-feedback.png"
    page.screenshot(path=str(shot), full_page=True)
    assert shot.stat().st_size > 10_000

    # a colleague in the same area looks the young person up afresh: the feedback is there
    page.get_by_role("button", name="Sign out").click()
    _sign_in_and_explain(page, server, stack.tokens["pia"], wanted)
    victim = page.get_by_role("region", name=OUTCOMES["victim"].heading)
    suspect = page.get_by_role("region", name=OUTCOMES["perpetrator"].heading)
    expect(victim.locator("ul.past-feedback li").first).to_contain_text(
        "Disagreed: Information incorrect"
    )
    expect(victim.locator("ul.past-feedback li").first).to_contain_text("pat (practitioner)")
    expect(suspect.locator("ul.past-feedback li").first).to_contain_text(
        "Agreed: Already known and supported"
    )
    # a practitioner of another area cannot look them up, so sees none of it
    page.get_by_role("button", name="Sign out").click()
    _sign_in_and_explain(page, server, stack.tokens["sam"], wanted)
    expect(page.get_by_role("alert")).to_contain_text("We could not find a young person")
    assert "on a plan since October" not in page.content()


def _sign_in_and_explain(page: Any, server: ServingProcess, token: str, person_id: str) -> None:
    page.goto(f"{server.url}/ui/")
    page.get_by_label("Access token").fill(token)
    page.get_by_role("button", name="Sign in").click()
    page.get_by_label("Young person's ID").fill(person_id)
    page.get_by_label("Purpose of this look-up").fill(PURPOSE)
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
    expect(lists).to_contain_text("Drawn from the records as of 1 January 2025")
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
    page.get_by_label("Young person's ID").fill(people.somerset)
    page.get_by_label("Purpose of this look-up").fill("curiosity")
    page.get_by_role("button", name="Explain").click()
    # the words an unknown id gets: the page does not say the young person lives elsewhere,
    # and says what to do next in plain words
    alert = page.get_by_role("alert")
    expect(alert).to_have_text(
        f"We could not find a young person with the ID {people.somerset} in Bristol's records "
        "as of 1 January 2025. Check the ID on the referral and try again."
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
