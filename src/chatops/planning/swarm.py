"""A Swarm step, planned: ``docker stack deploy`` with images pinned by digest, the
outcome read from each service's ``UpdateStatus``, and the way back. Pure."""

from __future__ import annotations

from pathlib import Path

from chatops.intents.model import IntentDoc
from chatops.planning.steps import Command, RollbackPlan

WAIT = ("engine-api", "wait", "<each service's UpdateStatus newer than the deploy>")
DEPLOY = ("docker", "stack", "deploy")


def pins_file(state: Path, stack: str) -> Path:
    """Where a stack's digest pins are written (never in the checkout)."""
    return state / "swarm" / f"{stack}.pins.yml"


def swarm_service(stack: str, service: str) -> str:
    return f"{stack}_{service}"


def commands(doc: IntentDoc, file: Path, pins: Path) -> tuple[Command, ...]:
    t, stack = doc.timeout, doc.stack
    what = f"service {swarm_service(stack, doc.service)}" if doc.service else \
        f"every service of stack {stack}"
    target = swarm_service(stack, doc.service) if doc.service else "<each service>"
    wait = Command(WAIT, "wait for the update of each service: completed is success; "
                   "paused and every rollback_* state are failures, with Swarm's message",
                   t, False)
    match doc.action:
        case "rollout":
            return (
                Command(("docker", "pull", "<each image of the file>"),
                        f"pull each image and pin it by its digest ({pins}), so every "
                        "node runs the same one", t, False),
                Command((*DEPLOY, "-c", str(file), "-c", str(pins), "--with-registry-auth",
                         "--resolve-image", "always", stack),
                        f"deploy stack {stack} (the file's deploy.update_config and "
                        "rollback_config apply)", t, True),
                wait,
            )
        case "scale":
            return (Command(("docker", "service", "scale", "--detach",
                             f"{target}={doc.replicas}"),
                            f"scale {what} to {doc.replicas} replicas", t, True),
                    Command((*WAIT[:2], "<running tasks = replicas>"),
                            "wait until that many tasks run", t, False))
        case "restart":
            return (Command(("docker", "service", "update", "--detach", "--force", target),
                            f"restart {what} (a rolling update)", t, True), wait)
        case "rollback":
            return (Command(("docker", "service", "update", "--detach",
                             "--with-registry-auth", "--image", "<its image in the last "
                             "good run, by digest>", target),
                            f"return {what} to the images of the last succeeded run that "
                            "differ from now", t, True), wait)
    raise AssertionError(f"unplanned swarm action {doc.action}")  # pragma: no cover


def rollback(doc: IntentDoc) -> RollbackPlan:
    return RollbackPlan(
        description="every service back to its image digest in the snapshot taken "
        "before the change (docker service update --image), each update waited for",
        commands=(Command(("docker", "service", "update", "--detach",
                           "--with-registry-auth", "--image", "<snapshot digest>",
                           "<each changed service>"),
                          "return each changed service to its snapshot digest",
                          doc.timeout, True),),
        regate=True)
