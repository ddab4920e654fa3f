"""The compose policy: each dangerous thing a compose file can ask of the host refused by
its rule, naming the file, service and field; exceptions lift a rule only for the intent
that names them and the stacks and services they match, never for a preview; included
and extended files are read too; the policy file's own mistakes are named."""

from __future__ import annotations

from pathlib import Path

import pytest

from chatops.errors import PolicyError
from chatops.intents.loader import parse_intent
from chatops.planning.uses import WorkTree
from chatops.policy import intent_violations
from chatops.repo import GitOpsRepo
from chatops.validation.validator import validate_paths

INTENT = "label_required: approved\naction: rollout\nstack: web\n"


def repo_with(tmp_path: Path, service: str, *, policy: str | None = None,
              intent: str = INTENT, extra: dict[str, str] | None = None) -> GitOpsRepo:
    (tmp_path / "chatops" / "intents").mkdir(parents=True, exist_ok=True)
    (tmp_path / "stacks" / "web").mkdir(parents=True, exist_ok=True)
    (tmp_path / "stacks" / "web" / "docker-compose.yml").write_text(
        "services:\n  app:\n    image: ghcr.io/me/app:1\n" + service)
    (tmp_path / "chatops" / "intents" / "deploy_web.yaml").write_text(intent)
    if policy is not None:
        (tmp_path / "chatops" / "policy.yaml").write_text(policy)
    for rel, text in (extra or {}).items():
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_text(text)
    return GitOpsRepo(tmp_path)


def refused(repo: GitOpsRepo, *, preview: bool = False) -> list[tuple[str, str, str]]:
    intent = parse_intent((repo.root / "chatops/intents/deploy_web.yaml").read_bytes(),
                          label="deploy_web.yaml", name="deploy_web")
    return [(v.rule, v.service, v.field)
            for v in intent_violations(intent, repo, WorkTree(repo.root), preview=preview)]


@pytest.mark.parametrize(("service", "expected"), [
    ("    privileged: true\n", ("privileged", "app", "privileged")),
    ("    privileged: ${PRIV:-true}\n", ("privileged", "app", "privileged")),
    ("    pid: host\n", ("host_pid", "app", "pid")),
    ("    ipc: host\n", ("host_ipc", "app", "ipc")),
    ("    network_mode: host\n", ("host_network", "app", "network_mode")),
    ("    cap_add: [NET_ADMIN]\n", ("cap_add", "app", "cap_add")),
    ("    devices: [/dev/dri:/dev/dri]\n", ("devices", "app", "devices")),
    ("    volumes: [/var/run/docker.sock:/var/run/docker.sock]\n",
     ("docker_socket", "app", "volumes[0]")),
    ("    volumes: [\"/:/host:ro\"]\n", ("root_mount", "app", "volumes[0]")),
    ("    volumes:\n      - type: bind\n        source: /etc\n        target: /e\n",
     ("etc_mount", "app", "volumes[0]")),
    ("    volumes: [/home/me/.ssh:/keys]\n", ("bind_outside_roots", "app", "volumes[0]")),
    ("    volumes: [\"${HOME}:/h\"]\n", ("bind_outside_roots", "app", "volumes[0]")),
    ("    volumes: [../../../x:/x]\n", ("bind_outside_roots", "app", "volumes[0]")),
    ("    security_opt: [seccomp=unconfined]\n", ("unconfined", "app", "security_opt")),
    ("    security_opt: [\"apparmor:unconfined\"]\n", ("unconfined", "app", "security_opt")),
    ("    volumes: [data:/d]\nvolumes:\n  data:\n    driver_opts: {type: none, o: bind, "
     "device: /root}\n", ("bind_outside_roots", "app", "volumes[0] (volume data)")),
])
def test_each_dangerous_thing_is_refused_by_its_rule(tmp_path: Path, service: str,
                                                     expected: tuple[str, str, str]) -> None:
    assert refused(repo_with(tmp_path, service)) == [expected]


def test_what_a_homelab_stack_usually_asks_passes(tmp_path: Path) -> None:
    repo = repo_with(tmp_path, "    volumes: [./config:/config, /srv/media:/media:ro, "
                     "cache:/cache]\n    user: \"1000:1000\"\n    cap_drop: [ALL]\n"
                     "    security_opt: [no-new-privileges:true]\nvolumes:\n  cache: {}\n")
    assert refused(repo) == []


def test_the_policy_file_sets_registries_digests_roots_and_root_user(tmp_path: Path) -> None:
    policy = ("registries: [registry.example.org]\npinned: true\nbind_roots: [/tank]\n"
              "forbid_root_user: true\n")
    repo = repo_with(tmp_path, "    user: root\n    volumes: [/srv/x:/x, /tank/y:/y]\n",
                     policy=policy)
    assert sorted(refused(repo)) == [("bind_outside_roots", "app", "volumes[0]"),
                                     ("registry", "app", "image"),
                                     ("root_user", "app", "user"),
                                     ("unpinned", "app", "image")]


def test_an_exception_lifts_a_rule_for_the_intent_that_names_it_never_a_preview(
        tmp_path: Path) -> None:
    policy = ("exceptions:\n  - name: proxy-socket\n    match: {stacks: [web], services: "
              "[app]}\n    allow: [docker_socket]\n    reason: traefik reads the labels\n"
              "  - name: other-stack\n    match: {stacks: [media]}\n    allow: [privileged]\n")
    service = "    volumes: [/var/run/docker.sock:/var/run/docker.sock:ro]\n    privileged: true\n"
    unnamed = repo_with(tmp_path, service, policy=policy)
    assert sorted(refused(unnamed)) == [("docker_socket", "app", "volumes[0]"),
                                        ("privileged", "app", "privileged")]
    named = repo_with(tmp_path, service, policy=policy, intent=INTENT
                      + "policy_exceptions: [proxy-socket, other-stack]\n")
    # other-stack matches media only: privileged stays refused on web.
    assert refused(named) == [("privileged", "app", "privileged")]
    assert sorted(refused(named, preview=True)) == [("docker_socket", "app", "volumes[0]"),
                                                    ("privileged", "app", "privileged")]


def test_included_and_extended_files_are_read_too(tmp_path: Path) -> None:
    repo = repo_with(tmp_path, "    extends: {file: base.yml, service: app}\ninclude:\n"
                     "  - extra/db.yml\n", extra={
                         "stacks/web/base.yml": "services:\n  app:\n    privileged: true\n",
                         "stacks/web/extra/db.yml": "services:\n  db:\n    image: postgres:16\n"
                                                    "    network_mode: host\n"})
    assert sorted(refused(repo)) == [("host_network", "db", "network_mode"),
                                     ("privileged", "app", "privileged")]
    outside = repo_with(tmp_path / "o", "include: [/etc/compose.yml]\n")
    assert refused(outside) == [("include", "-", "include")]


@pytest.mark.parametrize(("policy", "expected"), [
    ("pinned: maybe\n", "chatops/policy.yaml: pinned: Input should be a valid boolean"),
    ("exceptions:\n  - name: x\n    allow: [everything]\n",
     "chatops/policy.yaml: exceptions.0.allow: Value error, no rule named 'everything'"),
    ("registry: [a]\n", "chatops/policy.yaml: registry: Extra inputs are not permitted"),
    ("[a\n", "chatops/policy.yaml is not YAML"),
])
def test_a_wrong_policy_file_is_named(tmp_path: Path, policy: str, expected: str) -> None:
    with pytest.raises(PolicyError) as caught:
        refused(repo_with(tmp_path, "", policy=policy))
    assert caught.value.message.startswith(expected), caught.value.message


def test_an_exception_the_policy_lacks_is_named(tmp_path: Path) -> None:
    repo = repo_with(tmp_path, "", intent=INTENT + "policy_exceptions: [typo]\n")
    with pytest.raises(PolicyError) as caught:
        refused(repo)
    assert "policy_exceptions names 'typo', which chatops/policy.yaml does not define" in \
        caught.value.message


def test_validate_check_compose_reports_the_policy_like_any_problem(tmp_path: Path) -> None:
    repo = repo_with(tmp_path, "    privileged: true\n")
    report = validate_paths([repo.root / "chatops" / "intents"], repo_root=repo.root,
                            compose_checker=lambda paths: {})
    (result,) = report.files
    messages = [p.message for p in result.problems if p.field == "policy"]
    assert messages == ["the compose policy refuses stacks/web/docker-compose.yml: service "
                        "app: privileged: privileged: True (rule privileged)"]
    # Without --check-compose, the policy is not read (it is part of that check).
    plain = validate_paths([repo.root / "chatops" / "intents"], repo_root=repo.root)
    assert [p for p in plain.files[0].problems if p.field == "policy"] == []


def test_an_always_exception_needs_no_name_but_never_reaches_a_preview(tmp_path: Path) -> None:
    policy = ("exceptions:\n  - name: lan\n    match: {stacks: [web]}\n    allow: "
              "[host_network]\n    always: true\n")
    repo = repo_with(tmp_path, "    network_mode: host\n", policy=policy)
    assert refused(repo) == []
    assert refused(repo, preview=True) == [("host_network", "app", "network_mode")]
