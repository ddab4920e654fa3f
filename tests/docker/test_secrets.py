"""Secrets kept in Git, on the real engine: SOPS files written by the real ``sops``,
opened by chatops in-process, given to Compose only for the run, never left anywhere."""

from __future__ import annotations

import json
import os
import sys
import textwrap
from pathlib import Path

import pytest

from tests.docker.conftest import DemoStack, docker, wait_for_http
from tests.docker.test_run import intent, last_run
from tests.sops_kit import SopsKit

pytestmark = pytest.mark.docker

DB_PASSWORD = "s3cr3t-db-password-7f2a"
API_TOKEN = "tok_0123456789abcdefghij"
FILE_SECRET = "file-secret-9c1d-e2f0"


@pytest.fixture(autouse=True)
def short_window(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CHATOPS_STABILITY_WINDOW", "0.5s")


@pytest.fixture
def kit(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> SopsKit:
    made = SopsKit.make(tmp_path / "keys")
    monkeypatch.setenv("CHATOPS_AGE_KEY_FILE", str(made.key_file))
    monkeypatch.setenv("CHATOPS_SECRETS_TMP", str(tmp_path / "shm"))
    return made


def write_stack(stack: DemoStack, kit: SopsKit, image: str, *, version: str,
                password: str = DB_PASSWORD) -> None:
    """The demo service: VERSION comes from the encrypted .env (interpolation), the
    database password from an encrypted env_file, and a Compose secret from an encrypted
    file."""
    stack.dir.mkdir(parents=True, exist_ok=True)
    stack.compose_file.write_text(textwrap.dedent(f"""\
        name: {stack.name}
        services:
          web:
            image: {image}
            network_mode: host
            init: true
            environment:
              PORT: "{stack.port}"
              VERSION: "${{APP_VERSION}}"
            env_file: app.env
            secrets: [db]
        secrets:
          db:
            file: ./db_password.txt
        """))
    kit.encrypt(stack.dir / ".env", f"APP_VERSION={version}\n")
    kit.encrypt(stack.dir / "app.env", f"DB_PASSWORD={password}\nAPI_TOKEN={API_TOKEN}\n")
    kit.encrypt(stack.dir / "db_password.txt", FILE_SECRET)


def container(stack: DemoStack) -> str:
    done = docker("compose", "-p", stack.name, "ps", "-q", "web")
    return done.stdout.split()[0]


def exec_in(stack: DemoStack, *argv: str) -> str:
    return docker("exec", container(stack), *argv).stdout


def env_of(stack: DemoStack) -> list[str]:
    found: list[str] = json.loads(docker("inspect", "-f", "{{json .Config.Env}}",
                                         container(stack)).stdout)
    return found


def files_holding(root: Path, needles: list[str]) -> list[str]:
    found = []
    for path in root.rglob("*"):
        if path.is_file() and not path.is_symlink():
            try:
                data = path.read_bytes()
            except OSError:
                continue
            found += [f"{path}: {n}" for n in needles if n.encode() in data]
    return found


def deployed_then_changed(cli, stack: DemoStack, kit: SopsKit, images, *, version: str,
                          changed: str) -> str:
    """v1 deployed with its secrets (serving ``version``), then v2 written with new ones
    (``changed``), not deployed; the container that serves v1."""
    write_stack(stack, kit, images("v1"), version=version)
    intent(stack)
    assert cli("run", "--repo", str(stack.root), "deploy").code == 0
    write_stack(stack, kit, images("v2"), version=changed)
    return container(stack)


def test_a_stack_with_encrypted_env_and_secrets_deploys_and_leaves_no_plain_text(
        cli, demo_stack: DemoStack, images, kit: SopsKit, tmp_path: Path) -> None:
    version = "sealed-v1-3b9e"
    write_stack(demo_stack, kit, images("v1"), version=version)
    intent(demo_stack)
    for name in (".env", "app.env", "db_password.txt"):  # committed encrypted
        assert DB_PASSWORD.encode() not in (demo_stack.dir / name).read_bytes()
        assert b"ENC[AES256_GCM" in (demo_stack.dir / name).read_bytes()

    result = cli("run", "--repo", str(demo_stack.root), "deploy")

    assert result.code == 0, result.out + result.err
    # Interpolation from the encrypted .env: the service serves it.
    assert wait_for_http(demo_stack.url + "/version", version).strip() == version
    env = env_of(demo_stack)
    assert f"DB_PASSWORD={DB_PASSWORD}" in env
    assert f"API_TOKEN={API_TOKEN}" in env
    assert not any(e.startswith("sops_") for e in env)  # the metadata is not a variable
    assert exec_in(demo_stack, "cat", "/run/secrets/db") == FILE_SECRET
    # Nothing decrypted anywhere: the checkout, the state, the staging tmpfs, the output.
    needles = [DB_PASSWORD, API_TOKEN, FILE_SECRET, version]
    state = Path(os.environ["CHATOPS_STATE_DIR"])
    assert files_holding(demo_stack.root, needles) == []
    assert files_holding(state, needles) == []
    assert not any((tmp_path / "shm").iterdir())  # staged copies removed at the step's end
    assert all(n not in result.out + result.err for n in needles)
    shown = cli("runs", "show", last_run(demo_stack).id, "--json")
    assert all(n not in shown.out for n in needles)
    # The snapshot says which secret files (by hash) the deploy used, never a value.
    run = last_run(demo_stack)
    used = run.snapshots[-1]["secrets"]
    assert set(used) == {f"{demo_stack.name}/{n}" for n in (".env", "app.env",
                                                            "db_password.txt")}
    assert all(len(entry["sha256"]) == 64 for entry in used.values())
    # A container restart keeps its secret (it was copied in, not bound from a tmpfs).
    docker("restart", "-t", "1", container(demo_stack))
    assert wait_for_http(demo_stack.url + "/version", version).strip() == version
    assert exec_in(demo_stack, "cat", "/run/secrets/db") == FILE_SECRET


def test_a_failed_deploy_rolls_back_with_the_secrets_it_was_deployed_with(
        cli, demo_stack: DemoStack, images, kit: SopsKit) -> None:
    write_stack(demo_stack, kit, images("v1"), version="first-secret-1a")
    intent(demo_stack)
    assert cli("run", "--repo", str(demo_stack.root), "deploy").code == 0
    wait_for_http(demo_stack.url + "/version", "first-secret-1a")

    # The next commit changes the secret and brings an image that fails its health gate.
    write_stack(demo_stack, kit, images("bad500"), version="second-secret-2b",
                password="another-db-password-2b")
    result = cli("run", "--repo", str(demo_stack.root), "deploy")

    assert result.code != 0
    assert last_run(demo_stack).status == "rolled_back"
    # The previous image runs again, with the previous secret.
    assert wait_for_http(demo_stack.url + "/version", "first-secret-1a").strip() == \
        "first-secret-1a"
    assert f"DB_PASSWORD={DB_PASSWORD}" in env_of(demo_stack)
    assert "another-db-password-2b" not in result.out + result.err


def test_a_tampered_secret_is_refused_before_anything_changes(
        cli, demo_stack: DemoStack, images, kit: SopsKit) -> None:
    before = deployed_then_changed(cli, demo_stack, kit, images, version="kept-1c",
                                   changed="never-served-3d")
    app_env = demo_stack.dir / "app.env"
    lines = app_env.read_text().splitlines(keepends=True)
    app_env.write_text("".join(lines[1:]))  # a value removed: the MAC no longer verifies
    result = cli("run", "--repo", str(demo_stack.root), "deploy")

    assert result.code != 0
    run = last_run(demo_stack)
    assert run.status == "failed"
    assert f"{demo_stack.name}/app.env: its MAC does not verify" in run.reason
    assert "nothing was changed" in run.reason
    assert container(demo_stack) == before  # the same container, untouched
    assert wait_for_http(demo_stack.url + "/version", "kept-1c").strip() == "kept-1c"


def test_a_host_without_the_key_is_refused_naming_the_file_and_its_recipients(
        cli, demo_stack: DemoStack, images, kit: SopsKit, *, tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    write_stack(demo_stack, kit, images("v1"), version="unreadable-4e")
    intent(demo_stack)
    other = SopsKit.make(tmp_path / "other")
    monkeypatch.setenv("CHATOPS_AGE_KEY_FILE", str(other.key_file))

    result = cli("run", "--repo", str(demo_stack.root), "deploy")

    assert result.code != 0
    reason = last_run(demo_stack).reason
    assert f"{demo_stack.name}/.env: none of this host's age identities can decrypt it" \
        in reason
    assert kit.recipient in reason
    assert other.recipient in reason
    assert docker("compose", "-p", demo_stack.name, "ps", "-q").stdout.strip() == ""


def test_secret_references_resolve_through_vault_into_the_run_only(
        cli, demo_stack: DemoStack, images, kit: SopsKit, *,
        monkeypatch: pytest.MonkeyPatch) -> None:
    from tests.fakes.vault import FakeVault

    vault = FakeVault()
    vault.secrets["secret/shop/db"] = {"password": "vault-db-pass-5f6a", "user": "app"}
    vault.secrets["secret/shop/version"] = {"value": "from-vault-6b7c"}
    monkeypatch.setenv("CHATOPS_VAULT_ADDR", vault.url)
    monkeypatch.setenv("CHATOPS_VAULT_TOKEN", vault.token)
    try:
        write_stack(demo_stack, kit, images("v1"), version="unused")
        # Git holds references only: a plain .env and an encrypted env_file may name them.
        (demo_stack.dir / ".env").write_text("APP_VERSION=secret://vault/secret/shop/version\n")
        kit.encrypt(demo_stack.dir / "app.env",
                    "DB_PASSWORD=secret://vault/secret/shop/db#password\nAPI_TOKEN=x\n")
        intent(demo_stack)

        result = cli("run", "--repo", str(demo_stack.root), "deploy")

        assert result.code == 0, result.out + result.err
        assert wait_for_http(demo_stack.url + "/version", "from-vault-6b7c").strip() == \
            "from-vault-6b7c"
        assert "DB_PASSWORD=vault-db-pass-5f6a" in env_of(demo_stack)
        needles = ["vault-db-pass-5f6a", "from-vault-6b7c"]
        assert files_holding(Path(os.environ["CHATOPS_STATE_DIR"]), needles) == []
        assert files_holding(demo_stack.root, needles) == []
        shown = cli("runs", "show", last_run(demo_stack).id, "--json").out
        assert all(n not in shown for n in needles)
        assert [p for m, p in vault.requests if m == "GET"] == [
            "/v1/secret/data/shop/version", "/v1/secret/data/shop/db"]

        # A reference Vault cannot answer fails the run before anything changes.
        before = container(demo_stack)
        (demo_stack.dir / ".env").write_text("APP_VERSION=secret://vault/secret/shop/gone\n")
        failed = cli("run", "--repo", str(demo_stack.root), "deploy")
        assert failed.code != 0
        reason = last_run(demo_stack).reason
        assert "secret://vault/secret/shop/gone: Vault has no secret at " \
            "/v1/secret/data/shop/gone" in reason
        assert "nothing was changed" in reason
        assert container(demo_stack) == before
    finally:
        vault.close()


def test_hooks_read_the_steps_decrypted_files_while_it_runs(
        cli, demo_stack: DemoStack, images, kit: SopsKit, tmp_path: Path) -> None:
    write_stack(demo_stack, kit, images("v1"), version="hooked-8e")
    hook = tmp_path / "hook.py"
    out = tmp_path / "hook-out.json"
    hook.write_text(textwrap.dedent(f"""\
        import json, os, pathlib
        folder = pathlib.Path(os.environ["CHATOPS_SECRETS_DIR"])
        found = (folder / "app.env").read_text()
        json.dump({{"dir": str(folder), "ok": "DB_PASSWORD={DB_PASSWORD}" in found,
                   "files": sorted(p.name for p in folder.iterdir())}},
                  open({str(out)!r}, "w"))
        """))
    intent(demo_stack, extra=f"hooks:\n  pre_deploy:\n    - run: [{sys.executable!r}, "
                             f"{str(hook)!r}]\n")

    result = cli("run", "--repo", str(demo_stack.root), "deploy")

    assert result.code == 0, result.out + result.err
    seen = json.loads(out.read_text())
    assert seen["ok"] is True
    assert seen["files"] == [".env", "app.env", "db_password.txt"]
    assert not Path(seen["dir"]).exists()  # gone with the step


def test_blue_green_slots_get_their_secrets(cli, bg, haproxy, images, kit: SopsKit) -> None:
    from tests.docker.bluegreen import last_run as bg_last_run

    def write(image: str, version: str) -> None:
        bg.dir.mkdir(parents=True, exist_ok=True)
        (bg.dir / "docker-compose.yml").write_text(textwrap.dedent(f"""\
            services:
              web:
                image: {image}
                network_mode: host
                init: true
                environment:
                  PORT: "${{CHATOPS_SLOT_PORT:?chatops sets it for each slot}}"
                  VERSION: "${{APP_VERSION}}"
                env_file: app.env
            """))
        kit.encrypt(bg.dir / ".env", f"APP_VERSION={version}\n")
        kit.encrypt(bg.dir / "app.env", f"DB_PASSWORD={DB_PASSWORD}\n")

    write(images("v1"), "bg-sealed-1")
    bg.intent()
    assert cli("traffic", "config", "web", "--repo", str(bg.root), "--write").code == 0
    haproxy.start()
    first = cli("run", "web", "--repo", str(bg.root), "--local")
    assert first.code == 0, first.out + first.err
    assert wait_for_http(bg.url + "/version", "bg-sealed-1").strip() == "bg-sealed-1"

    write(images("v2"), "bg-sealed-2")
    second = cli("run", "web", "--repo", str(bg.root), "--local")
    assert second.code == 0, second.out + second.err
    assert wait_for_http(bg.url + "/version", "bg-sealed-2").strip() == "bg-sealed-2"
    record = bg_last_run(bg)
    assert (record.traffic["before"], record.traffic["after"]) == ("green", "blue")
    (new,) = bg.containers("blue")
    env = json.loads(docker("inspect", "-f", "{{json .Config.Env}}", new["ID"]).stdout)
    assert f"DB_PASSWORD={DB_PASSWORD}" in env
    assert all(DB_PASSWORD not in text for text in (first.out, second.out, second.err))


def test_the_rollback_action_goes_back_with_the_secrets_of_that_deploy(
        cli, demo_stack: DemoStack, images, kit: SopsKit) -> None:
    write_stack(demo_stack, kit, images("v1"), version="kept-v1-9a")
    intent(demo_stack)
    assert cli("run", "--repo", str(demo_stack.root), "deploy").code == 0
    write_stack(demo_stack, kit, images("v2"), version="newer-v2-9b",
                password="newer-db-password-9b")
    assert cli("run", "--repo", str(demo_stack.root), "deploy").code == 0
    assert wait_for_http(demo_stack.url + "/version", "newer-v2-9b")
    (demo_stack.root / "chatops" / "intents" / "back.yaml").write_text(
        f"label_required: approved\naction: rollback\nstack: {demo_stack.name}\n"
        "service: web\n")

    result = cli("run", "--repo", str(demo_stack.root), "back")

    assert result.code == 0, result.out + result.err
    # The first deploy's image, with the secrets it was deployed with (the files in the
    # checkout still hold the newer ones).
    assert wait_for_http(demo_stack.url + "/version", "kept-v1-9a").strip() == "kept-v1-9a"
    assert f"DB_PASSWORD={DB_PASSWORD}" in env_of(demo_stack)
    assert exec_in(demo_stack, "cat", "/run/secrets/db") == FILE_SECRET


def test_an_encrypted_compose_file_deploys_with_paths_as_they_were(
        cli, demo_stack: DemoStack, images, kit: SopsKit) -> None:
    demo_stack.dir.mkdir(parents=True, exist_ok=True)
    (demo_stack.dir / "page.txt").write_text("bound from the stack folder\n")
    plain = textwrap.dedent(f"""\
        name: {demo_stack.name}
        services:
          web:
            image: {images("v1")}
            network_mode: host
            init: true
            ports: []
            volumes:
              - ./page.txt:/page.txt:ro
            environment:
              PORT: "{demo_stack.port}"
              VERSION: compose-sealed-0f
              DB_PASSWORD: {DB_PASSWORD}
        """)
    kit.encrypt(demo_stack.compose_file, plain, kind="yaml",
                extra=("--encrypted-regex", "^(VERSION|DB_PASSWORD)$"))
    assert DB_PASSWORD.encode() not in demo_stack.compose_file.read_bytes()
    intent(demo_stack)

    result = cli("run", "--repo", str(demo_stack.root), "deploy")

    assert result.code == 0, result.out + result.err
    assert wait_for_http(demo_stack.url + "/version", "compose-sealed-0f").strip() == \
        "compose-sealed-0f"
    assert f"DB_PASSWORD={DB_PASSWORD}" in env_of(demo_stack)
    # The relative bind still means the stack's folder.
    assert exec_in(demo_stack, "cat", "/page.txt") == "bound from the stack folder\n"
    labels = json.loads(docker("inspect", "-f", "{{json .Config.Labels}}",
                               container(demo_stack)).stdout)
    assert labels["com.docker.compose.project"] == demo_stack.name
    assert DB_PASSWORD not in result.out + result.err


def test_a_self_upgrade_of_a_stack_with_secrets_is_refused_before_anything_changes(
        cli, demo_stack: DemoStack, images, kit: SopsKit) -> None:
    before = deployed_then_changed(cli, demo_stack, kit, images, version="kept-5e",
                                   changed="never-served-6f")
    intent(demo_stack, "upgrade", extra="strategy: self-upgrade\n")
    result = cli("run", "--repo", str(demo_stack.root), "upgrade")

    assert result.code != 0
    run = last_run(demo_stack)
    assert run.status == "failed"
    assert "strategy self-upgrade cannot give chatops's own service its secrets" in run.reason
    assert "nothing was changed" in run.reason
    assert container(demo_stack) == before
    assert wait_for_http(demo_stack.url + "/version", "kept-5e").strip() == "kept-5e"
