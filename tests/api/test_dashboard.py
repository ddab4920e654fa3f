"""The dashboard's edges against a real ``chatops serve`` (no engine needed): sign-in and
its lockout, the session cookie, CSRF on every form, scopes, the allowlist, safe
redirects, pages without JavaScript, and ``chatops users``."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from tests import served

PASSWORD = "a long enough password"


def add_user(state: Path, name: str, scopes: str, password: str = PASSWORD
             ) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "CHATOPS_STATE_DIR": str(state)}
    return subprocess.run([sys.executable, "-m", "chatops", "users", "add", name,
                           "--scopes", scopes, "--password-stdin"], input=password + "\n",
                          env=env, text=True, capture_output=True, check=False)


@pytest.fixture
def ui(tmp_path: Path):
    repo = tmp_path / "repo"
    (repo / "chatops" / "intents").mkdir(parents=True)
    (repo / "chatops" / "intents" / "deploy_web.yaml").write_text(
        "# Deploy web\n# The web stack.\nlabel_required: approved\naction: pull\n"
        "stack: web\n")
    (repo / "stacks" / "web").mkdir(parents=True)
    (repo / "stacks" / "web" / "docker-compose.yml").write_text(
        "services:\n  web:\n    image: nginx:1.27\n")
    state = tmp_path / "state"
    assert add_user(state, "ann", "read,run,audit").returncode == 0
    assert add_user(state, "viewer", "read").returncode == 0
    service = served.start(repo, state, env={
        "DOCKER_HOST": "unix:///nonexistent/docker.sock", "CHATOPS_LOCKOUT_FAILURES": "3"})
    try:
        yield service
    finally:
        service.stop()


def sign_in(service: served.Service, name: str = "ann", password: str = PASSWORD,
            client: httpx.Client | None = None) -> tuple[httpx.Client, httpx.Response]:
    client = client or httpx.Client(base_url=service.url)
    form = client.get("/ui/login")
    token = re.search(r'name="csrf" value="([^"]+)"', form.text)
    assert token is not None
    answer = client.post("/ui/login", data={"csrf": token.group(1), "name": name,
                                            "password": password, "next": "/ui/runs"})
    return client, answer


def csrf_of(page: str) -> str:
    found = re.search(r'name="csrf" value="([^"]+)"', page)
    assert found is not None
    return found.group(1)


def test_sign_in_sets_a_strict_session_and_pages_read_without_javascript(ui) -> None:
    anonymous = httpx.get(ui.url + "/ui/runs?status=failed")
    assert anonymous.status_code == 303
    assert anonymous.headers["location"] == "/ui/login?next=%2Fui%2Fruns%3Fstatus%3Dfailed"
    client, answer = sign_in(ui)
    assert answer.status_code == 303
    assert answer.headers["location"] == "/ui/runs"
    cookie = answer.headers["set-cookie"]
    assert "chatops_session=" in cookie
    assert "HttpOnly" in cookie
    assert "SameSite=strict" in cookie
    assert "Path=/ui" in cookie
    page = client.get("/ui/stacks")
    assert page.status_code == 200
    assert page.headers["cache-control"] == "no-store"
    assert "frame-ancestors 'none'" in page.headers["content-security-policy"]
    text = page.text
    # The engine is away: the stack says so instead of failing the page.
    assert "the Docker engine did not answer" in text
    assert "web: nginx:1.27" in text
    intent = client.get("/ui/intents/deploy_web").text
    assert "Plan for intent deploy_web" in intent
    assert "The web stack." in intent
    assert "Deploy…" in intent
    # Every form carries the session's token; the log page needs no script to read.
    assert client.get("/ui/approvals").status_code == 200
    assert client.get("/ui/audit").status_code == 200
    assert client.get("/ui/static/htmx.min.js").headers["content-type"].startswith(
        "text/javascript")
    assert client.get("/ui/static/../users.py").status_code == 404
    bad_filter = client.get("/ui/runs?status=nonsense")
    assert bad_filter.status_code == 422
    assert "is not a run status" in bad_filter.text


def test_wrong_passwords_count_in_the_lockout_and_are_audited(ui) -> None:
    for _ in range(3):
        _, answer = sign_in(ui, password="wrong password here")
        assert answer.status_code == 401
        assert "Wrong name or password." in answer.text
    locked = httpx.get(ui.url + "/ui/login")
    assert locked.status_code == 429
    assert locked.json()["error"]["code"] == "locked_out"
    # (read from another address: this one is locked out, whatever it sends)
    records = ui.get("/audit?limit=50", source="127.0.0.2").json()["records"]
    reasons = [r["reason"] or "" for r in records]
    assert sum(r.startswith("invalid_password") for r in reasons) == 3
    assert PASSWORD not in str(reasons)
    assert "wrong password here" not in str(reasons)


def test_forms_need_the_sessions_csrf_token_and_the_scope(ui) -> None:
    client, _ = sign_in(ui)
    forged = client.post("/ui/intents/deploy_web/deploy", data={"csrf": "guessed"})
    assert forged.status_code == 403
    assert "CSRF token" in forged.text
    none = client.post("/ui/intents/deploy_web/deploy", data={})
    assert none.status_code == 403
    assert ui.get("/runs").json()["runs"] == []
    # With the token the deploy runs (and fails: there is no engine), recorded as ann's.
    token = csrf_of(client.get("/ui/intents/deploy_web/deploy").text)
    done = client.post("/ui/intents/deploy_web/deploy", data={"csrf": token})
    assert done.status_code == 303
    run = ui.get("/runs").json()["runs"][0]
    assert (run["trigger"], run["actor"]) == ("ui", "ann")
    assert done.headers["location"] == f"/ui/runs/{run['id']}"
    # A read-only user sees the page but may not deploy; the refusal is recorded.
    viewer, _ = sign_in(ui, "viewer")
    token = csrf_of(viewer.get("/ui/intents/deploy_web/deploy").text)
    refused = viewer.post("/ui/intents/deploy_web/deploy", data={"csrf": token})
    assert refused.status_code == 403
    assert "may not start runs" in refused.text
    assert viewer.get("/ui/audit").status_code == 403
    records = ui.get("/audit?limit=50").json()["records"]
    assert any(r["key_name"] == "viewer" and r["decision"] == "refused" for r in records)
    assert any((r["reason"] or "").startswith("csrf_refused") for r in records)
    # Signing out ends the session on the server, not only in the browser.
    cookie = client.cookies.get("chatops_session")
    token = csrf_of(client.get("/ui/stacks").text)
    assert client.post("/ui/logout", data={"csrf": token}).status_code == 303
    again = httpx.get(ui.url + "/ui/stacks", cookies={"chatops_session": cookie or ""})
    assert again.status_code == 303


def test_sign_in_goes_only_to_dashboard_pages_and_the_allowlist_applies(tmp_path) -> None:
    repo = tmp_path / "repo"
    (repo / "chatops" / "intents").mkdir(parents=True)
    state = tmp_path / "state"
    assert add_user(state, "ann", "read").returncode == 0
    service = served.start(repo, state, env={"CHATOPS_IP_ALLOWLIST": "127.0.0.1/32"})
    try:
        client = httpx.Client(base_url=service.url)
        for target in ("https://evil.example/", "//evil.example/ui/", "/ui/../x"):
            token = csrf_of(client.get("/ui/login").text)
            answer = client.post("/ui/login", data={"csrf": token, "name": "ann",
                                                    "password": PASSWORD, "next": target})
            assert answer.headers["location"] == "/ui/stacks", target
        # The login form's own token must match its cookie.
        fresh = httpx.post(service.url + "/ui/login", data={
            "csrf": token, "name": "ann", "password": PASSWORD})
        assert fresh.status_code == 403
        outside = service.get("/ui/login", key=None, source="127.0.0.2")
        assert outside.status_code == 403
        assert outside.json()["error"]["code"] == "address_not_allowed"
    finally:
        service.stop()


def test_users_cli_checks_its_input(tmp_path: Path) -> None:
    state = tmp_path / "state"
    short = add_user(state, "bob", "read", password="short")
    assert short.returncode == 4
    assert "password: the password is shorter than 12 characters" in short.stderr
    scope = add_user(state, "bob", "read,deploy")
    assert scope.returncode == 4
    assert "--scopes: unknown scope 'deploy'" in scope.stderr
    name = add_user(state, "../bob", "read")
    assert "NAME: invalid user name" in name.stderr
    assert add_user(state, "bob", "read,approve").returncode == 0
    twice = add_user(state, "bob", "read")
    assert "exists already" in twice.stderr
    env = {**os.environ, "CHATOPS_STATE_DIR": str(state)}
    listed = subprocess.run([sys.executable, "-m", "chatops", "users", "list", "--format",
                             "json"], env=env, text=True, capture_output=True, check=True)
    assert '"name": "bob"' in listed.stdout
    assert PASSWORD not in listed.stdout
    db = (state / "chatops.sqlite3").read_bytes()
    assert PASSWORD.encode() not in db
    assert b"$argon2id$" in db
