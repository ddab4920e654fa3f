"""The preview's files and its Compose project: its stack's folder written out from the
pull request's head in Git objects (the checkout never moves), without what holds the
stack's secrets; then ``docker compose up --wait`` of the rendered file, and ``down
--volumes`` to take every trace away again."""

from __future__ import annotations

import asyncio
import os
import posixpath
import shutil
import time
from pathlib import Path

from chatops.engine.base import CommandResult, Engine
from chatops.errors import EngineError, PreviewRefusedError
from chatops.gitops.sync import RepoSync
from chatops.previews.compose import OWN, Rendered
from chatops.tls import async_client

FILE = "chatops-preview.yml"
ENV_FILE = f"{OWN}/env"
MAX_FILES, MAX_BYTES = 2000, 50 * 1024 * 1024
_SOPS_MARKS = (b"ENC[AES256_GCM,", b"\nsops:", b'"sops":', b"sops_version=")


def materialize(sync: RepoSync, head: str, folder: str, dest: Path, *, rendered: Rendered,
                compose_file: str, env_text: str) -> Path:
    """Write ``folder`` (the stack's, relative to the repository) at commit ``head`` under
    ``dest`` (replaced whole), less ``.env`` and encrypted files; then the rendered compose
    file beside ``compose_file`` and the preview's own files. Returns the rendered file."""
    prefix = folder.rstrip("/") + "/" if folder not in ("", ".") else ""
    listed = sync.git.out("ls-tree", "-r", "--name-only", head, "--", prefix or ".")
    paths = [p for p in listed.splitlines() if p.startswith(prefix)]
    if len(paths) > MAX_FILES:
        raise PreviewRefusedError(f"{folder} holds {len(paths)} files at {head[:12]}; a "
                                  f"preview takes at most {MAX_FILES}", field="stack")
    blobs = sync.git.blobs(head, paths)
    staging = dest.with_name(dest.name + ".new")
    shutil.rmtree(staging, ignore_errors=True)
    total = 0
    for path, data in blobs.items():
        name = posixpath.basename(path)
        if data is None or name == ".env" or any(m in data for m in _SOPS_MARKS):
            continue  # the stack's secrets never reach a preview
        total += len(data)
        if total > MAX_BYTES:
            raise PreviewRefusedError(f"{folder} at {head[:12]} is over "
                                      f"{MAX_BYTES // 2**20} MB", field="stack")
        target = staging / path
        if not target.resolve().is_relative_to(staging.resolve()):
            continue
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data)
    where = staging / posixpath.dirname(compose_file)
    where.mkdir(parents=True, exist_ok=True)
    (where / FILE).write_text(rendered.text)
    for rel, text in {**rendered.files, ENV_FILE: env_text}.items():
        own = where / rel
        own.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(own, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as out:
            out.write(text)
    shutil.rmtree(dest, ignore_errors=True)
    staging.rename(dest)
    return dest / posixpath.dirname(compose_file) / FILE


def compose_argv(compose: tuple[str, ...], project: str, file: Path, *args: str
                 ) -> list[str]:
    return [*compose, "-p", project, "-f", str(file),
            "--env-file", str(file.parent / ENV_FILE), *args]


async def up(engine: Engine, compose: tuple[str, ...], project: str, file: Path,
             timeout: float) -> CommandResult:
    """Start (or update) the preview and wait for its containers to be running and
    healthy."""
    return await engine.run(compose_argv(compose, project, file, "up", "-d", "--wait",
                                         "--wait-timeout", str(int(timeout)),
                                         "--remove-orphans"),
                            timeout=timeout + 30, cwd=str(file.parent))


async def down(engine: Engine, compose: tuple[str, ...], project: str, file: Path | None,
               timeout: float = 120) -> None:
    """Every container, network and volume of the project removed."""
    argv = (compose_argv(compose, project, file, "down", "--volumes", "--remove-orphans",
                         "--timeout", "5") if file is not None and file.exists() else
            [*compose, "-p", project, "down", "--volumes", "--remove-orphans",
             "--timeout", "5"])
    done = await engine.run(argv, timeout=timeout)
    if not done.ok:
        raise EngineError(f"docker compose down of {project}: {done.describe()}")


async def probe(listen: str, host: str, path: str, deadline: float) -> int:
    """The status the preview answers through the proxy (below 500 counts), trying until
    ``deadline`` (monotonic)."""
    import httpx  # noqa: PLC0415

    status = 0
    async with async_client(timeout=5) as http:
        while True:
            try:
                status = (await http.get(f"http://{listen}{path}",
                                         headers={"Host": host})).status_code
            except httpx.HTTPError:
                status = 0
            if 0 < status < 500 or time.monotonic() > deadline:
                return status
            await asyncio.sleep(0.02)
