"""Previews per pull request: the use cases. A pull request into the deploy branch that
carries the preview label (``CHATOPS_PREVIEW_LABEL``), added by someone its intents'
``label_by`` allows who is not its author, and that is not a fork's, gets each affected
intent with a ``preview:`` block started as ``STACK-pr-N`` from its head, checked by the
compose policy with no exception, routed at ``STACK.pr-N.DOMAIN`` (and the first one at
``pr-N.DOMAIN``), and shown in the plan comment and a commit status. A push updates it
(events for one pull request are handled one at a time; one that waits is replaced by a
newer one, never half-applied); closing, removing the label or its ``ttl`` takes every
trace away. Everything is decided before anything starts; every step is audited."""

from __future__ import annotations

import asyncio
import contextlib
import posixpath
import shutil
import sys
import time
from datetime import UTC, datetime, timedelta

from msgspec import Struct
from msgspec.structs import replace

from chatops.application.caller import Caller, Trusted
from chatops.application.recording import Recording
from chatops.application.review import MARKER
from chatops.approvers import DEFAULT_LABEL_BY
from chatops.engine.base import Engine
from chatops.errors import ChatopsError, PreviewRefusedError, UnavailableError
from chatops.gitops.affected import affected_by
from chatops.gitops.forges import Forge, PullEvent, PullRequest
from chatops.gitops.forges.labels import previewer_problem
from chatops.intents.loader import IntentFile
from chatops.intents.model import IntentDoc
from chatops.notify.messages import ChatMessage, preview_message
from chatops.planning.uses import CommitTree
from chatops.policy import POLICY_FILE, intent_violations
from chatops.previews import Router, compose, router_for, runner
from chatops.previews.listing import comment_section, free_port, hosts_for, url_of
from chatops.store.previews import PreviewRow

PREVIEWER = Caller(via="preview", permissions=Trusted("previews"), client="previews",
                   method="PREVIEW", endpoint="(previews)")
STATUS = "chatops/preview/{stack}"


class Wanted(Struct, frozen=True):
    caller: Caller
    event: PullEvent


class Target(Struct, frozen=True):
    """One preview to start: the intent, its document with a ``preview:`` block."""

    intent: IntentFile
    doc: IntentDoc

    @property
    def stack(self) -> str:
        return self.doc.stack


def _now() -> datetime:
    return datetime.now(UTC)


def _iso(at: datetime) -> str:
    return at.isoformat(timespec="seconds").replace("+00:00", "Z")


class Previewing(Recording):
    def __post_init__(self) -> None:
        super().__post_init__()
        self._wanted: dict[int, Wanted] = {}
        self._workers: dict[int, asyncio.Task[None]] = {}
        self._notes: dict[int, dict[str, str]] = {}  # refusals, by pull request and stack
        self._router: Router | None = None

    # -- what surfaces ask -------------------------------------------------------------

    @property
    def previews_on(self) -> bool:
        return self.ctx.runtime.settings.preview_domain is not None

    def preview_event(self, caller: Caller, event: PullEvent) -> str:
        """Take a pull-request event for its previews; what happens, in words. The work
        runs in the background, one event per pull request at a time."""
        if not self.previews_on:
            return "previews are off (CHATOPS_PREVIEW_DOMAIN)"
        label = self.ctx.runtime.settings.preview_label
        running = self.store.previews(event.number)
        worker = self._workers.get(event.number)
        busy = event.number in self._wanted or (worker is not None and not worker.done())
        if (event.kind == "closed" or label not in event.labels) and not running \
                and not busy:
            return "no preview"
        old = self._wanted.get(event.number)
        if old is not None:
            self._record(old.caller, "superseded", 200, reason=f"preview of pull request "
                         f"#{event.number} at {old.event.head[:12]} superseded by "
                         f"{event.head[:12]} before it started")
        self._wanted[event.number] = Wanted(caller, event)
        task = self._workers.get(event.number)
        if task is None or task.done():
            task = asyncio.get_running_loop().create_task(self._work(event.number))
            self._workers[event.number] = task
            self.background.add(task)
            task.add_done_callback(self.background.discard)
        return "removing" if event.kind == "closed" or label not in event.labels \
            else "queued"

    async def previews_settled(self, number: int) -> None:
        """Wait until pull request ``number``'s events are all handled (tests, bench)."""
        while (task := self._workers.get(number)) is not None and not task.done():
            await asyncio.wait({task})

    async def destroy_previews(self, caller: Caller, number: int) -> list[str]:
        """Remove every preview of pull request ``number`` now; the projects removed."""
        async with self._audited(caller):
            rows = self.store.previews(number)
            if not rows:
                raise PreviewRefusedError(f"pull request #{number} has no preview",
                                          field="number")
            self._wanted.pop(number, None)
            await self.previews_settled(number)
            for row in self.store.previews(number):
                await self._teardown(caller, row, f"destroyed by {caller.name}")
            await self._publish(number)
            return [r.project for r in rows]

    async def preview_list(self) -> list[dict[str, object]]:
        """Every preview with its address, age and containers (the API, the CLI and the
        dashboard show the same)."""
        now, out = _now(), []
        for row in self.store.previews():
            containers = await self._engine().containers(row.project)
            created = datetime.fromisoformat(row.created_at.replace("Z", "+00:00"))
            out.append({**row.as_dict(), "url": self.preview_url(row.hosts[-1]),
                        "age_seconds": int((now - created).total_seconds()),
                        "containers": len(containers),
                        "running": sum(1 for c in containers if c.running)})
        return out

    async def expire_previews(self, caller: Caller = PREVIEWER) -> list[str]:
        """Remove the previews whose ``ttl`` has passed; the projects removed."""
        now, gone = _iso(_now()), []
        for row in self.store.previews():
            if row.expires_at <= now and row.number not in self._wanted:
                with contextlib.suppress(ChatopsError):
                    async with self._audited(caller):
                        await self._teardown(caller, row, f"its ttl passed at "
                                             f"{row.expires_at}")
                        gone.append(row.project)
                        await self._publish(row.number)
        return gone

    def comment_extra(self, number: int) -> str:
        return self.preview_section(number)

    def preview_section(self, number: int) -> str:
        """The previews part of pull request ``number``'s comment ('' with none)."""
        return comment_section(self.store.previews(number), self._notes.get(number, {}),
                               self.preview_url)

    # -- the work ----------------------------------------------------------------------

    async def _work(self, number: int) -> None:
        while (wanted := self._wanted.pop(number, None)) is not None:
            try:
                async with self._audited(wanted.caller):
                    await self._apply(wanted.caller, wanted.event)
            except ChatopsError:
                pass  # recorded, and in the comment
            except Exception as exc:  # one broken event must not end the pull request's
                sys.stderr.write(f"chatops: preview of #{number}: {type(exc).__name__}: "
                                 f"{exc}\n")
        # Nothing is kept for a pull request without previews (a long-lived service).
        if self._workers.get(number) is asyncio.current_task():
            del self._workers[number]
        if not self.store.previews(number) and not self._notes.get(number):
            self._notes.pop(number, None)

    def router(self) -> Router:
        if self._router is None:
            self._router = router_for(self.ctx.runtime.settings)
        return self._router

    async def _apply(self, caller: Caller, event: PullEvent) -> None:
        settings = self.ctx.runtime.settings
        number = event.number
        notes: dict[str, str] = {}
        self._notes[number] = notes
        if event.kind == "closed" or settings.preview_label not in event.labels:
            why = ("the pull request was closed" if event.kind == "closed" else
                   f"the label {settings.preview_label!r} was removed")
            for row in self.store.previews(number):
                await self._teardown(caller, row, why)
            await self._publish(number)
            return
        forge = self.ctx.forge
        if forge is None:
            raise UnavailableError("previews need a forge (CHATOPS_FORGE_REPO and "
                                   "CHATOPS_FORGE_TOKEN): it says who added the label")
        targets = await self._targets(event)
        problem = await self._refusal(forge, event, targets)
        if problem is not None:
            for row in self.store.previews(number):
                await self._teardown(caller, row, "refused: " + problem)
            for target in targets:
                notes[target.stack] = problem
                await self._status(event.head, target.stack, "failure", problem, None)
            self._record(caller, "preview_refused", 403, reason=f"pull request #{number}: "
                         f"{problem}")
            await self._publish(number)
            return
        await self.router().check()
        for target in targets:
            try:
                await self._one(caller, event, target)
            except ChatopsError as exc:
                notes[target.stack] = exc.message
                self._record(caller, "preview_refused" if exc.status < 500 else
                             "preview_failed", exc.status, intent=target.intent.name,
                             reason=f"pull request #{number}: {exc.message}")
                await self._status(event.head, target.stack, "failure", exc.message, None)
        wanted = {t.stack for t in targets}
        for row in self.store.previews(number):
            if row.stack not in wanted:
                await self._teardown(caller, row, "the pull request no longer changes it")
        await self._publish(number)

    async def _targets(self, event: PullEvent) -> list[Target]:
        """The intents the pull request affects that have a ``preview:`` block, at its
        head, read from Git objects (fetched first; the checkout never moves)."""
        sync = self.ctx.sync()
        async with self.ctx.checkout_lock:
            # Fetched each time: the branch's policy, as it is now.
            base = await asyncio.to_thread(sync.pull_request_range, event.number,
                                           event.head, event.branch, event.base)
            view = await asyncio.to_thread(self.ctx.view, event.head)
            changed = await asyncio.to_thread(sync.changed_files, base, event.head)
        assert view.tree is not None  # noqa: S101 - read_commit gives its tree
        hit = affected_by(changed, view.intents.values(), self.ctx.repo, view.tree)
        found: dict[str, Target] = {}
        for name in sorted(hit):
            for doc in view.intents[name].documents:
                if doc.preview is not None:
                    found.setdefault(doc.stack, Target(view.intents[name], doc))
        return list(found.values())

    async def _refusal(self, forge: Forge, event: PullEvent, targets: list[Target]
                       ) -> str | None:
        """Why the pull request may not have previews at all, or None."""
        label = self.ctx.runtime.settings.preview_label
        if event.fork:
            return (f"pull request #{event.number} comes from a fork; previews run "
                    "branches of this repository only")
        pr = PullRequest(number=event.number, title=event.title, author=event.author,
                         merged_by=None, labels=event.labels, base="", merged=False,
                         state="open", url="", head=event.head,
                         head_ref=event.branch or "")
        history = None
        for rules in {self._rules(t.doc) for t in targets}:
            history = history or await forge.label_history(pr)
            problem = await previewer_problem(forge, pr, history, label, rules=rules,
                                              granted=self.ctx._granted)
            if problem:
                return problem
        return None

    def _rules(self, doc: IntentDoc) -> tuple[str, ...]:
        assert doc.preview is not None  # noqa: S101 - a target has one
        return (tuple(doc.preview.label_by) or tuple(doc.label_by)
                or self.ctx.rules.label_by or DEFAULT_LABEL_BY)

    async def _one(self, caller: Caller, event: PullEvent, target: Target) -> None:
        """Decide everything for one preview, then start (or update) it."""
        number = event.number
        preview, stack = target.doc.preview, target.stack
        assert preview is not None  # noqa: S101 - a target has one
        view = await asyncio.to_thread(self.ctx.view, event.head)
        assert view.tree is not None  # noqa: S101 - read_commit gives its tree
        sync = self.ctx.sync()
        # The policy as the deploy branch has it, never as the pull request does.
        base = CommitTree(sync.show, sync.tracking, (POLICY_FILE,))
        refused = [v.text() for v in intent_violations(target.intent, self.ctx.repo,
                                                       view.tree, preview=True,
                                                       policy_tree=base)]
        if refused:
            raise PreviewRefusedError("the compose policy refuses it (no exception for a "
                                      "preview): " + "; ".join(refused[:5]),
                                      intent=target.intent.name)
        path = self.ctx.repo.compose_path(target.doc)
        if not path.is_relative_to(self.ctx.repo.root):
            raise PreviewRefusedError(f"{path} is outside the repository: a preview reads "
                                      "its compose file from the pull request",
                                      intent=target.intent.name)
        file = path.relative_to(self.ctx.repo.root).as_posix()
        text = view.tree.read(file)
        if text is None:
            raise PreviewRefusedError(f"{file} is not in the pull request's head",
                                      intent=target.intent.name)
        existing = next((r for r in self.store.previews(number) if r.stack == stack), None)
        port = existing.port if existing is not None else self._free_port(number, stack)
        rendered = compose.render(text, file=file, preview=preview,
                                  service=preview.service or target.doc.service or "",
                                  number=number, port=port)
        now = _now()
        row = existing or PreviewRow(
            number=number, stack=stack, intent=target.intent.name,
            project=compose.project_name(stack, number), head=event.head, port=port,
            hosts=hosts_for(self.ctx.runtime.settings.preview_domain or "", number,
                            stack, self.store.previews(number)), state="starting", reason="",
            created_at=_iso(now), updated_at=_iso(now),
            expires_at=_iso(now + timedelta(seconds=preview.ttl)))
        row = replace(row, head=event.head, state="starting", reason="")
        self.store.save_preview(row)  # holds its port from here
        try:
            await self._bring_up(caller, event, target, row, rendered, file=file,
                                 existing=existing is not None)
        except ChatopsError as exc:
            await self._failed(caller, event, row, exc.message)

    async def _bring_up(self, caller: Caller, event: PullEvent, target: Target,
                        row: PreviewRow, rendered: compose.Rendered, *, file: str,
                        existing: bool) -> None:
        """Its files, ``up --wait``, its route and its probe; ``file``: its compose file,
        relative to the repository."""
        settings, number, stack = self.ctx.runtime.settings, event.number, target.stack
        preview = target.doc.preview
        assert preview is not None  # noqa: S101 - a target has one
        await self._status(event.head, stack, "pending", f"preview of {stack} starting",
                           None)
        root = settings.paths.root / "previews" / row.project
        folder = posixpath.dirname(file)
        compose_file = await asyncio.to_thread(
            lambda: runner.materialize(self.ctx.sync(), event.head, folder, root,
                                       rendered=rendered, compose_file=file,
                                       env_text=compose.env_file(preview)))
        timeout = min(target.doc.timeout, 600.0)
        done = await runner.up(self._engine(), settings.compose_command, row.project,
                               compose_file, timeout)
        if not done.ok:
            await self._failed(caller, event, row, f"docker compose up: {done.describe()}")
            return
        await self.router().add(row.hosts, row.port)
        status = await runner.probe(settings.preview_listen or "", row.hosts[0],
                                    preview.path, time.monotonic() + timeout)
        if not 0 < status < 500:
            await self._failed(caller, event, row, f"{preview.path} through the proxy "
                               f"answered {status or 'nothing'} within {timeout:g}s")
            return
        self.store.save_preview(replace(row, state="up"))
        url = self.preview_url(row.hosts[-1])
        verb = "updated" if existing else "created"
        self._record(caller, f"preview_{verb}", 201, intent=row.intent,
                     reason=f"pull request #{number}: {row.project} at {event.head[:12]} "
                     f"answers at {url}")
        await self._status(event.head, stack, "success", f"preview up at {url}", url)
        self._tell(target.doc, preview_message(
            f"🔍 PREVIEW {verb.upper()}: {stack} of pull request #{number}",
            [("Address", url), ("Commit", event.head[:12]), ("Removed at", row.expires_at)],
            "success"))

    async def _failed(self, caller: Caller, event: PullEvent, row: PreviewRow,
                      why: str) -> None:
        self.store.save_preview(replace(row, state="failed", reason=why))
        self._record(caller, "preview_failed", 502, intent=row.intent,
                     reason=f"pull request #{row.number}: {row.project}: {why}")
        await self._status(event.head, row.stack, "failure", why, None)

    async def _teardown(self, caller: Caller, row: PreviewRow, why: str) -> None:
        """Routes, containers, networks, volumes and files of one preview: all gone."""
        settings = self.ctx.runtime.settings
        root = settings.paths.root / "previews" / row.project
        with contextlib.suppress(ChatopsError):  # gone from the proxy already is fine
            await self.router().remove(row.hosts, row.port)
        found = next(iter(root.rglob(runner.FILE)), None) if root.exists() else None
        await runner.down(self._engine(), settings.compose_command, row.project, found)
        await asyncio.to_thread(shutil.rmtree, root, ignore_errors=True)
        self.store.drop_preview(row.number, row.stack)
        self._record(caller, "preview_removed", 200, intent=row.intent,
                     reason=f"pull request #{row.number}: {row.project} removed: {why}")
        await self._status(row.head, row.stack, "success", f"preview removed: {why}", None)
        with contextlib.suppress(ChatopsError):
            intent = self.ctx.load(row.intent)
            doc = next((d for d in intent.documents if d.stack == row.stack), None)
            if doc is not None:
                self._tell(doc, preview_message(
                    f"🧹 PREVIEW REMOVED: {row.stack} of pull request #{row.number}",
                    [("Why", why)], "info"))

    # -- helpers -----------------------------------------------------------------------

    def _engine(self) -> Engine:
        return self.ctx.queue.executor.engine

    def _free_port(self, number: int, stack: str) -> int:
        settings = self.ctx.runtime.settings
        taken = {r.port for r in self.store.previews()}
        running = len(self.store.previews())
        if running >= settings.preview_max:
            raise PreviewRefusedError(
                f"{running} previews run already (CHATOPS_PREVIEW_MAX={settings.preview_max})"
                f"; {stack} of #{number} is refused, none is evicted: close a pull request "
                "or run 'chatops previews destroy N'", field="CHATOPS_PREVIEW_MAX")
        port = free_port(settings.preview_port_range, taken)
        if port is None:
            raise PreviewRefusedError(
                f"no free port in CHATOPS_PREVIEW_PORTS ({settings.preview_ports}): "
                f"{len(taken)} previews and other programs hold them all",
                field="CHATOPS_PREVIEW_PORTS")
        return port

    def preview_url(self, host: str) -> str:
        return url_of(self.ctx.runtime.settings.preview_listen, host)

    async def _status(self, sha: str, stack: str, state: str, description: str,
                      url: str | None) -> None:
        forge = self.ctx.forge
        if forge is not None:
            with contextlib.suppress(ChatopsError):  # a status is news, never a reason
                await forge.set_status(sha, STATUS.format(stack=stack), state,
                                       description[:140], url)

    async def _publish(self, number: int) -> None:
        """The pull request's one comment: its last plan, then its previews."""
        forge = self.ctx.forge
        if forge is None:
            return
        plan = self.store.plan_comment(number) or f"{MARKER}\n### chatops"
        section = self.preview_section(number)
        with contextlib.suppress(ChatopsError):
            await forge.upsert_comment(number, MARKER, plan + ("\n\n" + section
                                                               if section else ""))

    def _tell(self, doc: IntentDoc, message: ChatMessage) -> None:
        """To the targets the intent's ``notify`` names (and the untagged ones)."""
        self.announce(message, "preview", tuple(doc.notify))


__all__ = ["PREVIEWER", "Previewing"]
