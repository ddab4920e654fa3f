"""``POST /webhooks/github``: GitHub tells us about a push; we deploy what it affects.
It tells us about a pull request; we comment what merging it would deploy.

Checks, each refusal audited: the HMAC-SHA256 signature (``X-Hub-Signature-256``, compared
in constant time), a delivery id never seen before (no replays), the event (``ping`` is
answered, other events and branches are acknowledged and ignored), no force-push. Then the
intents the push affects (their file, stack folder or compose file changed between
``before`` and ``after``) are checked against GitHub's pull request like ``POST /run``
with a ``sha``, and run one after another in dependency order. A ``pull_request`` event
(opened, reopened, synchronize) into the deploy branch gets the plan of every intent it
affects as one comment, updated on each push (``application.review``).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from chatops.application.caller import Caller, Trusted
from chatops.application.deploys import Push
from chatops.application.review import ZERO_SHA
from chatops.application.wiring import Services
from chatops.errors import (
    BadSignatureError,
    ForcePushRefusedError,
    InvalidPayloadError,
    ReplayedDeliveryError,
    RequestError,
    UnavailableError,
)
from chatops.server import models as m
from chatops.server.context import _ctx

WEBHOOK = "github-webhook"
SHA40 = re.compile(r"^[0-9a-f]{40}$")


def signature_ok(secret: bytes, body: bytes, header: str | None) -> bool:
    if not header or not header.startswith("sha256="):
        return False
    expected = "sha256=" + hmac.new(secret, body, hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected, header)


def sign(secret: bytes, body: bytes) -> str:
    """As GitHub signs a delivery (used by tests and by ``chatops`` tooling)."""
    return "sha256=" + hmac.new(secret, body, hashlib.sha256).hexdigest()


def push_fields(payload: Any) -> tuple[str, str, str, bool] | None:
    """(ref, before, after, forced) of a push payload, or None when it is malformed."""
    if not isinstance(payload, dict):
        return None
    ref, before, after = payload.get("ref"), payload.get("before"), payload.get("after")
    if not isinstance(ref, str) or not isinstance(before, str) or not isinstance(after, str):
        return None
    if not SHA40.match(before) or not SHA40.match(after):
        return None
    return ref, before, after, bool(payload.get("forced"))


Done = Callable[[int, dict[str, Any], str, str], JSONResponse]
PULL_ACTIONS = ("opened", "reopened", "synchronize")


@dataclass(frozen=True)
class PullEvent:
    number: int
    base: str
    head: str
    branch: str | None


def pull_fields(payload: Any, branch: str) -> PullEvent | str:
    """The pull request to plan, or why the event is ignored; InvalidPayloadError when
    it is malformed."""
    try:
        action = str(payload["action"])
        pr = payload["pull_request"]
        number = int(payload.get("number") or pr["number"])
        base, head = pr["base"], pr["head"]
        base_sha, head_sha = str(base["sha"]), str(head["sha"])
        base_ref, head_ref = str(base["ref"]), head.get("ref")
    except (KeyError, TypeError, ValueError):
        raise InvalidPayloadError("not a GitHub pull_request payload (action, number, "
                                  "pull_request.base and .head with sha and ref)") from None
    if not SHA40.match(base_sha) or not SHA40.match(head_sha) or not 0 < number < 10**9:
        raise InvalidPayloadError("pull_request.base.sha and .head.sha must be commit ids")
    if action not in PULL_ACTIONS:
        return f"pull request #{number} {action}"
    if base_ref != branch:
        return f"pull request #{number} into {base_ref}, not {branch}"
    return PullEvent(number, base_sha, head_sha, str(head_ref) if head_ref else None)


async def _checked_push(s: Services, request: Request, raw: bytes, done: Done
                        ) -> Push | PullEvent | JSONResponse:
    """The signature, delivery and event checks; the push to deploy, or the answer for
    anything else."""
    secret = s.settings.github_webhook_secret
    if secret is None:
        raise UnavailableError("set CHATOPS_GITHUB_WEBHOOK_SECRET to receive GitHub webhooks")
    if not signature_ok(secret.get_secret_value().encode(), raw,
                        request.headers.get("x-hub-signature-256")):
        raise BadSignatureError("X-Hub-Signature-256 is missing or does not match the body "
                                "signed with the webhook secret")
    delivery = request.headers.get("x-github-delivery", "")
    if not delivery or len(delivery) > 100:
        raise RequestError("X-GitHub-Delivery is missing", field="X-GitHub-Delivery")
    if not s.runtime.store.first_delivery(delivery):
        raise ReplayedDeliveryError(f"delivery {delivery} was received before; refused as "
                                    "a replay")
    event = request.headers.get("x-github-event", "")
    if event == "ping":
        return done(200, {"pong": True}, "allowed", "ping")
    if event not in ("push", "pull_request"):
        return done(202, {"ignored": f"event {event or '(none)'}"}, "ignored",
                    f"event {event}")
    try:
        payload = json.loads(raw)
    except (ValueError, RecursionError):
        payload = None
    if event == "pull_request":
        pull = pull_fields(payload, s.runtime.settings.deploy_branch)
        if isinstance(pull, str):
            return done(202, {"ignored": pull}, "ignored", pull)
        return pull
    fields = push_fields(payload)
    if fields is None:
        raise InvalidPayloadError("not a GitHub push payload (ref, before and after are "
                                  "needed)")
    ref, before, after, forced = fields
    branch = s.runtime.settings.deploy_branch
    if ref != f"refs/heads/{branch}":
        return done(202, {"ignored": f"push to {ref}"}, "ignored", f"push to {ref}")
    if after == ZERO_SHA:
        return done(202, {"ignored": "branch deleted"}, "ignored", "branch deleted")
    if forced:
        raise ForcePushRefusedError(f"a force-push to {branch} rewrote history; deploy a "
                                    "commit explicitly if that was intended")
    actor = str((payload.get("sender") or {}).get("login") or "github")[:100]
    return Push(ref=ref, before=before, after=after, delivery=delivery, actor=actor)


def register_webhook(api: FastAPI, s: Services) -> None:
    @api.post("/webhooks/github", tags=["runs"], status_code=202,
              responses={200: {"description": "ping answered"},
                         401: {"model": m.ErrorBody}, 403: {"model": m.ErrorBody},
                         409: {"model": m.ErrorBody}, 413: {"model": m.ErrorBody},
                         422: {"model": m.ErrorBody}, 429: {"model": m.ErrorBody},
                         503: {"model": m.ErrorBody}},
              openapi_extra={"requestBody": {"required": True, "content": {
                  "application/json": {"schema": {"type": "object"}}}}})
    async def github_webhook(request: Request) -> JSONResponse:
        """GitHub push webhook: deploy the intents the push affects, in dependency order.
        A pull_request event: comment the plan of the intents it affects (once per pull
        request, updated on each push)."""
        client, request_id, _ = _ctx(request)

        def done(status: int, body: dict[str, Any], decision: str, reason: str) -> JSONResponse:
            request.scope["state"]["audited"] = True
            s.audit.record(client=client, method="POST", endpoint="/webhooks/github",
                           decision=decision, reason=reason[:500], status=status,
                           request_id=request_id, key_name=WEBHOOK)
            return JSONResponse(body, status_code=status)

        checked = await _checked_push(s, request, await request.body(), done)
        if isinstance(checked, JSONResponse):
            return checked
        github = Caller(via="webhook", permissions=Trusted(WEBHOOK), client=client,
                        request_id=request_id, endpoint="/webhooks/github")
        if isinstance(checked, PullEvent):
            plan, published = await s.deploys.review(github, checked.number, checked.base,
                                                     checked.head, checked.branch)
            request.scope["state"]["audited"] = True
            return JSONResponse({"pull_request": checked.number, "sha": checked.head,
                                 "intents": [r.name for r in plan.intents],
                                 "comment": published.comment_id,
                                 "created": published.created}, status_code=202)
        full, order = await s.deploys.deploy_push(github, checked)
        request.scope["state"]["audited"] = True
        return JSONResponse({"sha": full, "intents": order}, status_code=202)
