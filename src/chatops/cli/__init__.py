"""The ``chatops`` command. Each command imports only what it needs, so startup stays fast."""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence

from chatops import __version__


def _through_the_service(args: list[str]) -> int | None:
    """``chatops run NAME [--repo DIR] [--sha SHA] [--no-wait] [--no-rollback]`` when a
    service answers
    on this host's socket: the same request and output as the Click command's, without
    importing Click (the command costs the service's time and little more). Anything
    else, and any other form, is left to Click (None)."""
    if len(args) < 2 or args[0] != "run":
        return None
    names: list[str] = []
    sha: str | None = None
    repo: str | None = None
    wait = rollback = True
    rest = iter(args[1:])
    for arg in rest:
        if arg == "--no-wait":
            wait = False
        elif arg == "--no-rollback":
            rollback = False
        elif arg == "--sha":
            sha = next(rest, None)
            if sha is None:
                return None
        elif arg.startswith("--sha="):
            sha = arg.removeprefix("--sha=")
        elif arg == "--repo":
            repo = next(rest, None)
            if not repo:
                return None
        elif arg.startswith("--repo="):
            repo = arg.removeprefix("--repo=") or None
        elif arg.startswith("-") or names:
            return None  # another option, or a graph: Click decides
        else:
            names.append(arg)
    if not names or (not sha and sha is not None):
        return None
    from pathlib import Path

    from chatops.cli.client import connect

    try:
        client = connect(local=False, repo=Path(repo) if repo else None, intent=names[0])
        if client is None:
            return None
        from chatops.cli import remote

        return remote.run_names(client, names, dry_run=False, rollback=rollback, wait=wait,
                                sha=sha, keep_going=False)
    except KeyboardInterrupt:
        sys.stderr.write("interrupted\n")
        return 130
    except OSError as exc:
        sys.stderr.write(f"error: the chatops service stopped answering: {exc}\n")
        return 4


def run(argv: Sequence[str]) -> int:
    """Run the CLI with ``argv`` and return its exit code; never lets a traceback out."""
    args = list(argv)
    if args in (["--version"], ["-V"]):
        # The fast path: no Typer, no pydantic, for scripts that probe the version.
        sys.stdout.write(f"chatops {__version__}\n")
        return 0
    fast = _through_the_service(args)
    if fast is not None:
        return fast
    # chatops registers no pydantic plugins, and scanning every installed package for
    # them costs more start-up time than validating a hundred intent files.
    os.environ.setdefault("PYDANTIC_DISABLE_PLUGINS", "__all__")
    try:
        from chatops.cli.app import app

        app.main(args=args, prog_name="chatops", standalone_mode=True)
    except SystemExit as exc:
        code = exc.code
        return code if isinstance(code, int) else (0 if code is None else 1)
    except KeyboardInterrupt:
        sys.stderr.write("interrupted\n")
        return 130
    except Exception as exc:  # the last line of defence: no traceback reaches a user
        # Imported here: commands that talk to a running service never need it.
        from chatops.errors import ChatopsError

        if isinstance(exc, ChatopsError):
            sys.stderr.write(f"error: {exc.message}\n")
            return exc.exit_code
        if os.environ.get("CHATOPS_DEBUG"):
            raise
        sys.stderr.write(
            f"chatops: internal error: {type(exc).__name__}: {exc}\n"
            "(this is a bug; set CHATOPS_DEBUG=1 to see the traceback)\n"
        )
        return 70
    return 0


def main() -> None:
    for stream in (sys.stdout, sys.stderr):
        reconfigure = getattr(stream, "reconfigure", None)
        if reconfigure is not None:
            reconfigure(errors="replace")
    sys.exit(run(sys.argv[1:]))
