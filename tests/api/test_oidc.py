"""Dashboard sign-in with OpenID Connect against a loopback provider that signs real ID
tokens (RS256, JWKS, discovery): a group mapped to scopes signs in; a token with a wrong
audience, an expired one, a wrong nonce, a state from another browser, a code used
twice, and a person whose groups map to nothing are each refused and audited."""

from __future__ import annotations

import json
from collections.abc import Iterator

import httpx
import pytest

from tests.fakes.oidc import FakeOidc


@pytest.fixture
def provider() -> Iterator[FakeOidc]:
    fake = FakeOidc().start()
    yield fake
    fake.stop()


def served(make_api, provider: FakeOidc, scopes: dict | None = None):
    return make_api(oidc_issuer=provider.issuer, oidc_client_id=provider.client_id,
                    oidc_client_secret=provider.client_secret,
                    oidc_scopes=json.dumps(scopes if scopes is not None else
                                           {"group:ops": ["read", "run", "approve"]}))


def through_provider(api) -> str:
    """Start at the dashboard, let the provider sign the person in: the callback's path."""
    start = api.client.get("/ui/login/oidc?next=/ui/runs", follow_redirects=False)
    assert start.status_code == 303, start.text
    location = start.headers["location"]
    assert location.startswith(api.client.app.app.state.services.settings.oidc_issuer)
    assert "code_challenge_method=S256" in location
    back = httpx.get(location, follow_redirects=False)
    assert back.status_code == 302
    callback = back.headers["location"]
    assert callback.startswith("http://testserver/ui/oidc/callback?")
    return callback.removeprefix("http://testserver")


def test_a_group_mapped_to_scopes_signs_in(make_api, provider: FakeOidc) -> None:
    api = served(make_api, provider)
    login = api.client.get("/ui/login")
    assert "Sign in with your identity provider" in login.text

    done = api.client.get(through_provider(api), follow_redirects=False)

    assert done.status_code == 200, done.text
    assert 'http-equiv="refresh" content="0;url=/ui/runs"' in done.text
    assert "chatops_session" in done.headers["set-cookie"]
    runs = api.client.get("/ui/runs")
    assert runs.status_code == 200
    assert "oidc:alice" in runs.text
    signed = [r for r in api.audit_rows() if r["endpoint"] == "/ui/oidc/callback"]
    assert signed[-1]["decision"] == "allowed"
    assert f"subject u-1001 at {provider.issuer}" in signed[-1]["reason"]
    assert "scopes run, read, approve" in signed[-1]["reason"]


@pytest.mark.parametrize(("flaw", "expected"), [
    ("audience", "the ID token is not valid"),
    ("expired", "the ID token is not valid"),
    ("nonce", "the ID token is not valid"),
])
def test_a_token_that_does_not_hold_is_refused(make_api, provider: FakeOidc, flaw: str,
                                               expected: str) -> None:
    api = served(make_api, provider)
    if flaw == "audience":
        provider.audience = "someone-else"
    elif flaw == "expired":
        provider.lifetime = -600
    else:
        provider.nonce = "not-the-nonce"

    done = api.client.get(through_provider(api), follow_redirects=False)

    assert done.status_code == 401, done.text
    assert expected in done.text
    assert "chatops_session" not in done.headers.get("set-cookie", "")
    assert api.client.get("/ui/runs", follow_redirects=False).status_code == 303
    refused = [r for r in api.audit_rows() if r["endpoint"] == "/ui/oidc/callback"]
    assert refused[-1]["decision"] == "refused"
    assert refused[-1]["reason"].startswith("oidc_refused: the ID token is not valid")


def test_a_state_from_another_browser_and_a_code_used_twice_are_refused(
        make_api, provider: FakeOidc) -> None:
    api = served(make_api, provider)
    callback = through_provider(api)
    api.client.cookies.delete("chatops_oidc", path="/ui/oidc")
    elsewhere = api.client.get(callback, follow_redirects=False)
    assert elsewhere.status_code == 401
    assert "does not match this browser" in elsewhere.text

    callback = through_provider(api)
    assert api.client.get(callback, follow_redirects=False).status_code == 200
    again = api.client.get(callback, follow_redirects=False)
    assert again.status_code == 401
    # Its state cookie went with the first use; with it back, the state is spent.
    assert "does not match this browser" in again.text
    state = callback.split("state=")[1].split("&")[0]
    api.client.cookies.set("chatops_oidc", state, path="/ui/oidc")
    spent = api.client.get(callback, follow_redirects=False)
    assert spent.status_code == 401
    assert "this sign-in was used or expired" in spent.text
    assert provider.tokens == 1


def test_a_person_whose_groups_map_to_nothing_is_refused(make_api,
                                                         provider: FakeOidc) -> None:
    api = served(make_api, provider, scopes={"group:admins": ["read"]})
    done = api.client.get(through_provider(api), follow_redirects=False)
    assert done.status_code == 403
    assert "maps none of their groups (ops) to a scope" in done.text
    rows = [r for r in api.audit_rows() if r["endpoint"] == "/ui/oidc/callback"]
    assert rows[-1]["reason"].startswith("oidc_no_scope")


def test_wrong_settings_stop_the_service_at_start(make_api, provider: FakeOidc) -> None:
    from chatops.errors import ConfigError

    with pytest.raises(ConfigError, match="CHATOPS_OIDC_SCOPES: 'ops' must be group:NAME"):
        served(make_api, provider, scopes={"ops": ["read"]})
