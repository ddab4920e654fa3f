"""Every stack at a glance: what the repository wants, what runs, and what differs.

For each stack the intents name: the images its compose file asks for (in the checkout),
the containers of its Compose project with their state and health (from the Engine API),
the drift between the two, the commit each intent last deployed, its last run, and, for
a blue-green service, the slot that serves. Reading only: nothing here changes anything.
"""

from __future__ import annotations

import asyncio
import contextlib
from pathlib import Path

import yaml
from msgspec import Struct, field

from chatops.engine.base import ContainerState, Engine
from chatops.engine.hosts import on_host
from chatops.errors import ChatopsError
from chatops.intents.loader import IntentFile
from chatops.intents.model import IntentDoc
from chatops.planning.images import images_in
from chatops.repo import GitOpsRepo
from chatops.store.records import RunRecord
from chatops.store.sqlite import RunStore

ENGINE_TIMEOUT = 3.0


class ContainerView(Struct):
    name: str
    service: str
    image: str
    state: str
    health: str | None
    image_id: str = ""  # sha256:..., what it runs (a tag moved since is told apart)

    @property
    def problem(self) -> str | None:
        """Why this container is not well, in words, or None."""
        if self.state != "running":
            return f"{self.name} is {self.state}"
        if self.health == "unhealthy":
            return f"{self.name} is unhealthy"
        return None


class StackView(Struct):
    stack: str
    project: str
    compose: str
    intents: list[str] = field(default_factory=list)
    deployed: dict[str, str | None] = field(default_factory=dict)  # intent: commit
    wanted: dict[str, str] = field(default_factory=dict)  # service: image
    containers: list[ContainerView] = field(default_factory=list)
    live_slots: dict[str, str] = field(default_factory=dict)  # blue-green service: slot
    last_run: RunRecord | None = None
    engine_problem: str | None = None
    host: str | None = None  # a named host's stack is read from that host's engine
    swarm: bool = False  # Swarm services instead of Compose containers

    @property
    def drift(self) -> list[str]:
        """Where what runs differs from what the repository wants."""
        if self.engine_problem:
            return []
        found: list[str] = []
        last = self.last_run
        if last is not None and str(last.status) in ("rolled_back", "rollback_failed",
                                                     "failed"):
            found.append(f"the last run ({last.intent}, {last.id}) ended {last.status}: "
                         "the host does not run what the repository wants")
        elif last is not None and last.intent.startswith("rollback-"):
            found.append(f"rolled back by run {last.id}: the host runs an earlier deploy "
                         "than the repository says")
        for service, image in sorted(self.wanted.items()):
            running = [c for c in self.containers
                       if c.service == service and c.state == "running"]
            if service in self.live_slots:
                continue  # blue-green slots are projects of their own
            if not running:
                found.append(f"{service} is not running (the repository wants {image})")
            for c in running:
                if c.image != image and not self.swarm:  # Swarm runs pinned digests
                    found.append(f"{service} runs {c.image}; the repository wants {image}")
        return found

    @property
    def problems(self) -> list[str]:
        return [p for c in self.containers if (p := c.problem)]

    @property
    def healthy(self) -> bool:
        return not self.engine_problem and not self.drift and not self.problems


def _project_name(compose: Path, text: bytes | None) -> str:
    """Compose's project name: the file's ``name:``, else its folder's name."""
    with contextlib.suppress(yaml.YAMLError, AttributeError):
        data = yaml.safe_load(text or b"")
        if isinstance(data, dict) and isinstance(data.get("name"), str):
            return str(data["name"])
    return "".join(c for c in compose.parent.name.lower() if c.isalnum() or c in "-_")


async def stack_views(repo: GitOpsRepo, intents: list[IntentFile], store: RunStore,
                      engine: Engine) -> list[StackView]:
    """One view per stack the intents name, sorted by name."""
    views: dict[str, StackView] = {}
    for intent in intents:
        placed: list[tuple[IntentDoc, str | None]] = []
        for d in intent.documents:
            hosts: list[str | None] = [*d.hosts] or [d.host]
            placed += [(d, h) for h in hosts]
        for doc, where in placed:
            # On a named host a stack is its own (STACK@HOST), read from that engine.
            key = doc.stack if where is None else f"{doc.stack}@{where}"
            view = views.get(key)
            if view is None:
                compose = repo.compose_path(doc)
                try:
                    text = compose.read_bytes()
                except OSError:
                    text = None
                good = store.good_snapshots(key)
                project = (good[0][1].get("project") if good else None) or \
                    (doc.stack if doc.engine == "swarm" else _project_name(compose, text))
                view = views[key] = StackView(key, str(project), str(compose),
                                              wanted=images_in(text), host=where,
                                              swarm=doc.engine == "swarm")
                runs = store.list_runs(stack=key, limit=1)
                view.last_run = runs[0] if runs else None
            if intent.name not in view.intents:
                view.intents.append(intent.name)
                view.deployed[intent.name] = store.deployed_sha(intent.name)
            if doc.strategy != "recreate" and doc.service:
                last = store.last_traffic(doc.stack, doc.service) or {}
                if last.get("after"):
                    view.live_slots[doc.service] = str(last["after"])
    await asyncio.gather(*(_containers(view, engine) for view in views.values()))
    return [views[name] for name in sorted(views)]


async def _containers(view: StackView, engine: Engine) -> None:
    where = f"host {view.host}'s engine" if view.host else "the Docker engine"
    try:
        with on_host(view.host):
            if view.swarm:
                await asyncio.wait_for(_services(view, engine), ENGINE_TIMEOUT)
                return
            found: list[ContainerState] = await asyncio.wait_for(
                engine.containers(view.project), ENGINE_TIMEOUT)
    except (ChatopsError, TimeoutError, OSError) as exc:
        view.engine_problem = f"{where} did not answer: {exc}"
        return
    view.containers = [ContainerView(c.name, c.service, c.image_ref, c.state, c.health,
                                     c.image_id) for c in found]


async def _services(view: StackView, engine: Engine) -> None:
    """A Swarm stack's services, each as one line: its image and running tasks."""
    for service in await engine.swarm_services(view.project):
        spec = service.get("Spec") or {}
        name = str(spec.get("Name", ""))
        image = str(((spec.get("TaskTemplate") or {}).get("ContainerSpec") or {})
                    .get("Image", ""))
        if "@sha256:" in image:  # pinned: the digest's start is enough to read
            image = image[:image.index("@sha256:") + 20]
        wanted = int(((spec.get("Mode") or {}).get("Replicated") or {}).get("Replicas", 1))
        tasks = await engine.swarm_tasks(str(service.get("ID", "")))
        running = sum(1 for t in tasks if (t.get("Status") or {}).get("State") == "running"
                      and t.get("DesiredState") == "running")
        short = name.removeprefix(f"{view.project}_")
        view.containers.append(ContainerView(
            f"{name} ({running}/{wanted} tasks)", short, image,
            "running" if running >= wanted else f"{running} of {wanted} running", None))
