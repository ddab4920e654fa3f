"""The ``hooks`` block of an intent: the operator's own commands around a deploy.

```yaml
hooks:
  pre_deploy:
    - ["/usr/local/bin/backup", "--volume", "plex-config"]
  post_deploy:
    - {run: ["/usr/local/bin/purge-cache"], timeout: 30s}
  on_failure:
    - ["/usr/local/bin/page-me"]
rollback_on_hook_failure: false
```

Each hook is an argv list, never a shell string: what it runs is exactly what is written.
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BeforeValidator, Field

from chatops.intents.fields import Duration, _Strict

HOOK_KINDS = ("pre_deploy", "post_deploy", "on_failure")


def _argv(value: Any) -> Any:
    if isinstance(value, str):
        raise ValueError(
            f"expected an argv list such as [\"/usr/local/bin/backup\", \"--volume\", "
            f"\"data\"], not the string {value[:60]!r}: hooks never run through a shell")
    if isinstance(value, list):
        if not value:
            raise ValueError("expected an argv list with at least the program to run")
        for i, arg in enumerate(value):
            if not isinstance(arg, str):
                raise ValueError(f"argument {i} is {type(arg).__name__} {arg!r}; every "
                                 "argument is a string (quote numbers)")
            if "\x00" in arg:
                raise ValueError(f"argument {i} contains a NUL byte")
        if not value[0].strip():
            raise ValueError("the program to run (the first argument) is empty")
    return value


Argv = Annotated[list[str], BeforeValidator(_argv)]


class Hook(_Strict):
    """One command: its argv, and a timeout of its own."""

    run: Argv = Field(description="the argv to run, e.g. [\"/usr/local/bin/backup\"]")
    timeout: Duration | None = Field(default=None, description="its time limit (default: "
                                     "the intent's timeout)")


def _hook(value: Any) -> Any:
    if isinstance(value, list):  # the short form: just the argv
        return {"run": value}
    if isinstance(value, str):
        _argv(value)
    return value


HookEntry = Annotated[Hook, BeforeValidator(_hook)]


class Hooks(_Strict):
    """Commands run on the host around a deploy, each with a documented environment."""

    pre_deploy: list[HookEntry] = Field(
        default=[], description="before any change; a failure vetoes the run")
    post_deploy: list[HookEntry] = Field(
        default=[], description="after the health gates passed; a failure is "
        "reported (and rolls back with rollback_on_hook_failure)")
    on_failure: list[HookEntry] = Field(
        default=[], description="after a failure (and its rollback); "
        "CHATOPS_OUTCOME says how the run ended")

    def of(self, kind: str) -> list[Hook]:
        return list(getattr(self, kind))
