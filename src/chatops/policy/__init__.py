"""The compose policy every deploy must pass: what a compose file may ask of the host.

``intent_violations`` reads the repository's ``chatops/policy.yaml`` (or the safe
default) and each compose file an intent acts on (and the files those ``include`` or
``extends``) from a tree (a commit's Git objects, or the working tree), and applies every
rule of ``rules.RULES`` to every service, less the exceptions the intent names and that
match the stack and service. The same function serves ``chatops validate
--check-compose``, the pull request's plan and the check before every run.
"""

from __future__ import annotations

import posixpath
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from msgspec import Struct

from chatops.errors import PolicyError
from chatops.policy.model import POLICY_FILE, Policy, load_policy
from chatops.policy.rules import RULES, Service

if TYPE_CHECKING:
    from chatops.intents.loader import IntentFile
    from chatops.planning.uses import Tree
    from chatops.repo import GitOpsRepo

MAX_DEPTH = 5


class Violation(Struct, frozen=True):
    file: str
    service: str
    field: str
    rule: str
    found: str

    def text(self) -> str:
        return (f"{self.file}: service {self.service}: {self.field}: {self.found} (rule "
                f"{self.rule})")


def _is_path(source: str) -> bool:
    return source.startswith(("/", ".", "~", "$"))


def binds_of(body: Mapping[str, Any], top: Mapping[str, Any]) -> tuple[tuple[str, str], ...]:
    """(field, host path) of each bind mount of a service, including a named volume that
    is a bind in disguise (``driver_opts: {o: bind, device: PATH}``)."""
    found: list[tuple[str, str]] = []
    for i, volume in enumerate(body.get("volumes") or []):
        where = f"volumes[{i}]"
        if isinstance(volume, str):
            source = volume.split(":", 1)[0] if ":" in volume else ""
        elif isinstance(volume, Mapping):
            source = str(volume.get("source") or "")
            if volume.get("type") == "bind" and source:
                found.append((where, source))
                continue
        else:
            continue
        if _is_path(source):
            found.append((where, source))
        elif source and isinstance(top.get(source), Mapping):
            opts = top[source].get("driver_opts") or {}
            if "bind" in str(opts.get("o", "")) and opts.get("device"):
                found.append((f"{where} (volume {source})", str(opts["device"])))
    return tuple(found)


def _includes(data: Mapping[str, Any]) -> list[str]:
    out: list[str] = []
    for entry in data.get("include") or []:
        paths = entry if isinstance(entry, str) else (entry or {}).get("path")
        out += [paths] if isinstance(paths, str) else [str(p) for p in paths or []]
    for body in (data.get("services") or {}).values():
        extends = body.get("extends") if isinstance(body, Mapping) else None
        if isinstance(extends, Mapping) and extends.get("file"):
            out.append(str(extends["file"]))
    return out


def compose_violations(tree: Tree, file: str, *, stack: str, policy: Policy,
                       exceptions: tuple[str, ...] | None, depth: int = 0) -> list[Violation]:
    """Every refused thing in compose file ``file`` (relative to the repository) and the
    files it includes or extends."""
    import yaml  # noqa: PLC0415

    raw = tree.read(file)
    if raw is None:
        return [] if depth == 0 else [Violation(file, "-", "include", "include",
                                                "the file it names is not in the repository")]
    try:
        data = yaml.safe_load(raw) or {}
    except yaml.YAMLError:
        return [Violation(file, "-", "(file)", "yaml", "not YAML: nothing in it can be "
                          "checked")]
    if not isinstance(data, Mapping):
        return []
    folder, out = posixpath.dirname(file), []
    top = data.get("volumes") if isinstance(data.get("volumes"), Mapping) else {}
    for name, body in (data.get("services") or {}).items():
        if not isinstance(body, Mapping):
            continue
        service = Service(str(name), body, binds_of(body, top or {}), folder,
                          tuple(policy.bind_roots), tuple(policy.registries), policy.pinned,
                          policy.forbid_root_user)
        for rule, check in RULES.items():
            for where, found in check(service):
                if policy.allowed(rule, stack, str(name), exceptions) is None:
                    out.append(Violation(file, str(name), where, rule, found))
    if depth < MAX_DEPTH:
        for included in _includes(data):
            path = posixpath.normpath(posixpath.join(folder, included))
            if included.startswith("/") or path.startswith(".."):
                out.append(Violation(file, "-", "include", "include",
                                     f"{included} is outside the repository"))
                continue
            out += compose_violations(tree, path, stack=stack, policy=policy,
                                      exceptions=exceptions, depth=depth + 1)
    return out


def intent_violations(intent: IntentFile, repo: GitOpsRepo, tree: Tree, *,
                      preview: bool = False, policy_tree: Tree | None = None
                      ) -> list[Violation]:
    """What the policy refuses in the compose files ``intent`` acts on (a preview gets no
    exception), the policy read from ``policy_tree`` (default ``tree``: a preview reads
    it from the deploy branch, never from its own pull request). ``PolicyError`` when the
    policy file is invalid or the intent names an exception it does not have."""
    policy = load_policy((policy_tree or tree).read(POLICY_FILE))
    out: list[Violation] = []
    for doc in intent.documents:
        names = None if preview else tuple(doc.policy_exceptions)
        unknown = [n for n in names or () if policy.exception(n) is None]
        if unknown:
            raise PolicyError(f"{intent.name}: policy_exceptions names {unknown[0]!r}, which "
                              f"{POLICY_FILE} does not define", intent=intent.name)
        path = repo.compose_path(doc)
        if not path.is_relative_to(repo.root):
            continue  # outside the repository: not Git's, not the policy's
        rel = path.relative_to(repo.root).as_posix()
        for found in compose_violations(tree, rel, stack=doc.stack, policy=policy,
                                        exceptions=names):
            if found not in out:
                out.append(found)
    return out


__all__ = ["POLICY_FILE", "Policy", "Violation", "compose_violations", "intent_violations",
           "load_policy"]
