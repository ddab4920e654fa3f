"""Execute a plan: the thin layer that touches the engine. Each step (one intent
document) runs as its strategy says (``runner.strategies``), through the services here:
Compose's view of the project (an invalid file refused before any change), the snapshot,
commands and health gates, each written to the run history as it happens."""

from __future__ import annotations

import asyncio
import contextlib
import os
from collections import OrderedDict
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from typing import Any

from msgspec import Struct

from chatops import events as ev
from chatops.clock import Clock
from chatops.engine.base import CommandResult, Engine, OutputLine
from chatops.engine.environment import child_env
from chatops.engine.hosts import on_host
from chatops.errors import ChatopsError, EngineError, HostUnreachableError, LockBusyError
from chatops.locks import HeldLocks, Locks
from chatops.masking import Masker
from chatops.planning.binds import relative_binds
from chatops.planning.render import plan_to_dict
from chatops.planning.steps import Command, Plan, StepPlan
from chatops.runner import restore
from chatops.runner.gating import run_gates
from chatops.runner.hooks import hook_env, run_hooks
from chatops.runner.project import ComposeConfigError, config_argv, parse_config, reading_key
from chatops.runner.secrets import RunSecrets
from chatops.runner.snapshot import folder_hashes, take_snapshot
from chatops.runner.state import HandoffSignal, StepFailedError, StepState
from chatops.runner.strategies import strategy_for
from chatops.store.database import utcnow
from chatops.store.records import RunStatus
from chatops.store.sqlite import RunStore, new_run_id

PREFLIGHT_TIMEOUT = 60.0
READINGS_KEPT = 128
#: Builds the traffic driver of a blue-green service: (stack, service, traffic block).
TrafficFactory = Callable[[str, str, Any], Any]


class RunRequest(Struct):
    plan: Plan
    trigger: str = "cli"
    actor: str = "unknown"
    client: str = "local"
    sha: str | None = None
    wait: bool = True
    run_id: str | None = None  # a run already created (queued) by the caller
    parent_id: str | None = None  # the orchestration this run is part of


class RunOutcome(Struct):
    run_id: str
    status: RunStatus
    reason: str | None
    refused: bool = False


class Executor:
    def __init__(
        self, *, engine: Engine, store: RunStore, locks: Locks, clock: Clock,
        compose_command: tuple[str, ...] = ("docker", "compose"),
        sinks: Sequence[ev.Sink] = (),
        kuma_url: str | None = None,
        traffic: TrafficFactory | None = None,
        masker: Masker | None = None,
        secrets: RunSecrets | None = None,
    ) -> None:
        self.masker = masker if masker is not None else store.masker
        #: SOPS files: opened before a run changes anything, staged for each step.
        self.secrets = secrets if secrets is not None else RunSecrets(self.masker)
        self.kuma_url = kuma_url
        self.traffic = traffic
        self.engine = engine
        self.store = store
        self.locks = locks
        self.clock = clock
        self.compose_command = compose_command
        self.sinks = list(sinks)
        self._liveness: dict[str, HeldLocks] = {}
        self._context: dict[str, dict[str, str | None]] = {}
        #: Compose's readings of compose files, by what each depends on (reading_key).
        self._readings: OrderedDict[str, list[str]] = OrderedDict()
        self._clients: dict[str, str] = {}

    # -- events ----------------------------------------------------------------

    def emit(self, run_id: str, intent: str, event_kind: str, **data: Any) -> None:
        data.setdefault("client", self._clients.get(run_id, "local"))
        event = ev.Event(event_kind, run_id, intent, self.masker.mask_data(data))
        for sink in self.sinks:
            try:
                sink(event)
            except Exception:  # noqa: S112 - a broken sink must never break a deploy
                continue

    # -- runs ------------------------------------------------------------------

    def create(self, req: RunRequest) -> str:
        """Record the run as queued (so it is never lost), and return its id."""
        stacks = sorted({s.stack for s in req.plan.steps})
        run_id = req.run_id or new_run_id()
        self._clients[run_id] = req.client
        # The liveness marker is held from the moment the run exists, queued or not, so
        # that a run is marked interrupted only when its process is really gone.
        self._liveness[run_id] = self.locks.hold_run(run_id)
        try:
            self.store.create_run(
                intent=req.plan.intent, trigger=req.trigger, actor=req.actor,
                client=req.client, stacks=stacks, sha=req.sha, plan=plan_to_dict(req.plan),
                run_id=run_id, parent_id=req.parent_id,
            )
        except BaseException:
            self._liveness.pop(run_id).release()
            raise
        return run_id

    def run_context(self, run_id: str) -> dict[str, str | None]:
        """Who asked for a running run, and for which commit (for hooks)."""
        return self._context.get(run_id, {})

    def note(self, run_id: str, intent: str, text: str) -> None:
        """A line of chatops's own in the run's log, and on its event stream."""
        self.store.add_line(run_id, utcnow(), "chatops", text)
        self.emit(run_id, intent, ev.NOTE, text=text)

    @contextlib.asynccontextmanager
    async def recorded(self, run_id: str, step: StepPlan, phase: str, description: str,
                       argv: list[str]) -> AsyncIterator[None]:
        """Record what runs inside (an Engine API call, not a process) as a step of the
        run: its description, its time, and its error when it fails."""
        seq = self.store.start_step(run_id, doc=step.index, phase=phase,
                                    description=description, argv=argv)
        start = self.clock.monotonic()
        error: str | None = None
        try:
            yield
        except EngineError as exc:
            error = exc.message
            raise
        finally:
            self.store.finish_step(run_id, seq, exit_code=None if error else 0,
                                   timed_out=False, error=error,
                                   duration=self.clock.monotonic() - start, tail=[])

    def abandon(self, run_id: str, reason: str) -> None:
        """Close a run that was created but will never execute (the service is stopping)."""
        self.store.finish_run(run_id, RunStatus.interrupted, reason)
        self.emit(run_id, "", ev.RUN_FINISHED, status=str(RunStatus.interrupted),
                   reason=reason, refused=False)
        self._clients.pop(run_id, None)
        held = self._liveness.pop(run_id, None)
        if held is not None:
            held.release()

    async def execute(self, req: RunRequest) -> RunOutcome:
        run_id = req.run_id or self.create(req)
        intent = req.plan.intent
        liveness = self._liveness.pop(run_id, None) or self.locks.hold_run(run_id)
        self._context[run_id] = {"sha": req.sha, "actor": req.actor}
        status: RunStatus = RunStatus.failed
        reason: str | None = "the run did not finish"
        refused = False
        try:
            stacks = sorted({s.stack for s in req.plan.steps})
            self.emit(run_id, intent, ev.RUN_STARTED, stacks=stacks)
            try:
                held = await self.locks.acquire(
                    stacks, owner=f"run {run_id} of intent {intent} (pid {os.getpid()})",
                    wait=req.wait, sleep=self.clock.sleep,
                    on_wait=lambda stack, holder: self.emit(
                        run_id, intent, ev.WAITING, stack=stack, holder=holder),
                )
            except LockBusyError as exc:
                status, reason, refused = RunStatus.failed, exc.message, True
                return RunOutcome(run_id, status, reason, refused=True)
            try:
                self.store.mark_running(run_id)
                status, reason = await self._run_steps(run_id, req.plan)
            finally:
                held.release()
        except asyncio.CancelledError:
            status, reason = RunStatus.interrupted, (
                "interrupted (signal or shutdown) while running; no rollback was attempted")
            raise
        except HandoffSignal:
            status, reason = RunStatus.running, "handed over to the next chatops"
        except ChatopsError as exc:
            status, reason = RunStatus.failed, exc.message
        except Exception as exc:  # no audit record is lost, whatever went wrong
            status, reason = RunStatus.failed, f"internal error: {type(exc).__name__}: {exc}"
        finally:
            if status is not RunStatus.running:  # else the next chatops finishes it
                self.store.finish_run(run_id, status, reason)
                self.emit(run_id, intent, ev.RUN_FINISHED, status=str(status),
                          reason=reason, refused=refused)
            self._clients.pop(run_id, None)
            self._context.pop(run_id, None)
            liveness.release()
        return RunOutcome(run_id, status, reason, refused=refused)

    async def _run_steps(self, run_id: str, plan: Plan) -> tuple[RunStatus, str | None]:
        """Each step in order, every secret of every step opened before the first change;
        the first that does not succeed ends the run."""
        try:
            self.secrets.open(run_id, plan.steps)
        except ChatopsError as exc:
            self.note(run_id, plan.intent, f"{exc.message}; nothing was changed")
            return RunStatus.failed, f"{exc.message}; nothing was changed"
        notes: list[str] = []
        try:
            for step in plan.steps:
                where = f"step {step.index}/{step.count} ({step.action} on {step.stack})"
                self.emit(run_id, plan.intent, ev.STEP_STARTED, **restore.step_fields(step))
                status, reason = await self._run_step(run_id, plan.intent, step)
                if status is not RunStatus.succeeded:
                    return status, f"{where}: {reason}"
                if reason != "succeeded":  # succeeded, with something to say (a hook failed)
                    notes.append(f"{where}: {reason}")
        finally:
            self.secrets.close(run_id)
        return RunStatus.succeeded, "; ".join(notes) or None

    # -- one step --------------------------------------------------------------

    async def _run_step(self, run_id: str, intent: str, step: StepPlan
                        ) -> tuple[RunStatus, str]:
        """One step on its host (every engine call and command inside goes there), its
        strategy's way, then its ``on_failure`` hooks when it failed (they never hide
        why)."""
        with on_host(step.host):
            if step.host is not None:
                problem = await self._host_problem(step)
                if problem is not None:
                    self.note(run_id, intent, problem)
                    return RunStatus.failed, problem
            with self.secrets.staged(run_id, step) as folder:
                context = self._context.setdefault(run_id, {})
                context["secrets_dir"] = str(folder) if folder is not None else None
                state = StepState(step)
                try:
                    status, reason = await strategy_for(step).run(self, run_id, intent,
                                                                  state)
                    if status is RunStatus.succeeded or not step.hooks_of("on_failure"):
                        return status, reason
                    env = hook_env(self, run_id, intent, step, before=state.before,
                                   outcome=str(status))
                    problem = await run_hooks(self, run_id, intent, step,
                                              kind="on_failure", env=env)
                    return status, reason + (f"; {problem}" if problem else "")
                finally:
                    context.pop("secrets_dir", None)

    async def _host_problem(self, step: StepPlan) -> str | None:
        """Why the step cannot go to its host, before anything changes: the host does not
        answer, or the compose file binds a relative path (Compose would resolve it on
        this machine, not there)."""
        try:
            text = step.compose.read_bytes()
        except OSError:
            text = b""  # Compose's own reading says why
        binds = relative_binds(text)
        if binds:
            line, service, source = binds[0]
            return (f"{step.compose}, line {line}: service {service} binds the relative "
                    f"path {source!r}; on host {step.host} it would resolve on this machine "
                    "instead: use an absolute path on the host (nothing was changed)")
        try:
            await self.engine.ping()
        except HostUnreachableError as exc:  # it names the host already
            return f"{exc.message} (nothing was changed)"
        except ChatopsError as exc:
            return (f"host {step.host} cannot be reached: {exc.message} (nothing was "
                    "changed)")
        return None

    async def save_after(self, run_id: str, state: StepState) -> None:
        """What a succeeded step left running: the history a rollback goes back through."""
        step = state.step
        if state.project is None:
            return
        taken = await take_snapshot(self.engine, state.project, state.services, step.stack)
        taken["health"] = [g.check.model_dump(mode="json") for g in step.gates
                           if not g.implicit]
        taken["action"] = step.action
        self.save_snapshot(run_id, step, "after", taken)

    def save_snapshot(self, run_id: str, step: StepPlan, kind: str, data: dict[str, Any]
                      ) -> None:
        """A snapshot of the step's stack; what a deploy leaves (``after``) says which
        secret files it used, by hash, so going back to it gets them back, and the hash of
        every file of its stack folder (drift tells a file edited since)."""
        if kind == "after":
            data = {**data, **self.secrets.kept(run_id, step),
                    "folder": str(step.compose.parent),
                    "files": folder_hashes(step.compose.parent)}
        self.store.save_snapshot(run_id, doc=step.index, kind=kind, stack=step.stack,
                                 data=data)

    async def commands(self, run_id: str, intent: str, state: StepState,
                        commands: Sequence[Command]) -> None:
        """The step's commands in order (a rollback's with the secrets it goes back to);
        the first that fails fails the step."""
        step = state.step
        back = state.target if step.action == "rollback" else None
        with self.secrets.going_back(run_id, step, back):
            for cmd in commands:
                argv = cmd.argv
                if step.action == "rollback" and state.before is not None:
                    argv = restore.restore_argv(self.compose_command, state,
                                                restore.target_replicas(state))
                result = await self.command(run_id, intent, step, cmd, "deploy", argv)
                if cmd.mutating and not state.changed:
                    state.changed = True
                    self.store.mark_changed(run_id)
                if not result.ok:
                    raise StepFailedError(f"{cmd.description} failed: {result.describe()}")

    async def prepare(self, run_id: str, intent: str, state: StepState) -> None:
        """Compose's view of the project (refusing an invalid file), then the snapshot."""
        step = state.step
        argv = config_argv(self.compose_command, step.compose)
        try:
            content = step.compose.read_bytes()
        except OSError as exc:
            raise StepFailedError(f"cannot read {step.compose}: {exc.strerror}") from None
        lines, failed = await self.read_compose(run_id, intent, step, argv, content,
                                                "read the compose file with Compose")
        if lines is None:
            raise StepFailedError(f"compose file {step.compose} is invalid or unreadable, "
                                  f"nothing was changed: {failed}")
        try:
            state.project = parse_config("\n".join(lines), step.compose, content)
            state.services = state.project.pick(step.service)
        except ComposeConfigError as exc:
            raise StepFailedError(exc.message) from None
        if step.snapshot:
            state.before = await take_snapshot(self.engine, state.project, state.services,
                                               step.stack)
            self.save_snapshot(run_id, step, "before", state.before)

    async def read_compose(  # noqa: PLR0917 - every call site names what it passes
        self, run_id: str, intent: str, step: StepPlan, argv: tuple[str, ...],
        content: bytes, description: str, env: Mapping[str, str] | None = None,
    ) -> tuple[list[str] | None, str]:
        """Compose's reading of a file (``argv``: its ``config --format json``), asked
        once and reused while nothing it depends on changed. The lines, or None and why
        Compose refused."""
        # The host is part of it: its vars (interpolation) are its engine's, set once per
        # process.
        key = reading_key((*argv, f"host={step.host or ''}"), step.compose, content,
                          child_env({**dict(step.env), **(env or {})}))
        lines = self._readings.get(key) if key is not None else None
        if lines is not None:  # nothing it depends on changed: Compose's answer stands
            self._readings.move_to_end(key)  # type: ignore[arg-type]
            async with self.recorded(run_id, step, "preflight", f"{description} (nothing "
                                     "it depends on changed since Compose last read it: "
                                     "that reading is reused)", list(argv)):
                return lines, ""
        lines = []
        config = Command(argv, description, PREFLIGHT_TIMEOUT, False)
        result = await self.command(run_id, intent, step, config, "preflight", argv,
                                    quiet=True, collect=lines, env=env)
        if not result.ok:
            return None, result.describe()
        if key is not None:
            self._readings[key] = lines
            while len(self._readings) > READINGS_KEPT:
                self._readings.popitem(last=False)
        return lines, ""

    async def command(  # noqa: PLR0917 - private; every call site names what it passes
        self, run_id: str, intent: str, step: StepPlan, cmd: Command, phase: str,
        argv: tuple[str, ...], *, quiet: bool = False, collect: list[str] | None = None,
        env: Mapping[str, str] | None = None, cwd: str | None = None,
    ) -> CommandResult:
        seq = self.store.start_step(run_id, doc=step.index, phase=phase,
                                    description=cmd.description, argv=list(argv))
        fields = restore.step_fields(step)
        self.emit(run_id, intent, ev.COMMAND_STARTED, argv=list(argv), phase=phase,
                   description=cmd.description, **fields)

        def on_line(line: OutputLine) -> None:
            if collect is not None and line.stream == "stdout":
                collect.append(line.text)
                return
            self.store.add_line(run_id, line.ts.isoformat(timespec="milliseconds"),
                                line.stream, line.text)
            if not quiet:
                self.emit(run_id, intent, ev.OUTPUT, stream=line.stream, text=line.text)

        if step.env:  # the intent's own variables, under what chatops sets for the run
            env = {**dict(step.env), **(env or {})}
        argv, env = self.secrets.point(run_id, step, argv, env)
        result = await self.engine.run(argv, timeout=cmd.timeout, on_line=on_line, env=env,
                                       cwd=cwd)
        tail = result.tail if collect is None else [t for t in result.tail if t not in collect]
        self.store.finish_step(run_id, seq, exit_code=result.exit_code,
                               timed_out=result.timed_out, error=result.error,
                               duration=result.duration, tail=tail[-40:])
        self.emit(run_id, intent, ev.COMMAND_FINISHED, argv=list(argv), phase=phase,
                   ok=result.ok, exit_code=result.exit_code, duration=result.duration,
                   detail=result.describe(), **fields)
        return result

    # -- health ----------------------------------------------------------------

    async def gates(self, run_id: str, intent: str, state: StepState, phase: str,
                     expected: dict[str, int] | None = None) -> str | None:
        """Run every gate at once; return why the step failed, or None."""
        return await run_gates(self, run_id, intent, state, phase=phase, expected=expected)

    # -- the recreate path's way back (runner.restore) ------------------------------------

    async def after_failure(self, run_id: str, intent: str, state: StepState, reason: str
                            ) -> tuple[RunStatus, str]:
        # Back to what ran before: the newest succeeded deploy of the stack, and the
        # secrets it was deployed with.
        last = next((snap for rid, snap in self.store.good_snapshots(state.step.stack)
                     if rid != run_id), None)
        try:
            with self.secrets.going_back(run_id, state.step, last):
                return await restore.after_failure(self, run_id, intent, state, reason)
        except ChatopsError as exc:  # the old secrets cannot be had: say so, left as is
            return RunStatus.rollback_failed, f"{reason}; rollback failed: {exc.message}"

    async def retag_to_last_good(self, run_id: str, intent: str, state: StepState) -> None:
        await restore.retag_to_last_good(self, run_id, intent, state)
