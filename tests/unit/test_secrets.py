"""SOPS files read in-process, against files the real ``sops`` wrote; and plain secrets
refused by ``chatops validate``."""

from __future__ import annotations

import json
import subprocess
import textwrap
from pathlib import Path

import pytest
import yaml

from chatops.errors import SecretError
from chatops.secrets.documents import sops_format
from chatops.secrets.keys import load_keys
from chatops.secrets.scan import scan_text
from chatops.secrets.sops import open_sops
from chatops.secrets.staging import find_secrets
from tests.sops_kit import SopsKit


@pytest.fixture
def kit(tmp_path: Path) -> SopsKit:
    return SopsKit.make(tmp_path / "keys")


def test_what_chatops_decrypts_is_what_sops_decrypts(kit: SopsKit, tmp_path: Path) -> None:
    keys = load_keys([kit.key_file])
    docs: dict[str, str | bytes] = {
        "a.yaml": "db:\n  password: hunter2-long\n  port: 5432\n  ratio: 1.5\n  on: yes\n"
                  "list:\n  - a\n  - 3\nname_unencrypted: plain\n",
        "b.json": json.dumps({"a": {"b": "x", "n": 1, "f": 2.5, "t": True}, "l": ["y", 2]}),
        "c.env": "A=1\n# note\nB=with=equals\nC=\nD=multi\\nline\n",
        "d.bin": b"\x00\x01binary\xff",
    }
    for name, plain in docs.items():
        path = tmp_path / name
        kit.encrypt(path, plain)
        opened = open_sops(path.read_bytes(), keys, name)
        reference = kit.decrypt(path)
        if name.endswith(".yaml"):
            assert yaml.safe_load(opened.plain) == yaml.safe_load(reference)
            assert "hunter2-long" in opened.values
            assert "name_unencrypted" not in opened.keys  # left plain by sops's rule
        elif name.endswith(".json"):
            assert json.loads(opened.plain) == json.loads(reference)
        elif name.endswith(".env"):
            assert opened.plain.splitlines() == [
                line for line in reference.splitlines() if not line.startswith(b"#")]
        else:
            assert opened.plain == reference


def test_only_some_values_encrypted_as_the_file_says(kit: SopsKit, tmp_path: Path) -> None:
    path = tmp_path / "c.yaml"
    kit.encrypt(path, "user: app\npassword: p4ssw0rd-long\nport: 5432\n",
                extra=("--encrypted-regex", "^password$"))
    opened = open_sops(path.read_bytes(), load_keys([kit.key_file]), "c.yaml")
    assert yaml.safe_load(opened.plain) == {"user": "app", "password": "p4ssw0rd-long",
                                            "port": 5432}
    assert opened.keys == ("password",)


def test_bad_files_are_refused_naming_the_file(kit: SopsKit, tmp_path: Path) -> None:
    keys = load_keys([kit.key_file])
    path = tmp_path / "app.env"
    data = kit.encrypt(path, "DB_PASSWORD=hunter2-long\nAPI_TOKEN=abcdef-123456\n")
    lines = data.decode().splitlines(keepends=True)
    cases = {
        "a value dropped": "".join(lines[1:]),
        "a value added": data.decode() + "EXTRA=1\n",
        "a value moved to another key": data.decode().replace("DB_PASSWORD=", "DB_PASS=", 1),
        "the MAC replaced": "".join(
            line if not line.startswith("sops_mac=") else
            "sops_mac=" + next(x for x in lines if x.startswith("API_TOKEN=")).split("=", 1)[1]
            for line in lines),
    }
    for what, text in cases.items():
        with pytest.raises(SecretError, match=r"^app\.env: ") as caught:
            open_sops(text.encode(), keys, "app.env")
        assert "hunter2" not in caught.value.message, what
    other = SopsKit.make(tmp_path / "other")
    with pytest.raises(SecretError, match=kit.recipient) as caught:
        open_sops(data, load_keys([other.key_file]), "app.env")
    assert other.recipient in caught.value.message
    with pytest.raises(SecretError, match="no age identity is configured"):
        open_sops(data, load_keys([]), "app.env")


def test_a_truncated_file_is_refused_not_taken_for_a_plain_one(kit: SopsKit,
                                                             tmp_path: Path) -> None:
    stack = tmp_path / "stacks" / "web"
    stack.mkdir(parents=True)
    (stack / "docker-compose.yml").write_text("services:\n  web:\n    image: x\n"
                                              "    env_file: app.env\n")
    data = kit.encrypt(stack / "app.env", "DB_PASSWORD=hunter2-long\n")
    (stack / "app.env").write_bytes(data[: data.index(b"sops_")])
    assert sops_format((stack / "app.env").read_bytes()) is None
    with pytest.raises(SecretError, match=r"web/app\.env: it holds SOPS values but no sops "
                                          r"metadata"):
        find_secrets(stack / "docker-compose.yml", lambda: load_keys([kit.key_file]))


def test_a_bad_identity_file_names_the_file_and_line(tmp_path: Path) -> None:
    from chatops.errors import ConfigError

    bad = tmp_path / "age.key"
    bad.write_text("# created: today\nAGE-SECRET-KEY-1NOTAKEY\n")
    with pytest.raises(ConfigError, match=rf"{bad}, line 2: not a valid age identity"):
        load_keys([bad])


@pytest.mark.parametrize(("line", "rule"), [
    ("DB_PASSWORD=hunter2hunter", "secret-key-name"),
    ("  MYSQL_ROOT_PASSWORD: 'pa55word!'", "secret-key-name"),
    ("      - API_KEY=abcdef123456", "secret-key-name"),
    ("SESSION_SEED=q8Zr4LmP0xWv2NbT7kYs9HcJ", "high-entropy"),
    ("GH=ghp_" + "a1B2" * 9, "github-token"),
    ("AWS_ID=AKIAIOSFODNN7EXAMPLE", "aws-access-key"),
    ("-----BEGIN OPENSSH PRIVATE KEY-----", "private-key"),
    ("DATABASE_URL=postgres://app:pw123@db/app", "url-password"),
    ("NOTIFY=https://discord.com/api/webhooks/123456/abcdefghijklmnopqrstuvwxyz", "chat-webhook"),
])
def test_plain_secrets_are_found_by_rule(line: str, rule: str) -> None:
    (finding,) = scan_text("x.env", line + "\n")
    assert finding.rule == rule
    assert finding.line == 1
    assert "hunter2" not in finding.render()


@pytest.mark.parametrize("line", [
    "DB_PASSWORD=", "DB_PASSWORD=${FROM_HOST}", "API_TOKEN=secret://vault/app#token",
    "DB_PASSWORD_FILE=/run/secrets/db", "TOKEN_TTL=3600", "AUTH_ENABLED=true",
    "DB_PASSWORD=hunter2hunter  # chatops: not-secret", "# DB_PASSWORD=hunter2hunter",
    "    image: plexinc/pms-docker:1.40.5.8897",
    "    image: registry.local/app@sha256:" + "ab" * 32,
    "DB_PASSWORD=ENC[AES256_GCM,data:abc,iv:def,tag:ghi,type:str]",
])
def test_what_is_not_a_plain_secret(line: str) -> None:
    assert list(scan_text("x.env", line + "\n")) == []


def _git(root: Path, *args: str) -> None:
    subprocess.run(["git", "-C", str(root), *args], check=True, capture_output=True)


def test_validate_fails_on_a_committed_plain_secret_and_passes_once_encrypted(
        cli, kit: SopsKit, tmp_path: Path) -> None:
    repo = tmp_path / "g"
    assert cli("init", str(repo)).code == 0
    env = repo / "stacks" / "example" / ".env"
    env.write_text("TZ=UTC\nDB_PASSWORD=hunter2hunter\n")
    local = repo / "stacks" / "example" / "local.env"
    (repo / "stacks" / "example" / "docker-compose.yml").write_text(textwrap.dedent("""\
        services:
          web:
            image: nginx:1.27
            env_file: [local.env]
        """))
    local.write_text("API_TOKEN=only-on-this-host-123\n")
    _git(repo, "init", "-q")
    _git(repo, "add", "-A")
    _git(repo, "reset", "-q", "stacks/example/local.env")  # a host's own, not committed

    result = cli("validate", "--repo", str(repo))

    assert result.code == 1
    assert ("✗ rollout_example.yaml: secrets: stacks/example/.env, line 2: DB_PASSWORD "
            "holds a value under a secret's name in plain text (rule secret-key-name)") \
        in result.out
    assert "hunter2" not in result.out
    assert "local.env" not in result.out  # not committed: not what the repository says

    kit.encrypt(env, "TZ=UTC\nDB_PASSWORD=hunter2hunter\n")
    assert cli("validate", "--repo", str(repo)).code == 0

    # .sops.yaml's creation rules: a file they match must be encrypted.
    (repo / ".sops.yaml").write_text("creation_rules:\n  - path_regex: .*\\.env$\n"
                                     f"    age: {kit.recipient}\n")
    _git(repo, "add", "stacks/example/local.env")
    ruled = cli("validate", "--repo", str(repo))
    assert ruled.code == 1
    assert "stacks/example/local.env: it holds a value .sops.yaml says must be encrypted" \
        in ruled.out


def test_files_chatops_writes_are_read_back_by_sops(kit: SopsKit, tmp_path: Path) -> None:
    from chatops.secrets.sealing import seal

    keys = load_keys([kit.key_file])
    other = SopsKit.make(tmp_path / "other")
    cases: dict[str, str | bytes] = {
        "a.yaml": "db:\n  password: hunter2-long\n  port: 5432\n  ratio: 1.5\n  ok: true\n"
                  "list: [a, 3]\nname_unencrypted: plain\n",
        "b.json": json.dumps({"a": {"b": "x", "n": 1}, "l": ["y", 2.5]}),
        "c.env": "A=1\nB=with=equals\nC=\nD=multi\\nline\n",
        "d.bin": b"\x00\x01binary\xff",
    }
    for name, plain in cases.items():
        path = tmp_path / name
        kit.encrypt(path, plain)
        opened = open_sops(path.read_bytes(), keys, name)
        # Rotated: a new data key, for both recipients; sops itself reads it.
        path.write_bytes(seal(opened.tree, opened.format, [kit.recipient, other.recipient],
                              rules=opened.meta))
        reread = open_sops(path.read_bytes(), load_keys([other.key_file]), name)
        assert reread.plain == opened.plain, name
        assert kit.decrypt(path) == SopsKit(other.key_file, other.recipient).decrypt(path)
        if name.endswith(".bin"):
            assert kit.decrypt(path) == plain
        elif name.endswith(".env"):
            assert kit.decrypt(path) == opened.plain
        else:
            loads = json.loads if name.endswith(".json") else yaml.safe_load
            assert loads(kit.decrypt(path)) == loads(opened.plain)


def test_secrets_tools_from_init_to_rotate(cli, tmp_path: Path,
                                           monkeypatch: pytest.MonkeyPatch) -> None:
    import stat
    import sys

    repo = tmp_path / "g"
    assert cli("init", str(repo)).code == 0
    key_file = tmp_path / "host" / "age.key"
    monkeypatch.setenv("CHATOPS_AGE_KEY_FILE", str(key_file))
    made = cli("secrets", "init", "--repo", str(repo))
    assert made.code == 0, made.err
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    recipient = next(line.split(": ", 1)[1] for line in made.out.splitlines()
                     if line.startswith("public key: "))
    assert recipient in (repo / ".sops.yaml").read_text()
    again = cli("secrets", "init", "--repo", str(repo))  # never a second identity
    assert f"public key: {recipient}" in again.out
    assert "exists already" in again.out

    # edit without sops: $EDITOR writes the plain text, chatops encrypts it back.
    editor = tmp_path / "editor"
    editor.write_text(f"#!{sys.executable}\nimport sys\n"
                      "open(sys.argv[1], 'w').write('DB_PASSWORD=edited-pass-99\\n')\n")
    editor.chmod(0o755)
    monkeypatch.setenv("EDITOR", str(editor))
    monkeypatch.setenv("CHATOPS_SECRETS_TMP", str(tmp_path / "shm"))
    env = repo / "stacks" / "example" / ".env"
    edited = cli("secrets", "edit", str(env), "--repo", str(repo), "--without-sops")
    assert edited.code == 0, edited.err
    assert b"edited-pass-99" not in env.read_bytes()
    kit = SopsKit(key_file, recipient)
    assert kit.decrypt(env) == b"DB_PASSWORD=edited-pass-99\n"  # the real sops reads it
    assert list((tmp_path / "shm").iterdir()) == []  # the plain copy is gone
    assert cli("validate", "--repo", str(repo)).code == 0

    # Another host's key: it reads every file after add-recipient, same data key.
    other = SopsKit.make(tmp_path / "other")
    added = cli("secrets", "add-recipient", other.recipient, "--repo", str(repo))
    assert added.code == 0, added.err
    assert other.recipient in (repo / ".sops.yaml").read_text()
    assert other.decrypt(env) == b"DB_PASSWORD=edited-pass-99\n"
    before = open_sops(env.read_bytes(), load_keys([key_file]), ".env").meta["mac"]
    assert cli("secrets", "add-recipient", "not-a-key", "--repo", str(repo)).code != 0

    rotated = cli("secrets", "rotate", "--repo", str(repo))
    assert rotated.code == 0, rotated.err
    assert "stacks/example/.env: 2 recipient(s), new data key" in rotated.out
    assert open_sops(env.read_bytes(), load_keys([key_file]), ".env").meta["mac"] != before
    assert other.decrypt(env) == b"DB_PASSWORD=edited-pass-99\n"

    checked = cli("secrets", "check", "--repo", str(repo))
    assert checked.code == 0, checked.out
    assert "✅ 1 SOPS file(s), each opened by this host's identity" in checked.out
    (repo / "stacks" / "example" / "docker-compose.yml").write_text(
        "services:\n  web:\n    image: nginx:1.27\n    environment:\n"
        "      API_TOKEN: plain-token-value-1\n")
    refused = cli("secrets", "check", "--repo", str(repo))
    assert refused.code == 1
    assert "API_TOKEN holds a value under a secret's name in plain text" in refused.out


def test_the_pull_request_plan_names_the_secrets_that_change_never_their_values(
        cli, kit: SopsKit, tmp_path: Path) -> None:
    from tests.unit.test_gitops import World, git

    (tmp_path / "w").mkdir()
    world = World.create(tmp_path / "w", {
        "chatops/intents/rollout_web.yaml": "label_required: approved\naction: rollout\n"
                                            "stack: web\n",
        "stacks/web/docker-compose.yml": "services:\n  web:\n    image: demo:1\n"
                                         "    env_file: app.env\n"})
    env = world.dev / "stacks" / "web" / "app.env"
    kit.encrypt(env, "DB_PASSWORD=first-pass-111\nAPI_TOKEN=token-222222\n")
    base = world.commit({}, "secrets")
    kit.sops("set", "--input-type", "dotenv", "--output-type", "dotenv", str(env),
             '["DB_PASSWORD"]', '"second-pass-333"')
    head = world.commit({}, "rotate the database password")

    result = cli("plan", "--pr", "5", "--base", base, "--head", head, "--no-comment",
                 "--repo", str(world.dev))

    assert result.code == 0, result.err
    assert "Secrets this merge changes (names only, never values):" in result.out
    assert "- `stacks/web/app.env`: DB_PASSWORD changed" in result.out
    assert "API_TOKEN" not in result.out  # unchanged
    for value in ("first-pass-111", "second-pass-333", "token-222222"):
        assert value not in result.out
    assert git(world.dev, "rev-parse", "HEAD") == head


def test_the_plan_names_the_secrets_a_run_opens(cli, kit: SopsKit, tmp_path: Path) -> None:
    repo = tmp_path / "g"
    assert cli("init", str(repo)).code == 0
    stack = repo / "stacks" / "example"
    (stack / "docker-compose.yml").write_text(
        "services:\n  web:\n    image: nginx:1.27\n    env_file: [app.env, refs.env]\n")
    kit.encrypt(stack / "app.env", "DB_PASSWORD=plan-pass-4444\nAPI_TOKEN=plan-token-5555\n")
    (stack / "refs.env").write_text("SMTP_PASSWORD=secret://vault/secret/mail#password\n")

    result = cli("plan", "rollout_example", "--repo", str(repo), "--local")

    assert result.code == 0, result.err
    assert "Secrets it opens when it runs (names only;" in result.out
    assert "  stacks/example/app.env: SOPS for 1 age recipient(s): API_TOKEN, DB_PASSWORD" \
        in result.out
    assert "  stacks/example/refs.env: resolves secret://vault/secret/mail#password" \
        in result.out
    assert "plan-pass" not in result.out


def test_plain_copies_left_by_a_dead_process_are_removed_at_the_next_start(
        tmp_path: Path) -> None:
    import os

    from chatops.runtime import Runtime
    from chatops.settings import Settings

    shm = tmp_path / "shm"
    dead = subprocess.Popen(["true"])
    dead.wait()
    left = shm / f"chatops-secrets-{dead.pid}-abc"
    mine = shm / f"chatops-secrets-{os.getpid()}-def"
    for folder in (left, mine):
        (folder / "files").mkdir(parents=True)
        (folder / "files" / ".env").write_text("DB_PASSWORD=left-behind\n")
    (shm / "unrelated").mkdir()

    runtime = Runtime.open(Settings.load({"CHATOPS_STATE_DIR": str(tmp_path / "state"),
                                          "CHATOPS_SECRETS_TMP": str(shm)}))
    runtime.close()

    assert not left.exists()
    assert mine.exists()  # a live process's step is still running
    assert (shm / "unrelated").exists()
