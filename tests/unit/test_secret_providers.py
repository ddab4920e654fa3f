"""Secret managers by reference: each provider against a stand-in speaking its
documented protocol (Vault's KV v2 HTTP API; the ``bws`` and ``op`` programs' output),
and every failure naming the reference, never a value."""

from __future__ import annotations

import os
import stat
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest

from chatops.errors import SecretError
from chatops.secrets.providers import PROVIDERS, Resolver
from chatops.secrets.references import Reference, parse_reference, references_in, substitute
from chatops.settings import Settings
from tests.fakes.vault import FakeVault


@pytest.fixture
def vault() -> Iterator[FakeVault]:
    server = FakeVault()
    server.secrets["secret/shop/db"] = {"password": "pw-1234567", "user": "app"}
    server.secrets["kv/one"] = {"token": "only-field-value"}
    try:
        yield server
    finally:
        server.close()


def settings(**values: str) -> Settings:
    return Settings.load({f"CHATOPS_{k.upper()}": v for k, v in values.items()})


def ref(text: str) -> Reference:
    return parse_reference(text, "test")


def test_vault_with_a_token_reads_fields_on_one_connection(vault: FakeVault) -> None:
    resolve = Resolver(settings(vault_addr=vault.url, vault_token=vault.token))
    wanted = [ref("secret://vault/secret/shop/db#password"),
              ref("secret://vault/secret/shop/db#user"), ref("secret://vault/kv/one")]
    assert resolve(wanted) == dict(zip(wanted, ["pw-1234567", "app", "only-field-value"],
                                       strict=True))
    assert [p for _, p in vault.requests] == ["/v1/kv/data/one", "/v1/secret/data/shop/db"]
    resolve(wanted)  # kept for the run: asked once
    assert len(vault.requests) == 2


def test_vault_approle_logs_in_once(vault: FakeVault) -> None:
    vault.approles["role-1"] = "secret-1"
    resolve = Resolver(settings(vault_addr=vault.url, vault_role_id="role-1",
                                vault_secret_id="secret-1"))
    assert resolve([ref("secret://vault/kv/one")]) == {
        ref("secret://vault/kv/one"): "only-field-value"}
    assert vault.requests[0] == ("POST", "/v1/auth/approle/login")


@pytest.mark.parametrize(("reference", "setup", "message"), [
    ("secret://vault/secret/shop/gone#x", {}, "Vault has no secret at /v1/secret/data/shop/gone"),
    ("secret://vault/secret/shop/db#nope", {}, "has no field 'nope' (fields: password, user)"),
    ("secret://vault/secret/shop/db", {}, "has 2 fields (password, user); name one with #KEY"),
    ("secret://vault/secret/shop/db#password", {"vault_token": "wrong"},
     "Vault refused the token"),
    ("secret://vault/onlymount", {}, "expected secret://vault/MOUNT/PATH#KEY"),
    ("secret://nosuch/a/b", {}, "no secret provider is called 'nosuch'"),
])
def test_vault_failures_name_the_reference(vault: FakeVault, reference: str,
                                           setup: dict[str, str], message: str) -> None:
    values = {"vault_addr": vault.url, "vault_token": vault.token, **setup}
    with pytest.raises(SecretError) as caught:
        Resolver(settings(**values))([ref(reference)])
    assert caught.value.message.startswith(reference + ": ")
    assert message in caught.value.message
    assert "pw-1234567" not in caught.value.message


def test_a_provider_that_times_out_is_refused(vault: FakeVault) -> None:
    vault.delay = 1.0
    with pytest.raises(SecretError, match=r"secret://vault/kv/one: Vault at .* did not "
                                          r"answer within 0.2 s"):
        Resolver(settings(vault_addr=vault.url, vault_token=vault.token,
                          secret_timeout="0.2"))([ref("secret://vault/kv/one")])


def test_an_unconfigured_provider_names_its_settings() -> None:
    with pytest.raises(SecretError, match="needs CHATOPS_VAULT_ADDR"):
        Resolver(settings())([ref("secret://vault/kv/one")])
    with pytest.raises(SecretError, match="needs CHATOPS_SECRET_COMMAND"):
        Resolver(settings())([ref("secret://command/x")])


def program(folder: Path, name: str, body: str) -> Path:
    path = folder / name
    path.write_text(f"#!{sys.executable}\n" + textwrap.dedent(body))
    path.chmod(path.stat().st_mode | stat.S_IXUSR)
    return path


def test_command_provider_runs_the_program_with_the_path(tmp_path: Path,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    tool = program(tmp_path, "fetch-secret", """\
        import json, os, sys
        if sys.argv[1] == "app/json":
            print(json.dumps({"password": "json-pass-1", "seen": os.environ.get("MY_TOKEN")}))
        elif sys.argv[1] == "app/fail":
            sys.exit("no such entry")
        else:
            print("plain-value-for-" + sys.argv[1])
        """)
    monkeypatch.setenv("MY_TOKEN", "given-on-purpose")
    monkeypatch.setenv("CHATOPS_API_KEY", "never-for-a-child")
    resolve = Resolver(settings(secret_command=str(tool), secret_command_env="MY_TOKEN"))
    got = resolve([ref("secret://command/app/plain"), ref("secret://command/app/json#password"),
                   ref("secret://command/app/json#seen")])
    assert got[ref("secret://command/app/plain")] == "plain-value-for-app/plain"
    assert got[ref("secret://command/app/json#password")] == "json-pass-1"
    # Only the variables named for it reach the program.
    assert got[ref("secret://command/app/json#seen")] == "given-on-purpose"
    with pytest.raises(SecretError, match=r"^secret://command/app/fail: .* exited 1: "
                                          r"no such entry$"):
        resolve([ref("secret://command/app/fail")])


def test_bitwarden_and_1password_through_their_programs(tmp_path: Path,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    # bws and op as their documentation shows them answering.
    program(tmp_path, "bws", """\
        import json, os, sys
        assert sys.argv[1:3] == ["secret", "get"] and os.environ["BWS_ACCESS_TOKEN"] == "bws-t"
        print(json.dumps({"id": sys.argv[3], "key": "DB_PASSWORD", "value": "bw-value-1",
                          "note": "", "projectId": "p"}, indent=2))
        """)
    program(tmp_path, "op", """\
        import os, sys
        assert sys.argv[1:3] == ["read", "--no-newline"]
        assert os.environ["OP_SERVICE_ACCOUNT_TOKEN"] == "op-t"
        sys.stdout.write("op-value-for-" + sys.argv[3])
        """)
    monkeypatch.setenv("PATH", f"{tmp_path}{os.pathsep}{os.environ['PATH']}")
    resolve = Resolver(settings(bws_access_token="bws-t", op_service_account_token="op-t"))
    got = resolve([ref("secret://bitwarden/be8e0ad8-d545-4017-a55a-b02f014d4158"),
                   ref("secret://1password/Homelab/db#password")])
    assert sorted(got.values()) == ["bw-value-1", "op-value-for-op://Homelab/db/password"]


def test_every_provider_is_in_the_registry() -> None:
    assert set(PROVIDERS) == {"vault", "bitwarden", "1password", "infisical", "command"}


def test_references_in_env_files_are_found_and_replaced() -> None:
    text = ("A=plain\nB=secret://vault/kv/app#b\nC='secret://command/c'\n"
            "# D=secret://vault/kv/commented\n")
    found = [r for _, r in references_in(text, "x.env")]
    assert [str(r) for r in found] == ["secret://vault/kv/app#b", "secret://command/c"]
    out = substitute(text, {found[0]: "it's $x", found[1]: "simple"}, "x.env")
    assert out == ("A=plain\nB=\"it's $$x\"\nC='simple'\n"
                   "# D=secret://vault/kv/commented\n")
    with pytest.raises(SecretError, match=r"x.env, line 1: 'secret://' is not a secret "
                                          r"reference"):
        list(references_in("A=secret://\n", "x.env"))
