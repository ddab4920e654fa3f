"""chatops: a Git repository as the single source of truth for Docker Compose hosts."""

import sys as _sys

__version__ = "0.1.0"

# httpx imports its own command-line client (Click, Rich and Pygments) whenever they are
# installed, and chatops installs Click and Rich: about 80 ms at every start that makes an
# HTTP request, for a command chatops never runs. Marked absent, httpx defines its stub.
_sys.modules.setdefault("httpx._main", None)  # type: ignore[arg-type]
