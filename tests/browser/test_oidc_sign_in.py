"""Signing in to the dashboard through an OpenID Connect provider, in Debian's Chromium:
the sign-in page's button, the provider (a loopback one that signs real RS256 ID tokens),
back to the page asked for, as ``oidc:alice`` with the scopes the ``ops`` group maps to;
a page that needs a scope the group lacks is refused."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from tests import served
from tests.fakes.oidc import FakeOidc


def test_sign_in_through_the_identity_provider(browser: Any, tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    (repo / "chatops" / "intents").mkdir(parents=True)
    (repo / "stacks" / "web").mkdir(parents=True)
    (repo / "stacks" / "web" / "docker-compose.yml").write_text(
        "services:\n  web:\n    image: nginx:1\n")
    (repo / "chatops" / "intents" / "deploy_web.yaml").write_text(
        "label_required: approved\naction: rollout\nstack: web\n")
    provider = FakeOidc().start()
    service = served.start(repo, tmp_path / "state", env={
        "CHATOPS_OIDC_ISSUER": provider.issuer, "CHATOPS_OIDC_CLIENT_ID": provider.client_id,
        "CHATOPS_OIDC_CLIENT_SECRET": provider.client_secret,
        "CHATOPS_OIDC_SCOPES": json.dumps({"group:ops": ["read", "run"]})})
    page = browser.new_page()
    errors: list[str] = []
    page.on("console", lambda msg: errors.append(f"{msg.text} ({page.url})")
            if msg.type == "error" else None)
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    try:
        page.goto(f"{service.url}/ui/runs")
        assert "/ui/login" in page.url
        page.get_by_role("link", name="Sign in with your identity provider").click()
        page.wait_for_url(f"{service.url}/ui/runs")
        assert "oidc:alice" in page.locator("header").inner_text()
        assert errors == []
        cookie = next(c for c in browser.cookies() if c["name"] == "chatops_session")
        assert (cookie["httpOnly"], cookie["sameSite"]) == (True, "Strict")
        assert provider.tokens == 1
        # The ops group maps to read and run, not audit.
        page.goto(f"{service.url}/ui/audit")
        assert "lacks the 'audit' scope" in page.locator("[role=alert]").inner_text()
    finally:
        page.close()
        service.stop()
        provider.stop()
