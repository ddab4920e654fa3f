"""``POST /webhooks/{forge}``: the forge tells us about a push; we deploy what it affects.
It tells us about a pull request; we comment what merging it would deploy.

Checks, each refusal audited: the delivery is the configured forge's (``CHATOPS_FORGE``)
and verified by it (GitHub's ``X-Hub-Signature-256``, Gitea's and Forgejo's
``X-Gitea-Signature``/``X-Forgejo-Signature``: HMAC-SHA256 of the body; GitLab's
``X-Gitlab-Token``: the secret itself, compared in constant time), a delivery id never
seen before (no replays), the event (``ping`` is answered, other events and branches are
acknowledged and ignored), no force-push. Then the intents the push affects are checked
against the forge's pull request like ``POST /run`` with a ``sha``, and run one after
another in dependency order. A pull-request (merge-request) event into the deploy branch
gets the plan of every intent it affects as one comment, updated on each push
(``application.review``).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from chatops.application.caller import Caller, Trusted
from chatops.application.deploys import Push
from chatops.application.wiring import Services
from chatops.errors import NotFoundError, ReplayedDeliveryError, UnavailableError
from chatops.gitops.forges import FORGES, Delivery, PullEvent, PushEvent
from chatops.gitops.git import ZERO_SHA
from chatops.server import models as m
from chatops.server.context import _ctx


def _checked(s: Services, forge: str, request: Request, raw: bytes) -> Delivery:
    """The delivery, verified by the configured forge and never seen before."""
    configured = s.settings.forge
    if forge != configured or forge not in FORGES:
        raise NotFoundError(f"this service's forge is {configured} (CHATOPS_FORGE): its "
                            f"webhook is /webhooks/{configured}", field="forge")
    secret = s.settings.forge_webhook_secret
    if secret is None:
        raise UnavailableError("set CHATOPS_FORGE_WEBHOOK_SECRET to receive the forge's "
                               "webhooks")
    headers = {k.lower(): v for k, v in request.headers.items()}
    delivery = FORGES[forge].delivery(headers, raw, secret.get_secret_value().encode(),
                                      s.runtime.settings.deploy_branch)
    # GitHub's ids are kept bare, as releases before the other forges kept them.
    if not s.runtime.store.first_delivery(f"{forge}:{delivery.id}"
                                          if forge != "github" else delivery.id):
        raise ReplayedDeliveryError(f"delivery {delivery.id} was received before; refused "
                                    "as a replay")
    return delivery


def register_webhook(api: FastAPI, s: Services) -> None:
    @api.post("/webhooks/{forge}", tags=["runs"], status_code=202,
              responses={200: {"description": "ping answered"},
                         401: {"model": m.ErrorBody}, 403: {"model": m.ErrorBody},
                         404: {"model": m.ErrorBody},
                         409: {"model": m.ErrorBody}, 413: {"model": m.ErrorBody},
                         422: {"model": m.ErrorBody}, 429: {"model": m.ErrorBody},
                         503: {"model": m.ErrorBody}},
              openapi_extra={"requestBody": {"required": True, "content": {
                  "application/json": {"schema": {"type": "object"}}}}})
    async def forge_webhook(forge: str, request: Request) -> JSONResponse:
        """The forge's push webhook (``github``, ``gitea``, ``gitlab``): deploy the
        intents the push affects, in dependency order. A pull-request event: comment the
        plan of the intents it affects (once per pull request, updated on each push)."""
        client, request_id, _ = _ctx(request)
        endpoint = f"/webhooks/{forge if forge in FORGES else '{forge}'}"
        key = f"{forge if forge in FORGES else 'forge'}-webhook"  # the audit's key name

        def done(status: int, body: dict[str, Any], decision: str,
                 reason: str) -> JSONResponse:
            request.scope["state"]["audited"] = True
            s.audit.record(client=client, method="POST", endpoint=endpoint,
                           decision=decision, reason=reason[:500], status=status,
                           request_id=request_id, key_name=key)
            return JSONResponse(body, status_code=status)

        delivery = _checked(s, forge, request, await request.body())
        what = delivery.what
        if delivery.event == "ping":
            return done(200, {"pong": True}, "allowed", "ping")
        if isinstance(what, str):
            return done(202, {"ignored": what}, "ignored", what)
        caller = Caller(via="webhook", permissions=Trusted(key), client=client,
                        request_id=request_id, endpoint=endpoint)
        if isinstance(what, PullEvent):
            answer = await _pull_request(s, caller, what, done)
            request.scope["state"]["audited"] = True  # by the use cases, or by done
            return answer
        branch = s.runtime.settings.deploy_branch
        if what.ref != f"refs/heads/{branch}":
            return done(202, {"ignored": f"push to {what.ref}"}, "ignored",
                        f"push to {what.ref}")
        if what.after == ZERO_SHA:
            return done(202, {"ignored": "branch deleted"}, "ignored", "branch deleted")
        full, order = await s.deploys.deploy_push(caller, _push(what, delivery.id))
        request.scope["state"]["audited"] = True
        return JSONResponse({"sha": full, "intents": order}, status_code=202)


async def _pull_request(s: Services, caller: Caller, what: PullEvent,
                        done: Callable[[int, dict[str, Any], str, str], JSONResponse]
                        ) -> JSONResponse:
    """Plan it when its commits changed (one comment, updated on each push); hand it to
    its previews when they are on (``CHATOPS_PREVIEW_DOMAIN``)."""
    name = f"pull request #{what.number} {what.action}"
    if not what.planned and not s.deploys.previews_on:
        return done(202, {"ignored": name}, "ignored", name)
    body: dict[str, Any] = {"pull_request": what.number, "sha": what.head}
    if s.deploys.previews_on:
        body["previews"] = s.deploys.preview_event(caller, what)
        if not what.planned:
            return done(202, body, "accepted", f"{name}: previews {body['previews']}")
        await asyncio.sleep(0)  # the preview reads Git first; the comment can wait

    plan, published = await s.deploys.review(caller, what.number, what.base, what.head,
                                             what.branch)
    body.update(intents=[r.name for r in plan.intents], comment=published.comment_id,
                created=published.created)
    return JSONResponse(body, status_code=202)


def _push(what: PushEvent, delivery: str) -> Push:
    return Push(ref=what.ref, before=what.before, after=what.after, delivery=delivery,
                actor=what.actor)
