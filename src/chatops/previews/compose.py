"""A pull request's compose file turned into its preview's (pure: text in, text out).

The preview runs as its own Compose project beside production, so nothing in it may
reach production's: no ``container_name`` (it would clash), no published port but the
one the proxy reaches (on loopback, from the preview port range), no external network or
volume, no ``env_file`` (the stack's secrets), and each ``secrets``/``configs`` file is
given the preview block's own value. Left-out services disappear with every reference to
them; each service gets the preview's variables, CPU and memory limits and a label that
finds it again (``chatops.preview``). A preview takes one compose file: ``include`` and
``extends`` from another file are refused (they would bring what this does not check).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from msgspec import Struct

from chatops.errors import PreviewRefusedError
from chatops.intents.preview import Preview

#: The label every container, network and volume of a preview carries (its number).
LABEL = "chatops.preview"
#: Where, beside the compose file, the preview keeps its own files (secrets, env).
OWN = ".chatops-preview"


def project_name(stack: str, number: int) -> str:
    """The preview's Compose project: ``STACK-pr-N``."""
    return f"{stack}-pr-{number}"


class Rendered(Struct, frozen=True):
    text: str  # the preview's compose file
    files: dict[str, str]  # OWN/secrets/NAME -> content, written beside it
    services: tuple[str, ...]


def _refuse(file: str, where: str, why: str) -> PreviewRefusedError:
    return PreviewRefusedError(f"{file}: {where}: {why}", field=where)


def _without(value: Any, gone: set[str]) -> Any:
    if isinstance(value, Mapping):
        return {k: v for k, v in value.items() if str(k) not in gone}
    if isinstance(value, list):
        return [v for v in value if str(v).split(":", 1)[0] not in gone]
    return value


def _as_dict(value: Any) -> dict[str, Any]:
    """A ``environment``/``labels`` entry as a mapping (Compose takes a list too)."""
    if isinstance(value, Mapping):
        return {str(k): v for k, v in value.items()}
    out: dict[str, Any] = {}
    for item in value or []:
        key, sep, val = str(item).partition("=")
        out[key] = val if sep else None
    return out


def render(text: str | bytes, *, file: str, preview: Preview, service: str, number: int,
           port: int) -> Rendered:
    """The preview of compose file ``file`` (its text): ``service`` published on
    ``127.0.0.1:port``. ``PreviewRefusedError`` names the file, service and field."""
    import yaml  # noqa: PLC0415

    try:
        data = yaml.safe_load(text) or {}
    except yaml.YAMLError:
        raise _refuse(file, "(file)", "not YAML") from None
    services = data.get("services") if isinstance(data, Mapping) else None
    if not isinstance(services, Mapping) or not services:
        raise _refuse(file, "services", "no services")
    if data.get("include"):
        raise _refuse(file, "include", "a preview takes one compose file; include is "
                      "refused")
    gone = set(preview.leave_out)
    for name in sorted(gone - {str(n) for n in services}):
        raise _refuse(file, "preview.leave_out", f"no service {name} to leave out")
    if service not in services or service in gone:
        raise _refuse(file, "preview.service", f"no service {service} to reach")
    out: dict[str, Any] = {k: v for k, v in data.items()
                           if k not in ("name", "networks", "services", "volumes", "secrets",
                                        "configs", "version")}
    out["services"] = {str(name): _service(file, str(name), body, preview, gone,
                                           number=number,
                                           port=port if str(name) == service else None)
                       for name, body in services.items() if str(name) not in gone}
    out["volumes"] = _volumes(file, data.get("volumes"), number)
    files: dict[str, str] = {}
    for kind in ("secrets", "configs"):
        if data.get(kind):
            out[kind] = _secret_files(file, kind, data[kind], preview, files)
    if not out["volumes"]:
        del out["volumes"]
    return Rendered(yaml.safe_dump(out, sort_keys=False), files, tuple(out["services"]))


def _service(file: str, name: str, body: Any, preview: Preview, gone: set[str], *,
             number: int, port: int | None) -> dict[str, Any]:
    if not isinstance(body, Mapping):
        raise _refuse(file, f"services.{name}", "not a mapping")
    where = f"services.{name}"
    if not body.get("image"):
        raise _refuse(file, f"{where}.image", "a preview runs images; this service "
                      "names none (build is not run for previews)")
    extends = body.get("extends")
    if isinstance(extends, Mapping) and extends.get("file"):
        raise _refuse(file, f"{where}.extends", "extends from another file is refused")
    mode = "" if preview.network == "host" else str(body.get("network_mode") or "")
    if mode.startswith("container:") or (mode.startswith("service:")
                                        and mode.split(":", 1)[1] in gone):
        raise _refuse(file, f"{where}.network_mode", f"{mode} leaves the preview")
    for key in ("volumes_from",):
        if any(str(v).split(":", 1)[0] in gone or str(v).startswith("container:")
               for v in body.get(key) or []):
            raise _refuse(file, f"{where}.{key}", "names what the preview does not run")
    kept = {k: v for k, v in body.items()
            if k not in ("container_name", "ports", "env_file", "networks", "deploy",
                         "labels", "environment", "depends_on", "links", "extends",
                         "build")}
    if isinstance(extends, Mapping):
        kept["extends"] = dict(extends)
    if body.get("depends_on"):
        kept["depends_on"] = _without(body["depends_on"], gone)
    if body.get("links"):
        kept["links"] = _without(body["links"], gone)
    env = _as_dict(body.get("environment"))
    env.update(preview.env)
    if env:
        kept["environment"] = env
    labels = _as_dict(body.get("labels"))
    labels[LABEL] = str(number)
    kept["labels"] = labels
    deploy = dict(body.get("deploy") or {}) if isinstance(body.get("deploy"), Mapping) else {}
    resources = dict(deploy.get("resources") or {})
    resources["limits"] = {"cpus": f"{preview.cpus:g}", "memory": preview.memory}
    deploy["resources"] = resources
    kept["deploy"] = deploy
    if preview.network == "own" and str(kept.get("network_mode", "")).startswith("host"):
        del kept["network_mode"]  # its own network, whatever production uses
    if preview.network == "host":
        kept["network_mode"] = "host"  # the policy allowed it (preview_host_network)
        if port is not None and preview.port_env:
            env[preview.port_env] = str(port)
            kept["environment"] = env
    elif port is not None:
        kept["ports"] = [f"127.0.0.1:{port}:{preview.port}"]
    return kept


def _volumes(file: str, top: Any, number: int) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name, given in (top or {}).items() if isinstance(top, Mapping) else ():
        body = dict(given or {}) if isinstance(given, Mapping) else {}
        if body.get("external") or body.get("name"):
            raise _refuse(file, f"volumes.{name}", "a preview cannot use a volume outside "
                          "its own project (external or named): it could be production's")
        body["labels"] = {**_as_dict(body.get("labels")), LABEL: str(number)}
        out[str(name)] = body
    return out


def _secret_files(file: str, kind: str, top: Any, preview: Preview,
                  files: dict[str, str]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name, body in (top or {}).items() if isinstance(top, Mapping) else ():
        if isinstance(body, Mapping) and "content" in body and kind == "configs":
            out[str(name)] = dict(body)  # written in the compose file itself: no secret
            continue
        if str(name) not in preview.secrets:
            raise _refuse(file, f"preview.secrets.{name}", f"{kind} {name} needs the "
                          "preview's own value (production's never reaches a preview)")
        path = f"{OWN}/{kind}/{name}"
        files[path] = preview.secrets[str(name)]
        out[str(name)] = {"file": f"./{path}"}
    return out


def env_file(preview: Preview) -> str:
    """The variables of Compose's interpolation, as ``--env-file`` reads them."""
    return "".join(f"{k}={v}\n" for k, v in preview.env.items())


__all__ = ["LABEL", "OWN", "Rendered", "env_file", "project_name", "render"]
