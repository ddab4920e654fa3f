"""The intent contract: fields, defaults, per-action rules, and located error messages."""

from __future__ import annotations

import pytest

from chatops.errors import IntentError
from chatops.intents.loader import parse_intent
from chatops.intents.model import ContainerCheck, HttpCheck, TcpCheck
from chatops.problems import Problem
from tests.conftest import SEED_INTENT


def load(text: str, name: str = "intent"):
    return parse_intent(text, label=f"{name}.yaml", name=name)


def problems(text: str, name: str = "intent") -> list[Problem]:
    with pytest.raises(IntentError) as info:
        load(text, name)
    return info.value.problems


def one(text: str) -> Problem:
    found = problems(text)
    assert len(found) == 1, [p.render() for p in found]
    return found[0]


BASE = "label_required: approved\naction: rollout\nstack: stack-media\n"


def test_seed_intent_is_valid_and_keeps_its_comment_block() -> None:
    intent = load(SEED_INTENT, "rollout_stack_media")
    (doc,) = intent.documents
    assert (doc.label_required, doc.action, doc.stack, doc.service) == (
        "approved-by-gemini", "rollout", "stack-media", "plex")
    assert doc.compose == "/opt/stacks/stack-media/docker-compose.yml"
    assert doc.rollback_enabled is True
    assert doc.timeout == 600
    assert intent.description.splitlines() == [
        "Rollout Media Stack - Plex Update",
        "Purpose: Deploy Plex 1.40.5.8897 with subtitle rendering fixes",
        "Stack: stack-media (Plex, Sonarr, Radarr, Prowlarr, Transmission)",
        "Reference: STACK_MEDIA_CHECKLIST.md",
        "Post-deploy: Verify Plex :32400 responds and Uptime Kuma check passes",
    ]


def test_label_required_is_required() -> None:
    p = one("action: rollout\nstack: s\n")
    assert (p.field, p.message) == ("label_required", "required field is missing")


@pytest.mark.parametrize(("typo", "suggestion"), [
    ("servce", "service"), ("stak", "stack"), ("lable_required", "label_required"),
    ("replica", "replicas"), ("dependson", "depends_on"), ("timout", "timeout"),
])
def test_unknown_keys_suggest_the_field_meant(typo: str, suggestion: str) -> None:
    found = problems(BASE + f"{typo}: x\n")
    unknown = [p for p in found if p.field == typo]
    assert unknown[0].message == f"unknown field; did you mean '{suggestion}'?"
    assert unknown[0].line == 4


def test_unknown_key_with_no_close_match_lists_the_fields() -> None:
    p = one(BASE + "zzz: 1\n")
    assert p.message.startswith("unknown field; expected one of: label_required, action, stack")


def test_unknown_action_suggests_the_closest() -> None:
    p = one("label_required: l\naction: rollot\nstack: s\n")
    assert p.field == "action"
    assert "did you mean 'rollout'?" in p.message


@pytest.mark.parametrize("stack", ["Stack", "stack media", "-x", "a/b", "x" * 64, "../etc"])
def test_stack_must_be_a_slug(stack: str) -> None:
    p = one(f"label_required: l\naction: up\nstack: '{stack}'\n")
    assert p.field == "stack"
    assert "expected a stack slug" in p.message


def test_values_are_not_coerced_between_types() -> None:
    p = one("label_required: l\naction: scale\nstack: s\nservice: web\nreplicas: '3'\n")
    assert (p.field, p.message) == ("replicas", "expected a whole number, got a string")
    p = one("label_required: 5\naction: up\nstack: s\n")
    assert (p.field, p.message) == ("label_required", "expected a string, got a number")
    p = one(BASE + "rollback: 'yes'\n")
    assert p.message == "expected true or false, got a string"


@pytest.mark.parametrize("replicas", [-1, 1001])
def test_replicas_are_bounded(replicas: int) -> None:
    p = one(f"label_required: l\naction: scale\nstack: s\nservice: w\nreplicas: {replicas}\n")
    assert p.field == "replicas"


def test_scale_needs_service_and_replicas() -> None:
    found = problems("label_required: l\naction: scale\nstack: s\n")
    assert {(p.field, p.message) for p in found} == {
        ("service", "action scale needs the service to scale"),
        ("replicas", "action scale needs replicas (0 to 1000)"),
    }


def test_replicas_only_with_scale() -> None:
    p = one(BASE + "replicas: 2\n")
    assert (p.field, p.message) == ("replicas", "only applies to action scale, not rollout")


def test_down_is_refused_unless_destructive() -> None:
    p = one("label_required: l\naction: down\nstack: s\n")
    assert p.field == "destructive"
    assert "destructive: true" in p.message
    load("label_required: l\naction: down\nstack: s\ndestructive: true\n")


def test_down_of_one_service_is_refused() -> None:
    p = one("label_required: l\naction: down\nstack: s\ndestructive: true\nservice: web\n")
    assert p.field == "service"
    assert "use action stop" in p.message


def test_destructive_only_with_down() -> None:
    p = one(BASE + "destructive: true\n")
    assert p.field == "destructive"


def test_rollback_defaults() -> None:
    assert load(BASE).documents[0].rollback_enabled is True
    assert load(BASE + "rollback: false\n").documents[0].rollback_enabled is False
    assert load("label_required: l\naction: up\nstack: s\n").documents[0].rollback_enabled is False
    assert load("label_required: l\naction: up\nstack: s\nrollback: true\n").documents[
        0].rollback_enabled is True
    p = one("label_required: l\naction: pull\nstack: s\nrollback: true\n")
    assert p.field == "rollback"


@pytest.mark.parametrize(("text", "seconds"), [
    ("10m", 600), ("90s", 90), ("1h30m", 5400), ("500ms", 0.5), ("45", 45), ("2d", 172800),
])
def test_durations(text: str, seconds: float) -> None:
    assert load(BASE + f"timeout: '{text}'\n").documents[0].timeout == seconds


@pytest.mark.parametrize("bad", ["10x", "soon", "-5s", "0", "8d", "1.5.5m"])
def test_bad_durations_are_refused(bad: str) -> None:
    p = one(BASE + f"timeout: '{bad}'\n")
    assert p.field == "timeout"
    assert "duration" in p.message


def test_health_checks_of_each_kind() -> None:
    doc = load(BASE + """\
health:
  - http: http://127.0.0.1:32400/web
    status: 200-299
    body: Plex
    within: 60s
  - tcp: 127.0.0.1:32400
  - container: plex
    state: healthy
""").documents[0]
    http, tcp, container = doc.health
    assert isinstance(http, HttpCheck)
    assert (http.status, http.body, http.within) == ((200, 299), "Plex", 60)
    assert isinstance(tcp, TcpCheck)
    assert tcp.within == 60
    assert isinstance(container, ContainerCheck)
    assert container.state == "healthy"


@pytest.mark.parametrize(("status", "expected"), [
    ("200", (200, 200)), ("2xx", (200, 299)), ("'200-399'", (200, 399)), ("204", (204, 204)),
])
def test_http_status_forms(status: str, expected: tuple[int, int]) -> None:
    doc = load(BASE + f"health:\n  - http: http://127.0.0.1/\n    status: {status}\n").documents[0]
    assert doc.health[0].status == expected  # type: ignore[union-attr]


@pytest.mark.parametrize("url", [
    "ftp://host/", "127.0.0.1:80", "http://", "http://host:99999/", "javascript:alert(1)",
    "http://exa mple.com/",
])
def test_bad_urls_are_refused(url: str) -> None:
    p = one(BASE + f"health:\n  - http: '{url}'\n")
    assert p.field == "health[0].http"
    assert "URL" in p.message
    assert p.line == 5


def test_health_errors_point_at_the_field_inside_the_check() -> None:
    p = one(BASE + "health:\n  - http: http://127.0.0.1/\n    within: 60s\n    bdy: Plex\n")
    assert (p.field, p.line, p.column) == ("health[0].bdy", 7, 5)
    assert p.message == "unknown field; did you mean 'body'?"


def test_health_check_of_unknown_kind() -> None:
    p = one(BASE + "health:\n  - ping: 1.1.1.1\n")
    assert p.field == "health[0]"
    assert "one of the keys http, tcp, container or kuma" in p.message


def test_health_only_after_actions_that_leave_services_running() -> None:
    p = one("label_required: l\naction: stop\nstack: s\nhealth:\n  - tcp: 127.0.0.1:1\n")
    assert p.field == "health"


@pytest.mark.parametrize("compose", ["../../etc/passwd.yml", "stacks/../../x.yml"])
def test_relative_compose_path_may_not_leave_the_repo(compose: str) -> None:
    p = one(BASE + f"compose: '{compose}'\n")
    assert p.field == "compose"
    assert "may not leave the GitOps repository" in p.message


def test_compose_path_must_name_a_yaml_file() -> None:
    p = one(BASE + "compose: /opt/stacks/stack-media\n")
    assert "ending in .yml or .yaml" in p.message


def test_depends_on_names_are_intent_names() -> None:
    p = one(BASE + "depends_on: ['../secrets']\n")
    assert p.field == "depends_on[0]"


@pytest.mark.parametrize("name", ["bad name", "a.b", "ä", "x;rm"])
def test_file_name_must_be_a_valid_intent_name(name: str) -> None:
    found = problems(BASE, name=name)
    assert found[0].field == "file name"


def test_multi_document_files_are_steps_in_order() -> None:
    intent = load(BASE + "---\n" + BASE.replace("stack-media", "stack-home"))
    assert [d.stack for d in intent.documents] == ["stack-media", "stack-home"]
    assert intent.summary() == "rollout on stack-media; rollout on stack-home"


def test_errors_in_later_documents_are_numbered() -> None:
    p = one(BASE + "---\n" + BASE + "---\n" + BASE.replace("rollout", "rollot"))
    assert (p.doc, p.docs, p.line) == (3, 3, 10)
    assert p.render().startswith("intent.yaml (doc 3/3): action: expected one of")


def test_a_self_upgrade_names_the_service_it_rolls_out() -> None:
    p = one(BASE + "strategy: self-upgrade\n")
    assert (p.field, p.message) == (
        "service", "strategy self-upgrade needs the service chatops itself runs as")
    p = one("label_required: a\naction: restart\nstack: chatops\nservice: chatops\n"
            "strategy: self-upgrade\n")
    assert (p.field, p.message) == (
        "strategy", "self-upgrade applies to action rollout, not restart")
    upgrade = load(BASE + "service: chatops\nstrategy: self-upgrade\n")
    assert upgrade.documents[0].strategy == "self-upgrade"
