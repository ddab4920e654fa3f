"""A run's secrets, as the executor uses them: every SOPS file of every step opened
before the run changes anything (a file that cannot be opened fails the run with nothing
touched), each value masked from then on, each step's plain copies staged while it runs
(``secrets.staging``), and the files a succeeded step used kept still encrypted, by
hash, so that going back to that deploy gets its secrets back (``sealed``)."""

from __future__ import annotations

import contextlib
import hashlib
import os
import tempfile
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

from chatops.errors import SecretError
from chatops.masking import Masker
from chatops.planning.steps import StepPlan
from chatops.secrets.keys import AgeKeys
from chatops.secrets.staging import (
    Resolve,
    SecretFile,
    Staged,
    StepSecrets,
    compose_document,
    find_secrets,
    open_secret_file,
    staged,
    tmp_root,
)


class RunSecrets:
    def __init__(self, masker: Masker, keys: Callable[[], AgeKeys] | None = None, *,
                 tmp: Path | None = None, sealed: Path | None = None,
                 resolver: Callable[[], Resolve] | None = None) -> None:
        self.masker = masker
        self._keys = keys or AgeKeys
        #: A new resolver per run: a secret manager's values are kept for one run only.
        self._resolver = resolver
        self.tmp = tmp or tmp_root(None, Path(tempfile.gettempdir()))
        self.sealed = sealed
        self._opened: dict[str, dict[int, StepSecrets]] = {}
        self._staged: dict[str, Staged] = {}

    def open(self, run_id: str, steps: Sequence[StepPlan]) -> None:
        """Open every SOPS file the steps use (``SecretError`` names the one that cannot
        be), and mask their values from now on."""
        cache: list[AgeKeys] = []

        def keys() -> AgeKeys:  # read once per run, and only when a file needs them
            if not cache:
                cache.append(self._keys())
            return cache[0]

        resolving = self._resolving()
        found: dict[int, StepSecrets] = {}
        for step in steps:
            secrets = find_secrets(step.compose, keys, **resolving)
            if secrets is not None:
                self.masker.add(*secrets.values)
                found[step.index] = secrets
        if found:
            self._opened[run_id] = found

    def _resolving(self) -> dict[str, Resolve]:
        return {"resolve": self._resolver()} if self._resolver is not None else {}

    def close(self, run_id: str) -> None:
        self._opened.pop(run_id, None)
        self._staged.pop(run_id, None)

    def of(self, run_id: str, step: StepPlan) -> StepSecrets | None:
        return self._opened.get(run_id, {}).get(step.index)

    @contextlib.contextmanager
    def staged(self, run_id: str, step: StepPlan) -> Iterator[Path | None]:
        """The step's plain copies while it runs: the folder hooks read them from
        (``CHATOPS_SECRETS_DIR``), or None when the step has no secrets."""
        secrets = self.of(run_id, step)
        if secrets is None:
            yield None
            return
        with self.staging(run_id, step, secrets) as stage:
            yield stage.folder / "files"

    @contextlib.contextmanager
    def staging(self, run_id: str, step: StepPlan, secrets: StepSecrets) -> Iterator[Staged]:
        """``secrets`` staged for the step's Compose commands until the block ends (a
        rollback stages the secrets it goes back to, then the step's own again)."""
        previous = self._staged.get(run_id)
        with staged(secrets, self.tmp, swarm=step.swarm, project=step.stack) as stage:
            self._staged[run_id] = stage
            try:
                yield stage
            finally:
                if previous is not None:
                    self._staged[run_id] = previous
                else:
                    self._staged.pop(run_id, None)

    def point(self, run_id: str, step: StepPlan, argv: tuple[str, ...],
              env: Mapping[str, str] | None) -> tuple[tuple[str, ...], Mapping[str, str] | None]:
        """A Compose command of the step pointed at its staged files, with the values
        Compose reads from its environment (for that command only)."""
        stage = self._staged.get(run_id)
        if stage is None:
            return argv, env
        pointed = stage.argv(argv)
        if pointed is None:  # not a Compose command on the step's file: nothing for it
            return argv, env
        return pointed, {**(env or {}), **stage.env} if stage.env else env

    def kept(self, run_id: str, step: StepPlan) -> dict[str, Any]:
        """What a succeeded step's snapshot records of its secrets: each file's name and
        hash (never a value); the files themselves are kept encrypted, by hash."""
        secrets = self.of(run_id, step)
        if secrets is None:
            return {}
        if self.sealed is not None:
            for item in secrets.files:
                self._seal(item)
        return {"secrets": {f.name: {"sha256": f.sha256, "source": str(f.source),
                                     "role": f.role, "entry": f.entry}
                            for f in secrets.files}}

    def _seal(self, item: SecretFile) -> None:
        assert self.sealed is not None  # noqa: S101 - checked by the caller
        target = self.sealed / item.sha256
        if target.exists():
            return
        self.sealed.mkdir(mode=0o700, parents=True, exist_ok=True)
        data = item.source.read_bytes()
        if hashlib.sha256(data).hexdigest() != item.sha256:
            return  # changed on disk since it was opened: not what ran
        partial = target.with_suffix(".partial")
        fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
        os.replace(partial, target)

    @contextlib.contextmanager
    def going_back(self, run_id: str, step: StepPlan, snapshot: Mapping[str, Any] | None
                   ) -> Iterator[None]:
        """While a step goes back to ``snapshot`` (a past deploy's), its Compose commands
        get the secrets that deploy used, opened from their kept encrypted copies."""
        recorded = (snapshot or {}).get("secrets")
        if not isinstance(recorded, dict) or not recorded:
            yield  # that deploy had none: the step's own (if any) stay staged
            return
        current = self.of(run_id, step) or StepSecrets(step.compose, [], None)
        with self.staging(run_id, step, self.unsealed(current, recorded)):
            yield

    def unsealed(self, current: StepSecrets, recorded: Mapping[str, Any]) -> StepSecrets:
        """The secrets a past deploy used (its snapshot's ``secrets``), opened from the
        encrypted copies kept then, in place of today's; ``SecretError`` when one is no
        longer kept."""
        files = [f for f in current.files if f.name not in recorded]
        by_name = {f.name: f for f in current.files}
        for name, entry in recorded.items():
            sha = str(entry.get("sha256") or "")
            mine = by_name.get(name)
            if mine is not None and mine.sha256 == sha:
                files.append(mine)
                continue
            path = self.sealed / sha if self.sealed is not None and sha else None
            if path is None or not path.is_file():
                raise SecretError(f"{name}: the version of it the previous deploy used "
                                  f"(sha256 {sha[:12]}) is no longer kept")
            item = open_secret_file(
                Path(str(entry.get("source") or name)), name, path.read_bytes(),
                str(entry.get("role") or "env_file"), entry=entry.get("entry"),
                keys=self._keys, **self._resolving())
            if item is None:
                raise SecretError(f"{name}: its kept copy holds no secret")
            self.masker.add(*item.opened.values)
            files.append(item)
        document = current.document
        if document is None and any(f.role != ".env" for f in files):
            document = compose_document(current.compose)
        return StepSecrets(current.compose, files, document)
