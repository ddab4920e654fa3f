"""The compose policy's rules: one function each, in ``RULES``, reading one service of a
compose file as written (no interpolation: a value built from ``${...}`` is judged by
what it could be, so ``privileged: ${P}`` and a bind mount of ``${DIR}`` are refused).
Each yields (field, what it found) for what it refuses."""

from __future__ import annotations

import posixpath
from collections.abc import Callable, Iterator, Mapping
from typing import Any

from msgspec import Struct

SOCKETS = ("/var/run/docker.sock", "/run/docker.sock", "/var/run", "/run",
           "/run/podman/podman.sock")


class Service(Struct, frozen=True):
    """One service as a rule sees it: its definition, its bind mounts' host paths, and
    the folder its compose file is in (relative paths start there)."""

    name: str
    body: Mapping[str, Any]
    binds: tuple[tuple[str, str], ...]  # (field, host path as written)
    folder: str  # the compose file's folder, relative to the repository ("" at the root)
    bind_roots: tuple[str, ...] = ()  # the policy's settings the rules read
    registries: tuple[str, ...] = ()
    pinned: bool = False
    forbid_root_user: bool = False


Rule = Callable[[Service], Iterator[tuple[str, str]]]


def _set(value: Any) -> bool:
    """A flag that is on, or may be (anything but absent or false)."""
    return value is not None and value is not False and str(value).lower() not in (
        "false", "0", "no", "")


def privileged(s: Service) -> Iterator[tuple[str, str]]:
    if _set(s.body.get("privileged")):
        yield "privileged", f"privileged: {s.body.get('privileged')}"


def host_pid(s: Service) -> Iterator[tuple[str, str]]:
    if str(s.body.get("pid", "")).startswith(("host", "$")):
        yield "pid", f"pid: {s.body.get('pid')}"


def host_ipc(s: Service) -> Iterator[tuple[str, str]]:
    if str(s.body.get("ipc", "")).startswith(("host", "$")):
        yield "ipc", f"ipc: {s.body.get('ipc')}"


def host_network(s: Service) -> Iterator[tuple[str, str]]:
    if str(s.body.get("network_mode", "")).startswith(("host", "$")):
        yield "network_mode", f"network_mode: {s.body.get('network_mode')}"


def cap_add(s: Service) -> Iterator[tuple[str, str]]:
    caps = s.body.get("cap_add") or []
    if caps:
        yield "cap_add", f"cap_add: {', '.join(map(str, caps))}"


def devices(s: Service) -> Iterator[tuple[str, str]]:
    if s.body.get("devices"):
        yield "devices", f"devices: {', '.join(map(str, s.body['devices']))}"
    reserved = (((s.body.get("deploy") or {}).get("resources") or {}).get("reservations")
                or {}).get("devices")
    if reserved:
        yield "deploy.resources.reservations.devices", "devices reserved (a GPU)"
    for name in ("device_cgroup_rules", "gpus"):
        if s.body.get(name):
            yield name, f"{name}: {s.body[name]}"


def _host(path: str) -> str:
    return posixpath.normpath(path) if path.startswith("/") else path


def docker_socket(s: Service) -> Iterator[tuple[str, str]]:
    for where, path in s.binds:
        if _host(path) in SOCKETS or path.endswith((".sock", "docker.sock")):
            yield where, f"the engine's socket {path} is mounted (root on the host)"


def root_mount(s: Service) -> Iterator[tuple[str, str]]:
    for where, path in s.binds:
        if _host(path) == "/":
            yield where, "the host's / is mounted"


def etc_mount(s: Service) -> Iterator[tuple[str, str]]:
    for where, path in s.binds:
        if _host(path) == "/etc" or _host(path).startswith("/etc/"):
            yield where, f"{path} (the host's /etc) is mounted"


def bind_outside_roots(s: Service) -> Iterator[tuple[str, str]]:
    for where, path in s.binds:
        host = _host(path)
        if host in ("/",) or host in SOCKETS or host.startswith("/etc"):
            continue  # their own rules say so
        if "$" in path or path.startswith("~"):
            yield where, f"{path} is only known when the file is interpolated"
        elif path.startswith("/"):
            if not any(host == r.rstrip("/") or host.startswith(r.rstrip("/") + "/")
                       for r in s.bind_roots):
                yield where, (f"{path} is outside the bind roots "
                              f"({', '.join(s.bind_roots) or 'none'})")
        elif posixpath.normpath(posixpath.join(s.folder or ".", path)).startswith(".."):
            yield where, f"{path} leaves the repository"


def _registry(image: str) -> str:
    first, _, rest = image.partition("/")
    if rest and ("." in first or ":" in first or first == "localhost"):
        return first
    return "docker.io"


def registry(s: Service) -> Iterator[tuple[str, str]]:
    image = str(s.body.get("image") or "")
    allowed = s.registries
    if image and allowed and _registry(image) not in allowed:
        yield "image", (f"{image} comes from {_registry(image)}, not one of "
                        f"{', '.join(allowed)}")


def unpinned(s: Service) -> Iterator[tuple[str, str]]:
    image = str(s.body.get("image") or "")
    if image and s.pinned and "@sha256:" not in image:
        yield "image", f"{image} is not pinned by digest (IMAGE@sha256:...)"


def unconfined(s: Service) -> Iterator[tuple[str, str]]:
    for opt in s.body.get("security_opt") or []:
        text = str(opt).replace("=", ":")
        if "unconfined" in text or text.replace(" ", "") == "label:disable":
            yield "security_opt", f"security_opt: {opt}"


def root_user(s: Service) -> Iterator[tuple[str, str]]:
    user = str(s.body.get("user", ""))
    if s.forbid_root_user and user.split(":", maxsplit=1)[0] in ("root", "0"):
        yield "user", f"user: {user}"


#: Every rule, by name (an exception's ``allow`` and a refusal name them).
RULES: dict[str, Rule] = {
    "privileged": privileged, "host_pid": host_pid, "host_ipc": host_ipc,
    "host_network": host_network, "cap_add": cap_add, "devices": devices,
    "docker_socket": docker_socket, "root_mount": root_mount, "etc_mount": etc_mount,
    "bind_outside_roots": bind_outside_roots, "registry": registry, "unpinned": unpinned,
    "unconfined": unconfined, "root_user": root_user,
}
