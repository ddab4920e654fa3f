"""``POST /webhooks/github``: GitHub tells us about a push; we deploy what it affects.

Checks, each refusal audited: the HMAC-SHA256 signature (``X-Hub-Signature-256``, compared
in constant time), a delivery id never seen before (no replays), the event (``ping`` is
answered, other events and branches are acknowledged and ignored), no force-push. Then the
intents the push affects (their file, stack folder or compose file changed between
``before`` and ``after``) are checked against GitHub's pull request like ``POST /run``
with a ``sha``, and run one after another in dependency order.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from chatops.errors import IntentError
from chatops.gitops.affected import affected_intents
from chatops.gitops.git import GitError
from chatops.gitops.sync import RepoSync
from chatops.intents.loader import parse_intent
from chatops.intents.model import NAME_RE
from chatops.server import models as m
from chatops.server.commits import approval, git_refusal
from chatops.server.context import ApiError, Services, _ctx, _load, _plan, window_check
from chatops.store.records import RunStatus

ZERO_SHA = "0" * 40
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


async def _checked_push(s: Services, request: Request, raw: bytes, done: Done
                        ) -> tuple[str, str, str, str] | JSONResponse:
    """The signature, delivery and event checks; (ref, before, after, actor) of a push to
    deploy, or the answer for anything else."""
    secret = s.settings.github_webhook_secret
    if secret is None:
        raise ApiError(503, "not_configured",
                       "set CHATOPS_GITHUB_WEBHOOK_SECRET to receive GitHub webhooks")
    if not signature_ok(secret.get_secret_value().encode(), raw,
                        request.headers.get("x-hub-signature-256")):
        raise ApiError(401, "bad_signature", "X-Hub-Signature-256 is missing or does "
                       "not match the body signed with the webhook secret")
    delivery = request.headers.get("x-github-delivery", "")
    if not delivery or len(delivery) > 100:
        raise ApiError(422, "invalid_request", "X-GitHub-Delivery is missing",
                       field="X-GitHub-Delivery")
    if not s.runtime.store.first_delivery(delivery):
        raise ApiError(409, "replayed_delivery",
                       f"delivery {delivery} was received before; refused as a replay")
    event = request.headers.get("x-github-event", "")
    if event == "ping":
        return done(200, {"pong": True}, "allowed", "ping")
    if event != "push":
        return done(202, {"ignored": f"event {event or '(none)'}"}, "ignored",
                    f"event {event}")
    try:
        payload = json.loads(raw)
    except (ValueError, RecursionError):
        payload = None
    fields = push_fields(payload)
    if fields is None:
        raise ApiError(422, "invalid_payload", "not a GitHub push payload (ref, before "
                       "and after are needed)")
    ref, before, after, forced = fields
    branch = s.runtime.settings.deploy_branch
    if ref != f"refs/heads/{branch}":
        return done(202, {"ignored": f"push to {ref}"}, "ignored", f"push to {ref}")
    if after == ZERO_SHA:
        return done(202, {"ignored": "branch deleted"}, "ignored", "branch deleted")
    if forced:
        raise ApiError(403, "force_push_refused", f"a force-push to {branch} rewrote "
                       "history; deploy a commit explicitly if that was intended")
    # GitHub does not sign X-GitHub-Delivery: a replay is recognised by what it pushes.
    seen = s.runtime.store.push_seen(ref, before, after)
    if seen is not None:
        raise ApiError(409, "replayed_delivery", f"push {before[:12]}..{after[:12]} to {ref} "
                       f"was processed before (delivery {seen}); refused as a replay")
    actor = str((payload.get("sender") or {}).get("login") or "github")[:100]
    return ref, before, after, actor


async def _affected(sync: RepoSync, s: Services, before: str, after: str
                    ) -> tuple[str, list[str], dict[str, Any]]:
    """Fetch, then (commit, affected intent names in order, intents at that commit)."""
    try:
        await asyncio.to_thread(sync.fetch)
        full = await asyncio.to_thread(sync.resolve, after)
        if before == ZERO_SHA:
            changed = await asyncio.to_thread(sync.all_files_at, full)
        else:
            changed = await asyncio.to_thread(sync.changed_files, before, full)
        paths = await asyncio.to_thread(sync.files_at, full, "chatops/intents")
    except GitError as exc:
        raise git_refusal(exc) from None
    intents = {}
    for path in paths:
        stem = Path(path).stem
        if not path.endswith((".yaml", ".yml")) or not NAME_RE.match(stem):
            continue
        data = await asyncio.to_thread(sync.show, full, path)
        try:
            intents[stem] = parse_intent(data or b"", label=Path(path).name, name=stem)
        except IntentError:
            continue  # an invalid intent cannot be deployed; CI reports it
    return full, affected_intents(changed, intents.values(), s.repo), intents


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
        """GitHub push webhook: deploy the intents the push affects, in dependency order."""
        client, request_id, _ = _ctx(request)

        def done(status: int, body: dict[str, Any], decision: str, reason: str) -> JSONResponse:
            request.scope["state"]["audited"] = True
            s.audit.record(client=client, method="POST", endpoint="/webhooks/github",
                           decision=decision, reason=reason[:500], status=status,
                           request_id=request_id, key_name="github-webhook")
            return JSONResponse(body, status_code=status)

        checked = await _checked_push(s, request, await request.body(), done)
        if isinstance(checked, JSONResponse):
            return checked
        window_check(s, None)
        ref, before, after, actor = checked
        delivery = request.headers.get("x-github-delivery", "")

        def claim() -> None:
            if not s.runtime.store.claim_push(ref, before, after, delivery):
                raise ApiError(409, "replayed_delivery", f"push {before[:12]}..{after[:12]} "
                               f"to {ref} was processed before; refused as a replay")

        base = s.runtime.settings
        sync = RepoSync(s.repo.root, base.git_remote, base.deploy_branch)
        assert s.checkout_lock is not None  # noqa: S101 - set by create_app
        async with s.checkout_lock:
            full, order, intents = await _affected(sync, s, before, after)
            if not order:
                claim()
                return done(202, {"sha": full, "intents": []}, "ignored",
                            f"push {full[:12]} affects no intent")
            approvals = {name: await approval(s, intents[name], full)
                         for name in order}
            try:  # refuse now, not after the answer
                await asyncio.to_thread(sync.ensure_clean)
            except GitError as exc:
                raise ApiError(409, "checkout_dirty", exc.message) from None
            claim()

        async def run_in_order() -> None:
            # Runs of the previous commit finish first: the checkout never moves under them.
            while s.manager.depth and await asyncio.to_thread(sync.head) != full:
                await asyncio.sleep(0.2)
            assert s.checkout_lock is not None  # noqa: S101 - set by create_app
            async with s.checkout_lock:
                try:
                    await asyncio.to_thread(sync.checkout_to, full)
                except GitError as exc:
                    s.audit.record(client=client, method="POST", endpoint="/webhooks/github",
                                   decision="failed", reason=f"checkout: {exc.message}",
                                   status=409, request_id=request_id,
                                   key_name="github-webhook")
                    return
                plans = [_plan(s, _load(s, name)) for name in order]
            for plan in plans:
                run_id = s.manager.submit(plan, trigger="webhook", actor=actor,
                                          client=client, sha=full)
                pr = approvals.get(plan.intent)
                if pr is not None:
                    s.runtime.store.set_pull_request(run_id, pr.as_dict())
                outcome = await s.manager.wait(run_id, s.settings.wait_timeout)
                if outcome is None or outcome.status is not RunStatus.succeeded:
                    return  # later intents depend on this one, or come after it

        s.background.add(asyncio.get_running_loop().create_task(run_in_order()))
        return done(202, {"sha": full, "intents": order}, "accepted",
                    f"push {full[:12]} by {actor}: {', '.join(order)}")
