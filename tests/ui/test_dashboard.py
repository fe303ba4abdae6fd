"""The dashboard in a real browser: sign-in, the loan story, live updates,
read-only keys, keyboard use, and data shown as text.

Each test sets up its own versions and actors with the SDK, then works
through the UI only.  Screenshots of every page land in SCREENSHOTS.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from playwright.sync_api import Page, expect

from tests.server.conftest import LOAN

from .conftest import UiServer, open_page, shot, sign_in

EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "loan"

expect.set_options(timeout=10_000)


def _example(name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((EXAMPLES / name).read_text())
    return data


def badge(page: Page, path: str):
    """The live actor-count badge of a state in the version page's diagram."""
    return page.locator(f".state-box[data-path='{path}'] > .state-head .badge")


def assert_controls_labelled(page: Page) -> None:
    """Every form control on the page has a label, and every button a name."""
    unlabelled = page.evaluate(
        """() => [...document.querySelectorAll('input, select, textarea, button, a')]
            .filter(el => el.offsetParent !== null)
            .filter(el => {
              if (el.matches('button, a')) return !(el.textContent.trim() || el.getAttribute('aria-label'));
              return !(el.labels && el.labels.length) && !el.getAttribute('aria-label') && !el.getAttribute('aria-labelledby');
            })
            .map(el => el.outerHTML.slice(0, 120))"""
    )
    assert unlabelled == []


def test_sign_in_by_keyboard_and_sign_out(ui_server: UiServer, page: Page) -> None:
    page.goto(ui_server.ui)
    page.wait_for_selector("#api-key")
    assert_controls_labelled(page)
    shot(page, "00-sign-in")
    for _ in range(10):  # the skip link and the brand come first
        page.keyboard.press("Tab")
        if page.evaluate("document.activeElement.id") == "api-key":
            break
    else:
        raise AssertionError("Tab never reached the API key field")
    assert page.evaluate("getComputedStyle(document.activeElement).outlineStyle") != "none", "focus is not visible"
    page.keyboard.type(ui_server.keys["admin"])
    page.keyboard.press("Enter")
    page.wait_for_selector("main[data-page='versions'][data-ready='true']")
    expect(page.locator("#whoami")).to_have_text("admin key")

    # The key is kept for this tab only.
    assert page.evaluate("sessionStorage.getItem('skruntime.apiKey')") == ui_server.keys["admin"]
    assert page.evaluate("localStorage.length") == 0
    assert page.context.cookies() == []

    # The navigation works by keyboard, with a visible focus.
    page.focus("nav a[data-section='actors']")
    assert page.evaluate("getComputedStyle(document.activeElement).outlineStyle") != "none"
    page.keyboard.press("Enter")
    page.wait_for_selector("main[data-page='actors'][data-ready='true']")
    expect(page.locator("nav a[data-section='actors']")).to_have_attribute("aria-current", "page")

    # Signing out forgets the key.
    page.focus("#sign-out")
    page.keyboard.press("Enter")
    page.wait_for_selector("#api-key")
    expect(page.locator("#sign-in-error")).to_contain_text("Signed out")
    assert page.evaluate("sessionStorage.getItem('skruntime.apiKey')") is None

    # A wrong key is refused, with the server's reason, and not kept.
    page.fill("#api-key", "sk_" + "B" * 43)
    page.press("#api-key", "Enter")
    expect(page.locator("#sign-in-error [role='alert']")).to_contain_text("refused")
    assert page.evaluate("sessionStorage.getItem('skruntime.apiKey')") is None
    shot(page, "00-sign-in-refused")


def test_loan_story(ui_server: UiServer, page: Page) -> None:
    v1, v2 = _example("loan-v1.json"), _example("loan-v2.json")
    with ui_server.client() as sk:
        sk.deploy(v1["id"], v1["definition"])
        for actor_id, events in (("alice", ["SUBMIT_INFO", "PAY_FEE"]), ("bob", ["SUBMIT_INFO", "WAIVE_FEE"]), ("carol", ["SUBMIT_INFO"])):
            sk.spawn("loan-v1", actor_id=actor_id, context={"amount": 25000})
            for event in events:
                sk.send(actor_id, event)

    sign_in(page, ui_server)

    # Deploy loan-v2 through the form: preview first.
    open_page(page, "#/deploy", "deploy")
    assert_controls_labelled(page)
    page.fill("#deploy-id", "loan-v2")
    page.select_option("#deploy-parent", "loan-v1")
    page.fill("#deploy-path", "SUBMIT_INFO, PAY_FEE")
    page.fill("#deploy-definition", json.dumps(v2["definition"], indent=2))
    shot(page, "04-deploy-form")
    page.press("#deploy-id", "Enter")  # Enter submits the form: the preview
    expect(page.locator("#preview-h")).to_have_text("Preview: loan-v2 from loan-v1")
    expect(page.locator("#preview-summary")).to_contain_text("3 actors evaluated: 1 would migrate, 2 would stay")

    alice_group = page.locator("[data-group='migrate:income_verify']")
    expect(alice_group).to_contain_text("Migrate → income_verify")
    expect(alice_group.locator("h4 .badge")).to_have_text("1")
    expect(alice_group.locator(".samples")).to_contain_text("alice")
    expect(alice_group.locator(".samples")).to_contain_text("awaiting_docs → income_verify")
    bob_group = page.locator("[data-group='stay:history-mismatch']")
    expect(bob_group).to_contain_text("Stay: history-mismatch")
    expect(bob_group.locator(".samples")).to_have_text("bob stays in awaiting_docs")
    expect(page.locator("[data-group='stay:history-too-short'] .samples")).to_contain_text("carol")
    reasons = page.locator("#preview-reasons")
    expect(reasons.locator("tr[data-reason='history-match'] td").nth(1)).to_have_text("1")
    expect(reasons.locator("tr[data-reason='history-mismatch'] td").nth(1)).to_have_text("1")
    expect(page.locator("#preview-landings tr[data-landing='income_verify']")).to_contain_text("awaiting_docs")
    expect(page.locator("#preview-token")).to_contain_text("pt_")
    assert_controls_labelled(page)
    shot(page, "05-deploy-preview")

    # Deploy on confirmation, with the preview's token.
    page.click("#deploy-button")
    success = page.locator("#deploy-success")
    expect(success).to_contain_text("Deployed loan-v2")
    expect(success).to_contain_text("3 evaluated, 1 migrated, 2 stayed")
    shot(page, "06-deploy-done")

    # Open Alice by searching her id, and read her decision.
    open_page(page, "#/actors", "actors")
    page.fill("#actor-search", "alice")
    page.press("#actor-search", "Enter")
    page.wait_for_selector("main[data-page='actor'][data-ready='true']")
    expect(page.locator("h1")).to_have_text("Actor alice")
    expect(page.locator("#actor-facts [data-fact='version']")).to_have_text("loan-v2")
    expect(page.locator("#actor-facts [data-fact='state']")).to_have_text("income_verify")
    expect(page.locator("#timeline li[data-seq]")).to_have_count(2)
    expect(page.locator("#timeline li[data-seq='2']")).to_contain_text("PAY_FEE")
    with ui_server.client("read") as sk:
        alice = sk.get("alice")
    row = page.locator("#decisions-table tbody tr")
    expect(row).to_have_count(1)
    expect(row).to_have_attribute("data-decision", "migrate")
    expect(row).to_have_attribute("data-reason", "history-match")
    cells = row.locator("th, td")
    expect(cells.nth(2)).to_have_text("loan-v1 → loan-v2")
    expect(cells.nth(3)).to_have_text("migrate")
    expect(cells.nth(4)).to_have_text("history-match")
    expect(cells.nth(5)).to_have_text(alice.fingerprint)  # her history is exactly the path:
    expect(cells.nth(6)).to_have_text(alice.fingerprint)  # fingerprint == prefix hash
    expect(cells.nth(7)).to_have_text("2")
    expect(cells.nth(9)).to_have_text("income_verify")
    shot(page, "07-actor-alice")

    # Bob's page says why he stayed.
    open_page(page, "#/actors/bob", "actor")
    expect(page.locator("#decisions-table tbody tr")).to_have_attribute("data-reason", "history-mismatch")
    expect(page.locator("#decisions-table tbody tr td").nth(8)).to_have_text("—")  # no landing state

    # The version tree: loan-v2 is loan-v1's child, with its path and counts.
    open_page(page, "#/", "versions")
    child = page.locator("li[data-version='loan-v1'] li[data-version='loan-v2']")
    expect(child).to_contain_text("SUBMIT_INFO")
    expect(child.locator("[data-counts='loan-v2']")).to_contain_text("1 actor")
    expect(page.locator("[data-counts='loan-v1']")).to_contain_text("2 actors")
    shot(page, "01-version-tree")

    # loan-v2's diagram, with Alice counted in income_verify.
    open_page(page, "#/versions/loan-v2", "version")
    expect(badge(page, "income_verify")).to_have_text("1")
    expect(badge(page, "awaiting_docs")).to_have_text("0")
    expect(page.locator(".state-box[data-path='approved']")).to_have_class("state-box state-final")
    expect(page.locator(".state-box[data-path='submitted'] .initial-marker")).to_have_count(1)
    expect(page.locator(".state-box[data-path='under_review'] .transitions")).to_contain_text("PAY_FEE → income_verify")
    shot(page, "02-version-loan-v2")

    # Deployments, with counts by reason, and the deployment's decisions.
    open_page(page, "#/deployments", "deployments")
    deployment = page.locator("#deployments-table tbody tr", has_text="loan-v2")
    expect(deployment.locator("li[data-reason='history-match']")).to_contain_text("1")
    expect(deployment.locator("li[data-reason='history-mismatch']")).to_contain_text("1")
    expect(deployment.locator("li[data-reason='history-too-short']")).to_contain_text("1")
    shot(page, "08-deployments")
    deployment.locator("a").first.click()
    page.wait_for_selector("main[data-page='deployment'][data-ready='true']")
    expect(page.locator("#deployment-decisions tbody tr")).to_have_count(3)
    shot(page, "09-deployment")

    # The actors list, filtered by version and state through the form.
    open_page(page, "#/actors", "actors")
    page.select_option("#filter-version", "loan-v1")
    page.fill("#filter-state", "awaiting_docs")
    page.click("button:has-text('Apply filters')")
    page.wait_for_function("location.hash.includes('state=awaiting_docs')")
    page.wait_for_selector("main[data-page='actors'][data-ready='true']")
    expect(page.locator("#actors-table tbody tr")).to_have_count(1)
    expect(page.locator("#actors-table tbody tr")).to_have_attribute("data-actor", "bob")
    assert_controls_labelled(page)
    shot(page, "03-actors-filtered")


ORDER = {
    "id": "order",
    "initial": "cart",
    "on": {"CANCEL": {"target": ".cancelled", "guard": "canCancel"}},
    "states": {
        "cart": {"on": {"CHECKOUT": {"target": "processing", "guard": {"type": "and", "guards": ["hasItems", {"type": "not", "guards": ["blocked"]}]}}}},
        "processing": {
            "type": "parallel",
            "onDone": "complete",
            "states": {
                "payment": {
                    "initial": "pending",
                    "states": {"pending": {"on": {"PAID": "paid"}, "after": {"60000": "failed"}}, "failed": {}, "paid": {"type": "final"}},
                },
                "shipping": {
                    "initial": "packing",
                    "states": {"packing": {"on": {"PACKED": "shipped"}}, "shipped": {"type": "final"}, "hist": {"type": "history", "history": "deep"}},
                },
            },
        },
        "complete": {"type": "final"},
        "cancelled": {"type": "final"},
    },
}


def test_statechart_diagram_nested_and_parallel(ui_server: UiServer, page: Page) -> None:
    with ui_server.client() as sk:
        sk.deploy("order-v1", ORDER)
        for actor_id in ("o1", "o2", "o3"):
            sk.spawn("order-v1", actor_id=actor_id)
        for actor_id in ("o1", "o2"):
            sk.send(actor_id, "CHECKOUT", guards={"hasItems": True})
        sk.send("o2", "PAID")
    sign_in(page, ui_server)
    open_page(page, "#/versions/order-v1", "version")
    # Nested boxes; the parallel state's regions side by side.
    regions = page.locator(".state-box[data-path='processing'] > .regions > .region")
    expect(regions).to_have_count(2)
    expect(regions.nth(1)).to_have_css("border-left-style", "dashed")
    expect(page.locator(".state-box[data-path='processing.payment.paid']")).to_have_class("state-box state-final")
    expect(page.locator(".state-box[data-path='processing.shipping.hist']")).to_contain_text("history (deep)")
    # Transitions, labelled, with their guards.
    expect(page.locator(".state-box[data-path='cart'] .transitions")).to_contain_text("CHECKOUT [hasItems && !blocked] → processing")
    expect(page.locator(".state-box[data-path=''] > .transitions")).to_contain_text("CANCEL [canCancel] → .cancelled")
    expect(page.locator(".state-box[data-path='processing'] > .transitions")).to_contain_text("done → complete")
    expect(page.locator(".state-box[data-path='processing.payment.pending'] .transitions")).to_contain_text("after 60000 ms → failed")
    # Counts: an actor in a parallel state is counted once, not once per region.
    expect(badge(page, "")).to_have_text("3")
    expect(badge(page, "cart")).to_have_text("1")
    expect(badge(page, "processing")).to_have_text("2")
    expect(badge(page, "processing.payment")).to_have_text("2")
    expect(badge(page, "processing.payment.paid")).to_have_text("1")
    expect(badge(page, "processing.shipping.packing")).to_have_text("2")
    expect(badge(page, "processing")).to_have_attribute("href", "#/actors?versionId=order-v1&state=processing")
    shot(page, "02-version-parallel")


def test_a_stale_preview_is_refused_and_previewed_again(ui_server: UiServer, page: Page) -> None:
    v2 = _example("loan-v2.json")
    with ui_server.client() as sk:
        sk.deploy("stale-v1", LOAN)
        sk.spawn("stale-v1", actor_id="sam")
        sk.send("sam", "SUBMIT_INFO")
    sign_in(page, ui_server)
    open_page(page, "#/deploy", "deploy")
    page.fill("#deploy-id", "stale-v2")
    page.select_option("#deploy-parent", "stale-v1")
    page.fill("#deploy-path", "SUBMIT_INFO, PAY_FEE")
    page.fill("#deploy-definition", json.dumps(v2["definition"]))
    page.click("#preview-button")
    expect(page.locator("[data-group='stay:history-too-short'] .samples")).to_contain_text("sam")

    with ui_server.client() as sk:  # meanwhile, sam's history grows to match the path
        sk.send("sam", "PAY_FEE")
    page.click("#deploy-button")
    stale = page.locator("#preview-stale")
    expect(stale).to_contain_text("nothing was deployed")
    expect(stale).to_contain_text("1 would migrate, 0 would stay")
    expect(page.locator("#deploy-button")).to_be_disabled()
    shot(page, "10-deploy-preview-stale")

    page.click("#preview-again")
    expect(page.locator("[data-group='migrate:income_verify'] .samples")).to_contain_text("sam")
    page.click("#deploy-button")
    expect(page.locator("#deploy-success")).to_contain_text("1 migrated, 0 stayed")


def test_live_updates_without_reload(ui_server: UiServer, page: Page) -> None:
    with ui_server.client() as sk:
        sk.deploy("live-v1", LOAN)
        sk.spawn("live-v1", actor_id="lively")
        sk.spawn("live-v1", actor_id="steady")
    sign_in(page, ui_server)
    page.evaluate("window.__sameDocument = true")  # gone if the page reloads

    # The version page: counts per state follow events sent from outside.
    open_page(page, "#/versions/live-v1", "version")
    page.wait_for_selector("main[data-live='ready']")
    expect(badge(page, "submitted")).to_have_text("2")
    expect(page.locator("#live-status")).to_have_attribute("data-state", "open")
    with ui_server.client() as sk:
        sk.send("lively", "SUBMIT_INFO")
    expect(badge(page, "under_review")).to_have_text("1")
    expect(badge(page, "submitted")).to_have_text("1")
    expect(page.locator(".activity li").first).to_contain_text("lively SUBMIT_INFO → under_review")
    shot(page, "11-version-live")

    # The actor page: state and timeline follow too.
    open_page(page, "#/actors/lively", "actor")
    page.wait_for_selector("main[data-live='ready']")
    with ui_server.client() as sk:
        sk.send("lively", "PAY_FEE", payload={"amount": 120})
    expect(page.locator("#actor-facts [data-fact='state']")).to_have_text("awaiting_docs")
    expect(page.locator("#actor-facts [data-fact='seq']")).to_have_text("2")
    expect(page.locator("#timeline li[data-seq='2']")).to_contain_text('PAY_FEE → awaiting_docs')
    expect(page.locator("#timeline li[data-seq='2']")).to_contain_text('{"amount":120}')

    # The server restarts: the page reconnects and resumes from the last seq.
    ui_server.stop()
    expect(page.locator("#live-status")).to_have_attribute("data-state", "reconnecting")
    ui_server.start()
    with ui_server.client() as sk:
        sk.send("lively", "APPROVE")
    expect(page.locator("#live-status")).to_have_attribute("data-state", "open", timeout=20_000)
    expect(page.locator("#actor-facts [data-fact='state']")).to_have_text("approved")
    expect(page.locator("#actor-facts [data-fact='status']")).to_have_text("done")
    expect(page.locator("#timeline li[data-seq]")).to_have_count(3)
    assert page.evaluate("window.__sameDocument") is True
    shot(page, "12-actor-live")


def test_a_read_only_key_cannot_deploy(ui_server: UiServer, page: Page) -> None:
    with ui_server.client() as sk:
        sk.deploy("ro-v1", LOAN)
    sign_in(page, ui_server, "read")
    expect(page.locator("#whoami")).to_contain_text("read-only")
    expect(page.locator("main a.button[href='#/deploy']")).to_have_count(0)

    # It sees everything...
    open_page(page, "#/versions/ro-v1", "version")
    expect(badge(page, "submitted")).to_have_text("0")

    # ...but the deploy controls are disabled.
    open_page(page, "#/deploy", "deploy")
    expect(page.locator("#read-only-note")).to_be_visible()
    expect(page.locator("#preview-button")).to_be_disabled()
    page.fill("#deploy-id", "ro-v2")
    page.select_option("#deploy-parent", "ro-v1")
    page.fill("#deploy-definition", json.dumps(LOAN))
    shot(page, "13-deploy-read-only")

    # A forced attempt is refused by the server, and the page says so.
    page.evaluate("document.getElementById('preview-button').disabled = false")
    page.click("#preview-button")
    refusal = page.locator("#deploy-result [role='alert']")
    expect(refusal).to_contain_text("403 Forbidden")
    expect(refusal).to_contain_text("may not preview or deploy")
    expect(page.locator("#preview-button")).to_be_disabled()
    shot(page, "14-deploy-read-only-refused")
    with ui_server.client() as sk:
        assert "ro-v2" not in [v.id for v in sk.versions()]


def test_data_is_shown_as_text_never_as_markup(ui_server: UiServer, page: Page) -> None:
    definition = {
        "id": "x",
        "initial": "<i>start</i>",
        "states": {"<i>start</i>": {"on": {"<b>GO</b>": "<u>end</u>"}}, "<u>end</u>": {}},
    }
    with ui_server.client() as sk:
        sk.deploy("markup-v1", definition)
        sk.spawn("markup-v1", actor_id="mallory", context={"note": "<img src=x onerror=window.__pwned=1>"})
        sk.send("mallory", "<b>GO</b>", payload={"html": "<script>window.__pwned=2</script>"})
    sign_in(page, ui_server)
    open_page(page, "#/actors/mallory", "actor")
    expect(page.locator("#actor-context")).to_contain_text("<img src=x onerror=window.__pwned=1>")
    expect(page.locator("#timeline li[data-seq='1']")).to_contain_text("<b>GO</b> → <u>end</u>")
    open_page(page, "#/versions/markup-v1", "version")
    expect(page.locator(".chart")).to_contain_text("<b>GO</b> → <u>end</u>")
    assert page.locator("main img, main script, main b, main i, main u").count() == 0
    assert page.evaluate("window.__pwned") is None
    shot(page, "15-markup-as-text")
