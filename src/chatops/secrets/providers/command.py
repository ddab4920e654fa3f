"""Secret managers reached through their own program: any command
(``CHATOPS_SECRET_COMMAND``, the escape hatch), Bitwarden's ``bws`` and 1Password's
``op``. Each runs as an argv list (never a shell), with the allowlisted environment of any
child plus only the variables it needs, within the settings' ``secret_timeout``.

- ``secret://command/PATH#KEY``: ``CHATOPS_SECRET_COMMAND`` with PATH as its last
  argument (``pass show`` makes ``pass show PATH``); its output, less the final newline,
  is the value; with ``#KEY``, the field KEY of its output (a JSON object, or ``KEY=value``
  / ``KEY: value`` lines). ``CHATOPS_SECRET_COMMAND_ENV`` names the variables of ours it
  may see (comma-separated).
- ``secret://bitwarden/SECRET_ID``: ``bws secret get SECRET_ID`` with
  ``BWS_ACCESS_TOKEN``; the secret's value (``#note`` or ``#key`` for those fields).
- ``secret://1password/VAULT/ITEM#FIELD``: ``op read op://VAULT/ITEM/FIELD`` with
  ``OP_SERVICE_ACCOUNT_TOKEN``.
"""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from chatops.engine.environment import child_env
from chatops.errors import SecretError
from chatops.secrets.references import Reference

if TYPE_CHECKING:
    from chatops.settings import Settings

MAX_OUTPUT = 1024 * 1024


def run_program(ref: Reference, argv: Sequence[str], env: Mapping[str, str],
                timeout: float) -> str:
    """A program's output for ``ref``; ``SecretError`` naming the reference (and the
    program's own first line of error, which never holds the value)."""
    try:
        done = subprocess.run(list(argv), env=dict(env), capture_output=True,  # noqa: S603
                              stdin=subprocess.DEVNULL, timeout=timeout, check=False)
    except FileNotFoundError:
        raise SecretError(f"{ref}: {argv[0]} is not installed on this host") from None
    except subprocess.TimeoutExpired:
        raise SecretError(f"{ref}: {argv[0]} did not answer within {timeout:g} s") from None
    except OSError as exc:
        raise SecretError(f"{ref}: {argv[0]} cannot run: {exc.strerror}") from None
    if done.returncode != 0:
        said = done.stderr.decode(errors="replace").strip().splitlines()
        raise SecretError(f"{ref}: {argv[0]} exited {done.returncode}"
                          + (f": {said[0][:200]}" if said else ""))
    if len(done.stdout) > MAX_OUTPUT:
        raise SecretError(f"{ref}: {argv[0]} printed more than {MAX_OUTPUT} bytes")
    text = done.stdout.decode("utf-8", errors="replace")
    return text[:-1] if text.endswith("\n") else text


def field(ref: Reference, output: str, key: str, what: str) -> str:
    """Field ``key`` of a program's output: a JSON object, or KEY=value lines."""
    try:
        data: Any = json.loads(output)
    except ValueError:
        data = None
    if isinstance(data, dict):
        if key not in data:
            raise SecretError(f"{ref}: {what} has no field {key!r} "
                              f"(fields: {', '.join(sorted(map(str, data)))})")
        value = data[key]
        return value if isinstance(value, str) else json.dumps(value)
    for line in output.splitlines():
        for sep in ("=", ":"):
            name, found, value = line.partition(sep)
            if found and name.strip() == key:
                return value.strip()
    raise SecretError(f"{ref}: {what} has no field {key!r}")


class Program:
    """One program per reference, each given the path (and what it needs)."""

    def __init__(self, argv_of: Callable[[Reference], list[str]], env: Mapping[str, str],
                 timeout: float, pick: Callable[[Reference, str], str]) -> None:
        self.argv_of = argv_of
        self.env = env
        self.timeout = timeout
        self.pick = pick

    def fetch(self, refs: Sequence[Reference]) -> dict[Reference, str]:
        outputs: dict[tuple[str, ...], str] = {}  # one run per argv, whatever its keys
        values: dict[Reference, str] = {}
        for ref in refs:
            argv = tuple(self.argv_of(ref))
            if argv not in outputs:
                outputs[argv] = run_program(ref, argv, self.env, self.timeout)
            values[ref] = self.pick(ref, outputs[argv])
        return values


def build(settings: Settings) -> Program:
    if not settings.secret_command:
        raise SecretError("secret://command/... needs CHATOPS_SECRET_COMMAND (the program "
                          "that prints a secret, such as 'pass show')")
    env = child_env({name: os.environ[name] for name in settings.secret_command_env
                     if name in os.environ})
    prefix = list(settings.secret_command)

    def pick(ref: Reference, output: str) -> str:
        return field(ref, output, ref.key, prefix[0]) if ref.key else output

    return Program(lambda ref: [*prefix, ref.path], env, settings.secret_timeout, pick)


def bitwarden(settings: Settings) -> Program:
    if settings.bws_access_token is None:
        raise SecretError("secret://bitwarden/... needs CHATOPS_BWS_ACCESS_TOKEN "
                          "(or BWS_ACCESS_TOKEN): a Secrets Manager machine account token")
    extra = {"BWS_ACCESS_TOKEN": settings.bws_access_token.get_secret_value()}
    if os.environ.get("BWS_SERVER_URL"):  # a self-hosted server
        extra["BWS_SERVER_URL"] = os.environ["BWS_SERVER_URL"]

    def pick(ref: Reference, output: str) -> str:
        return field(ref, output, ref.key or "value", "bws's answer")

    return Program(lambda ref: ["bws", "secret", "get", ref.path, "--output", "json"],
                   child_env(extra), settings.secret_timeout, pick)


def onepassword(settings: Settings) -> Program:
    if settings.op_service_account_token is None:
        raise SecretError("secret://1password/... needs CHATOPS_OP_SERVICE_ACCOUNT_TOKEN "
                          "(or OP_SERVICE_ACCOUNT_TOKEN)")
    extra = {"OP_SERVICE_ACCOUNT_TOKEN": settings.op_service_account_token.get_secret_value()}

    def argv(ref: Reference) -> list[str]:
        if ref.key is None or ref.path.count("/") < 1:
            raise SecretError(f"{ref}: expected secret://1password/VAULT/ITEM#FIELD")
        return ["op", "read", "--no-newline", f"op://{ref.path}/{ref.key}"]

    return Program(argv, child_env(extra), settings.secret_timeout,
                   lambda ref, output: output)
