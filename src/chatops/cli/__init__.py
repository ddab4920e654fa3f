"""The ``chatops`` command. Each command imports only what it needs, so startup stays fast."""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence

from chatops import __version__


def run(argv: Sequence[str]) -> int:
    """Run the CLI with ``argv`` and return its exit code; never lets a traceback out."""
    args = list(argv)
    if args in (["--version"], ["-V"]):
        # The fast path: no Typer, no pydantic, for scripts that probe the version.
        sys.stdout.write(f"chatops {__version__}\n")
        return 0
    from chatops.startup import without_httpx_cli, without_pydantic_plugins

    without_httpx_cli()
    without_pydantic_plugins()
    try:
        if args[:1] in (["run"], ["runs"]):  # their usual forms need no Click
            from chatops.cli.fast import without_click

            fast = without_click(args)
            if fast is not None:
                return fast
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
    from chatops.startup import exit_now, few_collections

    few_collections()
    for stream in (sys.stdout, sys.stderr):
        reconfigure = getattr(stream, "reconfigure", None)
        if reconfigure is not None:
            reconfigure(errors="replace")
    exit_now(run(sys.argv[1:]))
