"""``chatops doctor``: is this host ready to deploy? Each check says, in one line, what it
found and, when something is wrong, what to do about it. Nothing is changed.

The checks, in order: the container engine, Compose v2, the GitOps repository (its
intents, a Git checkout, its remote and branch, local edits), the state directory (its
owner and permissions), the proxies the intents' blue-green traffic names, the forge
(the token reads the repository) and the clock (against the forge's), the chat settings.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import stat
import subprocess
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path

from msgspec import Struct

from chatops.engine.environment import child_env
from chatops.errors import ChatopsError
from chatops.gitops.forges import forge_of
from chatops.gitops.git import Git
from chatops.gitops.sync import RepoSync
from chatops.repo import GitOpsRepo
from chatops.settings import Settings

#: How far the host's clock may be from the forge's before signed requests suffer.
CLOCK_SKEW = 30.0


class Finding(Struct, frozen=True):
    check: str
    ok: bool | None  # None: not configured here, nothing to check
    message: str

    def line(self) -> str:
        mark = {True: "✓", False: "✗", None: "–"}[self.ok]
        return f"{mark} {self.check}: {self.message}"


Check = Callable[[Settings], Awaitable[list[Finding]]]


async def engine(settings: Settings) -> list[Finding]:
    from chatops.engine.docker import DockerEngine  # noqa: PLC0415

    runtime_engine = DockerEngine()  # this machine's (named hosts are not checked here)
    try:
        await runtime_engine.ping()
    except ChatopsError as exc:
        where = os.environ.get("DOCKER_HOST", "unix:///var/run/docker.sock")
        return [Finding("engine", False, f"{exc.message} (DOCKER_HOST={where}): start "
                        "dockerd, or set DOCKER_HOST to where it listens")]
    finally:
        await runtime_engine.close()
    return [Finding("engine", True, "the Docker engine answers")]


def _run(argv: list[str], timeout: float = 20.0) -> tuple[int, str]:
    """A tool's exit status and output (its environment: the allowlist every child gets)."""
    try:
        done = subprocess.run(argv, capture_output=True, text=True, check=False,  # noqa: S603
                              timeout=timeout, stdin=subprocess.DEVNULL, env=child_env())
    except (OSError, subprocess.TimeoutExpired) as exc:
        return 127, str(exc)
    return done.returncode, (done.stdout + done.stderr).strip()


async def compose(settings: Settings) -> list[Finding]:
    argv = [*settings.compose_command, "version", "--short"]
    if shutil.which(argv[0]) is None:
        return [Finding("compose", False, f"{argv[0]} is not on PATH: install Docker's "
                        "compose plugin (Compose v2), or set CHATOPS_COMPOSE_COMMAND")]
    code, out = await asyncio.to_thread(_run, argv)
    if code != 0:
        return [Finding("compose", False, f"{' '.join(argv)} failed: {out[-200:]}")]
    version = out.splitlines()[-1].lstrip("v") if out else "?"
    if not version.startswith(("2", "3")):
        return [Finding("compose", False, f"Compose {version} is too old: chatops needs "
                        "Compose v2 (the docker compose plugin)")]
    return [Finding("compose", True, f"Compose {version}")]


async def repository(settings: Settings) -> list[Finding]:
    root = Path(settings.repo).resolve() if settings.repo else Path.cwd()
    repo = GitOpsRepo(root)
    if not repo.intents_dir.is_dir():
        return [Finding("repository", False, f"no chatops/intents/ in {root}: set "
                        "CHATOPS_REPO (or --repo) to the GitOps checkout")]
    count = len(repo.intent_files())
    found = [Finding("repository", True, f"{root} with {count} intent file(s)")]
    if not (root / ".git").exists():
        found.append(Finding("checkout", False, f"{root} is not a Git checkout: clone the "
                             "GitOps repository there, so deploys come from Git"))
        return found
    sync = RepoSync(root, settings.git_remote, settings.deploy_branch)
    git = Git(root, timeout=20.0)
    named = await asyncio.to_thread(git.run, "remote", "get-url", settings.git_remote,
                                    check=False)
    url = named.stdout.strip()
    if named.returncode != 0:
        found.append(Finding("remote", False, f"the checkout has no remote "
                             f"{settings.git_remote!r}: git remote add {settings.git_remote}"
                             " URL, or set CHATOPS_GIT_REMOTE"))
        return found
    listed = await asyncio.to_thread(git.run, "ls-remote", "--heads", settings.git_remote,
                                     settings.deploy_branch, check=False)
    out = (listed.stdout + listed.stderr).strip()
    if listed.returncode != 0:
        found.append(Finding("remote", False, f"{settings.git_remote} ({url}) cannot be "
                             f"read: {out.splitlines()[-1] if out else 'no answer'}: check "
                             "the URL, the deploy key or the network"))
    elif not out:
        found.append(Finding("remote", False, f"{settings.git_remote} has no branch "
                             f"{settings.deploy_branch!r}: set CHATOPS_DEPLOY_BRANCH"))
    else:
        found.append(Finding("remote", True, f"{settings.git_remote}/"
                             f"{settings.deploy_branch} answers ({url})"))
    try:
        await asyncio.to_thread(sync.ensure_clean)
    except ChatopsError as exc:
        found.append(Finding("checkout", False, exc.message))
    else:
        found.append(Finding("checkout", True, "no local edits"))
    return found


async def state(settings: Settings) -> list[Finding]:
    folder = Path(settings.state_dir)
    if not folder.exists():
        return [Finding("state", True, f"{folder} does not exist yet: chatops creates it "
                        "(0700) on first use")]
    info = folder.stat()
    problems = []
    if info.st_uid != os.getuid():
        problems.append(f"it belongs to uid {info.st_uid}, not this user ({os.getuid()}): "
                        f"chown -R {os.getuid()} {folder}")
    if info.st_mode & (stat.S_IWGRP | stat.S_IWOTH | stat.S_IROTH):
        problems.append(f"others may read or write it (mode {stat.filemode(info.st_mode)}):"
                        f" chmod 700 {folder}")
    if not os.access(folder, os.W_OK):
        problems.append("this user cannot write it")
    if problems:
        return [Finding("state", False, f"{folder}: {'; '.join(problems)}")]
    return [Finding("state", True, f"{folder} (mode {stat.filemode(info.st_mode)})")]


async def proxies(settings: Settings) -> list[Finding]:
    root = Path(settings.repo).resolve() if settings.repo else Path.cwd()
    repo = GitOpsRepo(root)
    drivers: set[str] = set()
    if repo.intents_dir.is_dir():
        for path in repo.intent_files():
            try:
                intent = repo.load_intent(path.stem)
            except ChatopsError:
                continue  # validate's to tell
            drivers |= {d.traffic.driver for d in intent.documents if d.traffic is not None}
    if not drivers:
        return [Finding("proxies", None, "no intent names a proxy")]
    found = []
    if "haproxy" in drivers:
        sock = settings.haproxy_socket
        ok = bool(sock) and Path(str(sock)).exists()
        found.append(Finding("haproxy", ok, f"runtime API socket {sock}" if ok else
                             f"the intents use HAProxy, and its runtime API socket "
                             f"{sock or '(unset)'} is not there: set CHATOPS_HAPROXY_SOCKET"))
    if "traefik" in drivers:
        folder = settings.traefik_dir
        ok = bool(folder) and Path(str(folder)).is_dir()
        found.append(Finding("traefik", ok, f"watched folder {folder}" if ok else
                             "the intents use Traefik, and its watched folder "
                             f"{folder or '(unset)'} is not there: set CHATOPS_TRAEFIK_DIR"))
    if "npm" in drivers:
        ok = bool(settings.npm_url)
        found.append(Finding("npm", ok, f"Nginx Proxy Manager at {settings.npm_url}" if ok
                             else "the intents use Nginx Proxy Manager: set "
                             "CHATOPS_NPM_URL, CHATOPS_NPM_EMAIL and CHATOPS_NPM_PASSWORD"))
    return found


async def forge(settings: Settings) -> list[Finding]:
    try:
        client = forge_of(settings)
    except ChatopsError as exc:
        return [Finding("forge", False, exc.message)]
    if client is None:
        return [Finding("forge", None, "no forge configured (CHATOPS_FORGE_REPO, "
                        "CHATOPS_FORGE_TOKEN): approvals come from APPROVED_LABEL")]
    try:
        theirs = await client.reachable()
    except ChatopsError as exc:
        return [Finding("forge", False, exc.message)]
    found = [Finding("forge", True, f"{client.forge} reads {settings.forge_repo} with the "
                     "token")]
    if theirs is not None:
        skew = abs((datetime.now(UTC) - theirs).total_seconds())
        found.append(Finding("clock", skew <= CLOCK_SKEW, f"{skew:.0f} s from "
                             f"{client.forge}'s clock" + ("" if skew <= CLOCK_SKEW else
                             ": signed chat requests and tokens will be refused; run "
                             "an NTP client (systemd-timesyncd, chrony)")))
    return found


async def chat(settings: Settings) -> list[Finding]:
    platforms = [name for name, ok in (
        ("Discord", settings.discord_public_key), ("Slack", settings.slack_signing_secret))
        if ok]
    if not platforms:
        return [Finding("chat", None, "no chat commands configured")]
    if not settings.chat_identities:
        return [Finding("chat", False, f"{' and '.join(platforms)} commands are on, but "
                        "CHATOPS_CHAT_IDENTITIES grants nobody anything: every command "
                        "will be refused")]
    return [Finding("chat", True, f"{' and '.join(platforms)} commands, with grants")]


#: Every check, in the order they are told.
CHECKS: tuple[Check, ...] = (engine, compose, repository, state, proxies, forge, chat)


async def examine(settings: Settings) -> list[Finding]:
    """Every check's findings; a check that fails unexpectedly is a finding too."""
    found: list[Finding] = []
    for check in CHECKS:
        try:
            found += await check(settings)
        except (ChatopsError, OSError) as exc:
            found.append(Finding(check.__name__, False, str(getattr(exc, "message", exc))))
    return found
