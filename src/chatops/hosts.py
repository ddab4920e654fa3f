"""Named Docker hosts: where an intent's ``host:`` (or ``hosts:``) sends its commands.

``CHATOPS_HOSTS`` (JSON, or a table in the TOML file) names each host and how to reach
its engine:

```json
{"nas": "ssh://root@nas.lan",
 "pi":  {"url": "ssh://deploy@10.0.0.7:2222", "socket": "/run/user/1000/docker.sock",
         "identity": "/etc/chatops/id_ed25519", "known_hosts": "/etc/chatops/known_hosts",
         "vars": {"ADDR": "10.0.0.7"}},
 "vm":  {"url": "tcp://10.0.0.8:2376", "tls": "/etc/chatops/certs/vm"}}
```

- ``ssh://user@host[:port]``: one SSH connection per host carries every Engine API and
  Compose connection (a forwarded socket: Compose's parallel connections are channels
  of it, so they never exhaust the server's ``MaxSessions``). ``socket`` is the engine's
  socket on that host (default ``/var/run/docker.sock``).
- ``tcp://host:port`` needs ``tls``: a folder with ``ca.pem``, ``cert.pem`` and
  ``key.pem``, as Docker documents (a plain TCP engine is refused).
- ``unix:///path``: another engine on this machine (rootless Docker, Podman).
- ``vars``: the host's own values. Compose reads them when it interpolates the file
  (``${PORT}``), and health gates may use them in their address
  (``http://${ADDR}:8080/health``): a remote host's gate must point at that host.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

HOST_NAME_RE = re.compile(r"^[a-z0-9][a-z0-9_-]{0,62}$")
VAR_RE = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")


class HostSpec(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, defer_build=True)

    url: str
    socket: str = Field(default="/var/run/docker.sock", pattern=r"^/[^\s]*$")
    identity: Path | None = None  # ssh: the private key
    known_hosts: Path | None = None  # ssh: the host keys to trust (strict checking)
    tls: Path | None = None  # tcp: a folder with ca.pem, cert.pem, key.pem
    vars: dict[str, str] = Field(default_factory=dict)

    @field_validator("url")
    @classmethod
    def _url(cls, value: str) -> str:
        parts = urlsplit(value)
        if parts.scheme == "ssh":
            if not parts.hostname:
                raise ValueError(f"{value!r}: expected ssh://user@host[:port]")
        elif parts.scheme == "tcp":
            if not parts.hostname or not parts.port:
                raise ValueError(f"{value!r}: expected tcp://host:port")
        elif parts.scheme == "unix":
            if not parts.path.startswith("/"):
                raise ValueError(f"{value!r}: expected unix:///path/to/docker.sock")
        else:
            raise ValueError(f"{value!r}: expected ssh://user@host[:port], tcp://host:port "
                             "or unix:///path")
        return value

    @field_validator("vars")
    @classmethod
    def _vars(cls, value: dict[str, str]) -> dict[str, str]:
        for name in value:
            if not re.match(r"^[A-Za-z_][A-Za-z0-9_]*$", name):
                raise ValueError(f"vars: {name!r} is not a variable name")
        return value

    @model_validator(mode="after")
    def _tls(self) -> HostSpec:
        if self.scheme == "tcp" and self.tls is None:
            raise ValueError("a tcp:// engine needs tls (a folder with ca.pem, cert.pem "
                             "and key.pem): a plain TCP engine gives root to anyone who "
                             "reaches it")
        return self

    @property
    def scheme(self) -> str:
        return urlsplit(self.url).scheme

    def shown(self) -> str:
        """The address, as messages name it."""
        return self.url


def parse_hosts(value: Any) -> dict[str, HostSpec]:
    """``CHATOPS_HOSTS``: {name: URL or {url, ...}}, each name checked."""
    if not isinstance(value, dict):
        raise ValueError("expected a table of hosts such as {\"nas\": \"ssh://root@nas\"}")
    hosts: dict[str, HostSpec] = {}
    for name, spec in value.items():
        if not isinstance(name, str) or not HOST_NAME_RE.match(name) or name == "local":
            raise ValueError(f"{name!r}: a host name is lower-case letters, digits, '-' "
                             "and '_' ('local' is this machine's engine)")
        hosts[name] = HostSpec.model_validate({"url": spec} if isinstance(spec, str)
                                              else spec)
    return hosts


def expand(text: str, values: dict[str, str], where: str) -> str:
    """``${NAME}`` in ``text`` replaced by the host's ``vars``; an unknown one is an
    error naming it."""
    def one(match: re.Match[str]) -> str:
        name = match.group(1)
        if name not in values:
            raise ValueError(f"{where}: ${{{name}}} is not among the vars of the host "
                             f"({', '.join(sorted(values)) or 'none'})")
        return values[name]

    return VAR_RE.sub(one, text)
