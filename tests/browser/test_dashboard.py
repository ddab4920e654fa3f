"""The dashboard in a real browser (Debian's Chromium through Playwright) against a real
``chatops serve`` deploying real containers on loopback: sign in, deploy and watch the
live log, a failing version rolled back with its reason, the rollback button, an
approval, and a forged form refused. Each page is saved as a screenshot."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import textwrap
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests import served
from tests.docker.conftest import DemoStack, docker, http_get

pytestmark = pytest.mark.docker

PASSWORD = "correct horse battery staple"


def deploy_intent(stack: DemoStack, *, approval: str = "") -> str:
    hook = json.dumps([sys.executable, "-c", "import time\nprint('before the change: "
                       "backing up', flush=True)\ntime.sleep(2)\nprint('backup done', "
                       "flush=True)"])
    return textwrap.dedent(f"""\
        # Deploy {stack.name}
        # The demo web service, gated on its health page.
        label_required: approved
        action: rollout
        stack: {stack.name}
        service: web
        health:
          - http: {stack.url}/cgi-bin/health
            within: 8s
            interval: 100ms
        hooks:
          pre_deploy:
            - {hook}
        """) + approval


@pytest.fixture
def dashboard(engine: None, images: Any, tmp_path: Path) -> Iterator[dict[str, Any]]:
    stack = DemoStack(root=tmp_path / "repo", name=f"ui-{uuid.uuid4().hex[:8]}")
    stack.write(images("v1"))
    intents = stack.root / "chatops" / "intents"
    intents.mkdir(parents=True)
    (intents / "deploy_ui.yaml").write_text(deploy_intent(stack))
    (intents / "gated_ui.yaml").write_text(deploy_intent(
        stack, approval="approval:\n  approvers: [\"user:ann\"]\n"))
    state = tmp_path / "state"
    env = {**os.environ, "CHATOPS_STATE_DIR": str(state)}
    subprocess.run([sys.executable, "-m", "chatops", "users", "add", "ann", "--scopes",
                    "read,run,rollback,approve,audit", "--password-stdin"],
                   input=PASSWORD + "\n", env=env, text=True, check=True,
                   capture_output=True)
    service = served.start(stack.root, state, env={"CHATOPS_STABILITY_WINDOW": "0.5s"})
    try:
        yield {"service": service, "stack": stack, "images": images}
    finally:
        service.stop()
        docker("compose", "-p", stack.name, "down", "-v", "--timeout", "1", check=False)


def shot(page: Any, folder: Path, name: str) -> None:
    page.screenshot(path=str(folder / f"{name}.png"), full_page=True)


def deploy_from_the_intent_page(page: Any, url: str) -> str:
    """Intent page → Deploy… → the confirmation → Deploy now; the run's id."""
    page.goto(f"{url}/ui/intents/deploy_ui")
    page.get_by_role("link", name="Deploy…").click()
    page.get_by_role("button", name="Deploy now").click()
    page.wait_for_url(re.compile(r"/ui/runs/[0-9a-f-]+$"))
    return page.url.rsplit("/", 1)[1]


def test_the_dashboard_in_a_browser(dashboard, browser, screenshots) -> None:  # noqa: PLR0915 - one visit
    service, stack, images = dashboard["service"], dashboard["stack"], dashboard["images"]
    url = service.url
    page = browser.new_page()
    # Any console error (a CSP violation, a script error) fails the visit.
    errors: list[str] = []
    page.on("console", lambda msg: errors.append(f"{msg.text} ({page.url})")
            if msg.type == "error" else None)
    page.on("pageerror", lambda exc: errors.append(str(exc)))

    # Signing in: the form, a wrong password refused, then in.
    page.goto(f"{url}/ui/stacks")
    assert "/ui/login" in page.url
    shot(page, screenshots, "login")
    page.get_by_label("Name").fill("ann")
    page.get_by_label("Password").fill("not the password")
    page.get_by_role("button", name="Sign in").click()
    assert "Wrong name or password." in page.locator("[role=alert]").inner_text()
    # The refusal is a 401 (the browser says so); it is the only console error allowed.
    assert [e for e in errors if "status of 401" in e and "/ui/login" in e] == errors
    assert len(errors) == 1
    errors.clear()
    page.get_by_label("Name").fill("ann")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(f"{url}/ui/stacks")
    cookie = next(c for c in browser.cookies() if c["name"] == "chatops_session")
    assert cookie["httpOnly"] is True
    assert cookie["sameSite"] == "Strict"
    assert stack.name in page.locator("main").inner_text()

    # Deploy from the intent page, and watch the log grow live to "succeeded".
    page.goto(f"{url}/ui/intents/deploy_ui")
    shot(page, screenshots, "intent")
    assert "Plan for intent deploy_ui" in page.locator("pre.plan").inner_text()
    page.get_by_role("link", name="Deploy…").click()
    assert "Nothing happens until you confirm" in page.locator("main").inner_text()
    shot(page, screenshots, "confirm-deploy")
    page.get_by_role("button", name="Deploy now").click()
    page.wait_for_url(re.compile(r"/ui/runs/[0-9a-f-]+$"))
    # The page came while the hook still slept: the outcome says running, then changes.
    assert "running" in page.locator("#outcome").inner_text()
    page.locator("#outcome .status.succeeded").wait_for(timeout=60_000)
    log = page.locator("#log").inner_text()
    assert "backup done" in log  # printed two seconds after the page loaded
    # The whole run was swapped in as it moved, with no reload: headline, steps with
    # their times, the timeline to its end, how long it took.
    page.locator("#status .status.succeeded").wait_for(timeout=10_000)
    summary = page.locator("#run-summary").inner_text()
    assert "ended succeeded" in summary
    assert "Took" in summary
    assert "hook pre_deploy" in summary
    assert page.locator("#run-summary td.num").first.inner_text().endswith(" s")
    assert http_get(f"{stack.url}/version")[1].strip() == "v1"
    shot(page, screenshots, "run-succeeded")

    # A failing version: the gate fails, the run is rolled back, and says why.
    stack.write(images("bad500"))
    failed = deploy_from_the_intent_page(page, url)
    page.locator("#outcome .status.rolled_back").wait_for(timeout=90_000)
    reason = page.locator("#outcome").inner_text()
    assert "rolled back" in reason
    assert "HTTP 500" in reason or "500" in reason
    page.reload()
    assert "rolled_back" in page.locator("#status").inner_text()
    assert page.locator("section[aria-labelledby=gates-h] li.bad").count() >= 1
    shot(page, screenshots, "run-rolled-back")
    assert http_get(f"{stack.url}/version")[1].strip() == "v1"
    page.goto(f"{url}/ui/stacks")
    card = page.locator("section.card").first.inner_text()
    assert "needs attention" in card
    assert f"the last run (deploy_ui, {failed}) ended rolled_back" in card

    # The runs page lists both, and its filter finds the rolled back one.
    page.goto(f"{url}/ui/runs")
    page.get_by_label("Status").select_option("rolled_back")
    page.get_by_role("button", name="Filter").click()
    rows = page.locator("table.runs tbody tr")
    assert rows.count() == 1
    assert failed in rows.first.inner_text()
    shot(page, screenshots, "runs")

    # v2 deployed (through the API), then the rollback button, from the stacks page,
    # confirmed: back to v1.
    stack.write(images("v2"))
    assert service.post("/run", {"name": "deploy_ui", "wait": True}).status_code == 200
    assert http_get(f"{stack.url}/version")[1].strip() == "v2"
    page.goto(f"{url}/ui/stacks")
    shot(page, screenshots, "stacks")
    page.get_by_role("link", name=f"Roll back {stack.name}…").click()
    shot(page, screenshots, "confirm-rollback")
    page.get_by_role("button", name="Roll back now").click()
    page.wait_for_url(re.compile(r"/ui/runs/[0-9a-f-]+$"))
    page.locator("#outcome .status.succeeded").wait_for(timeout=60_000)
    assert "rollback-" in page.locator("h1").inner_text()
    assert http_get(f"{stack.url}/version")[1].strip() == "v1"
    page.goto(f"{url}/ui/stacks")
    assert "rolled back by run" in page.locator("section.card").first.inner_text()

    # A run that waits for ann's approval (asked through the API), approved here.
    asked = service.post("/run", {"name": "gated_ui"})
    assert asked.json()["status"] == "awaiting_approval", asked.text
    page.goto(f"{url}/ui/approvals")
    assert page.locator("nav .badge").inner_text() == "1"
    shot(page, screenshots, "approvals")
    page.get_by_role("button", name=re.compile("^Approve gated_ui")).click()
    page.wait_for_url(f"{url}/ui/runs/{asked.json()['id']}")
    assert "approve by ann via ui" in page.locator("section[aria-labelledby=approval-h]") \
        .inner_text()
    page.locator("#outcome .status.succeeded").wait_for(timeout=60_000)

    # A forged form (no CSRF token) is refused, and nothing runs.
    before = len(service.get("/runs?limit=100").json()["runs"])
    forged = page.request.post(f"{url}/ui/intents/deploy_ui/deploy",
                               form={"confirm": "yes"}, max_redirects=0)
    assert forged.status == 403
    assert "CSRF token" in forged.text()
    assert len(service.get("/runs?limit=100").json()["runs"]) == before

    # The audit trail: every act above, and its chain verifies.
    page.goto(f"{url}/ui/audit")
    assert "the hash chain of all" in page.locator("[role=status]").inner_text()
    trail = page.locator("table.audit").inner_text()
    assert "csrf_refused" in trail
    assert "invalid_password" in trail
    shot(page, screenshots, "audit")
    assert errors == [], errors
    assert {p.stem for p in screenshots.glob("*.png")} >= {
        "login", "stacks", "intent", "confirm-deploy", "run-succeeded", "run-rolled-back",
        "runs", "confirm-rollback", "approvals", "audit"}
