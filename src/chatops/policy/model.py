"""The compose policy, as data: ``chatops/policy.yaml`` in the repository, or a safe
default when it is absent. It says which registries images may come from, whether they
must be pinned by digest, which host folders may be bind-mounted, whether ``user: root``
is refused, and the exceptions: each named, for the stacks and services it matches, and
the rules it lifts. An intent opts into an exception by naming it
(``policy_exceptions``); a preview never gets one."""

from __future__ import annotations

import functools
from fnmatch import fnmatchcase

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from chatops.errors import PolicyError
from chatops.policy.rules import RULES

POLICY_FILE = "chatops/policy.yaml"
#: Host folders a stack may bind-mount by default (and its own folder, relatively).
DEFAULT_ROOTS = ("/srv", "/opt", "/mnt", "/media", "/data")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, defer_build=True)


class Match(_Strict):
    stacks: list[str] = Field(default_factory=lambda: ["*"], description="stack globs")
    services: list[str] = Field(default_factory=lambda: ["*"], description="service globs")

    def covers(self, stack: str, service: str) -> bool:
        return any(fnmatchcase(stack, g) for g in self.stacks) and \
            any(fnmatchcase(service, g) for g in self.services)


class PolicyException(_Strict):
    name: str = Field(pattern=r"^[a-z0-9][a-z0-9_-]{0,63}$")
    match: Match = Field(default_factory=Match)
    allow: list[str] = Field(min_length=1, description="the rules it lifts (rules.RULES)")
    #: For every intent whose stack and service it matches, named or not (never a preview).
    always: bool = False
    reason: str = ""

    @field_validator("allow")
    @classmethod
    def _rules(cls, value: list[str]) -> list[str]:
        unknown = [r for r in value if r not in RULES]
        if unknown:
            raise ValueError(f"no rule named {unknown[0]!r}; rules: {', '.join(RULES)}")
        return value


class Policy(_Strict):
    registries: list[str] = Field(default=[], description="allowed registries "
                                  "(docker.io for Docker Hub); empty: any")
    pinned: bool = Field(default=False, description="images must be pinned by digest")
    bind_roots: list[str] = Field(default_factory=lambda: list(DEFAULT_ROOTS),
                                  description="host folders that may be bind-mounted, "
                                  "besides the stack's own folder")
    forbid_root_user: bool = Field(default=False, description="refuse user: root")
    exceptions: list[PolicyException] = Field(default=[])
    preview_host_network: bool = Field(
        default=False, description="previews may use host networking (preview.network: "
        "host), for an engine without a bridge; read from the deploy branch, never from "
        "the pull request")

    def exception(self, name: str) -> PolicyException | None:
        return next((e for e in self.exceptions if e.name == name), None)

    def allowed(self, rule: str, stack: str, service: str, names: tuple[str, ...] | None
                ) -> str | None:
        """The exception that lifts ``rule`` here: one among ``names`` or one that is
        ``always``; None for a preview (``names`` None) or when there is none."""
        if names is None:  # a preview: no exception, only what the policy itself says
            return "preview_host_network" if rule == "host_network" and \
                self.preview_host_network else None
        for found in self.exceptions:
            if (found.always or found.name in names) and rule in found.allow \
                    and found.match.covers(stack, service):
                return found.name
        return None


def load_policy(raw: bytes | None) -> Policy:
    """The repository's policy (``raw``: the file's bytes, None when absent: the safe
    default). ``PolicyError`` naming the file and field otherwise."""
    if raw is None:
        return Policy()
    return _parsed(raw)


@functools.lru_cache(maxsize=16)
def _parsed(raw: bytes) -> Policy:
    """A policy file's content, read once (every run's decision reads the file; an
    invalid one raises, and is read again next time)."""
    import yaml  # noqa: PLC0415

    from chatops.intents.yamlsafe import SAFE_LOADER  # noqa: PLC0415

    try:
        data = yaml.load(raw, Loader=SAFE_LOADER) or {}  # noqa: S506 - the safe loader
    except yaml.YAMLError as exc:
        raise PolicyError(f"{POLICY_FILE} is not YAML: {exc}", field=POLICY_FILE) from None
    if not isinstance(data, dict):
        raise PolicyError(f"{POLICY_FILE}: expected a mapping at the top", field=POLICY_FILE)
    try:
        policy = Policy.model_validate(data)
    except ValidationError as exc:
        err = exc.errors(include_url=False)[0]
        where = ".".join(str(p) for p in err["loc"]) or "(top)"
        raise PolicyError(f"{POLICY_FILE}: {where}: {err['msg']}", field=POLICY_FILE) from None
    names = [e.name for e in policy.exceptions]
    if len(set(names)) != len(names):
        raise PolicyError(f"{POLICY_FILE}: an exception name is used twice", field=POLICY_FILE)
    return policy
