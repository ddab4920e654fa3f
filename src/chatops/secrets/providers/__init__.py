"""Secret managers, by the name a ``secret://PROVIDER/...`` reference gives them. One
module a provider, each named in ``PROVIDERS`` with how it is built from the settings.

A provider fetches the values of many references at once (``fetch``), within the
settings' ``secret_timeout``; it raises ``SecretError`` naming the reference (never a
value) when one cannot be had. ``Resolver`` asks each provider once per run and keeps
the values for that run only.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import TYPE_CHECKING, Protocol

from msgspec import Struct

from chatops.errors import SecretError
from chatops.kinds import import_kind
from chatops.secrets.references import Reference

if TYPE_CHECKING:
    from chatops.settings import Settings


class Provider(Protocol):
    def fetch(self, refs: Sequence[Reference]) -> dict[Reference, str]:
        """The value of each reference; ``SecretError`` names the one that failed."""


class ProviderKind(Struct, frozen=True):
    name: str
    summary: str  # one line for the docs' registry table (docs/layout.md)
    #: ``MODULE:FUNCTION`` of this package that builds the provider (imported on first use).
    builder: str

    def build(self, settings: Settings) -> Provider:
        """The provider, from the settings; ``SecretError`` says which setting it lacks."""
        module, function = self.builder.split(":")
        make: Callable[[Settings], Provider] = getattr(import_kind(__name__, module), function)
        return make(settings)


PROVIDERS: dict[str, ProviderKind] = {
    "vault": ProviderKind("vault", "HashiCorp Vault and OpenBao, KV v2 over HTTP (token "
                          "or AppRole)", "vault:build"),
    "bitwarden": ProviderKind("bitwarden", "Bitwarden Secrets Manager and Vaultwarden, "
                              "through bws", "command:bitwarden"),
    "1password": ProviderKind("1password", "1Password, through op (a service account)",
                              "command:onepassword"),
    "infisical": ProviderKind("infisical", "Infisical, its API with a machine identity",
                              "infisical:build"),
    "command": ProviderKind("command", "any program that prints the value "
                            "(CHATOPS_SECRET_COMMAND)", "command:build"),
}


class Resolver:
    """References resolved through the settings' providers, each value kept for one run
    (a resolver per run)."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._values: dict[Reference, str] = {}

    def __call__(self, refs: Iterable[Reference]) -> dict[Reference, str]:
        wanted = sorted(set(refs) - set(self._values))
        by_provider: dict[str, list[Reference]] = {}
        for ref in wanted:
            by_provider.setdefault(ref.provider, []).append(ref)
        for name, group in by_provider.items():
            kind = PROVIDERS.get(name)
            if kind is None:
                raise SecretError(f"{group[0]}: no secret provider is called {name!r} "
                                  f"(providers: {', '.join(PROVIDERS)})")
            found = kind.build(self.settings).fetch(group)
            self._values.update({ref: found[ref] for ref in group})
        return dict(self._values)


__all__ = ["PROVIDERS", "Provider", "ProviderKind", "Resolver"]
