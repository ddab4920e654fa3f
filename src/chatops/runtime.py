"""Wiring: the real store, locks, engine and clock, built from settings (no globals)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from msgspec import Struct

from chatops import events as ev
from chatops.clock import Clock, SystemClock
from chatops.engine.base import Engine
from chatops.locks import Locks
from chatops.masking import Masker
from chatops.settings import Settings
from chatops.store.sqlite import RunStore

if TYPE_CHECKING:  # a command that only reads the history does not import the runner
    from chatops.intents.traffic import Traffic
    from chatops.runner.executor import Executor
    from chatops.runner.secrets import RunSecrets
    from chatops.traffic.base import Driver


class Runtime(Struct):
    settings: Settings
    store: RunStore
    locks: Locks
    clock: Clock
    masker: Masker


    @classmethod
    def open(cls, settings: Settings, clock: Clock | None = None) -> Runtime:
        masker = Masker(settings.secret_values())
        store = RunStore(settings.paths.db, masker)
        locks = Locks(settings.paths.locks)
        runtime = cls(settings, store, locks, clock or SystemClock(), masker)
        runtime.recover()
        return runtime

    def recover(self) -> list[str]:
        """Mark runs whose process died (SIGKILL, crash, reboot) as interrupted, and
        remove the plain copies of secrets such a run left staged."""
        from chatops.secrets.staging import sweep, tmp_root  # noqa: PLC0415

        sweep(tmp_root(self.settings.secrets_tmp, self.settings.state_dir))
        store = self.store
        # A run handed to the next chatops (a self-upgrade) lives on in that one.
        return store.recover_interrupted(
            lambda run_id: self.locks.run_alive(run_id) or store.handing_off(run_id))

    def engine(self) -> Engine:
        """This machine's engine, and each named host's when CHATOPS_HOSTS names some
        (the step's host picks which)."""
        from chatops.engine.docker import DockerEngine  # noqa: PLC0415

        local = DockerEngine()
        if not self.settings.hosts:
            return local
        from chatops.engine.hosts import RoutedEngine  # noqa: PLC0415

        return RoutedEngine(local, self.settings.hosts, self.settings.paths.hosts)

    def executor(self, engine: Engine, sinks: Sequence[ev.Sink] = ()) -> Executor:
        from chatops.runner.executor import Executor  # noqa: PLC0415

        return Executor(engine=engine, store=self.store, locks=self.locks, clock=self.clock,
                        compose_command=self.settings.compose_command, sinks=sinks,
                        kuma_url=self.settings.kuma_url, traffic=self.traffic,
                        masker=self.masker, secrets=self.secrets())

    def secrets(self) -> RunSecrets:
        """SOPS files for runs: this host's age identities (read when a file needs them),
        the tmpfs they are staged on, and where used files are kept encrypted."""
        from chatops.runner.secrets import RunSecrets  # noqa: PLC0415
        from chatops.secrets.keys import key_files, load_keys  # noqa: PLC0415
        from chatops.secrets.providers import Resolver  # noqa: PLC0415
        from chatops.secrets.staging import tmp_root  # noqa: PLC0415

        settings = self.settings
        return RunSecrets(
            self.masker, lambda: load_keys(key_files(settings.age_key_file, settings.state_dir),
                                           settings.age_ssh_key_file),
            tmp=tmp_root(settings.secrets_tmp, settings.state_dir),
            sealed=settings.paths.sealed, resolver=lambda: Resolver(settings))

    def traffic(self, stack: str, service: str, traffic: Traffic) -> Driver:
        """The driver of a blue-green service, built from this host's settings."""
        from chatops.traffic import driver_for  # noqa: PLC0415 - only blue-green pays for it

        return driver_for(stack, service, traffic, self.settings)

    def close(self) -> None:
        self.store.close()
