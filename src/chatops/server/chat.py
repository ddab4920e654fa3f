"""``POST /chat/{platform}``: chat commands, signed by the platform.

Each registered platform (``chat.platforms``) is one more adapter of the use cases: it
checks the platform's signature on the raw body (no API key: like GitHub's webhook),
finds who asks (``chat.identities``), calls ``chat.commands.handle``, answers within the
platform's 3 seconds, and reports a run's outcome afterwards. Each surface answers 404
while its settings are not filled in.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from chatops.application.wiring import Services
from chatops.chat.platforms import REGISTRY
from chatops.chat.surface import ChatSurface
from chatops.server import models as m

RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {"description": "the platform's answer"},
    401: {"model": m.ErrorBody}, 404: {"model": m.ErrorBody}, 413: {"model": m.ErrorBody},
    422: {"model": m.ErrorBody}, 429: {"model": m.ErrorBody}}


def register_chat(api: FastAPI, s: Services) -> None:
    for platform in REGISTRY.values():
        _route(api, platform(s.settings, s.deploys, s.audit))


def _route(api: FastAPI, surface: ChatSurface) -> None:
    async def endpoint(request: Request) -> JSONResponse:
        return await surface.handle(request)

    api.add_api_route(
        surface.endpoint, endpoint, methods=["POST"], tags=["chat"], responses=RESPONSES,
        name=surface.name, summary=f"{surface.name.title()}: {surface.summary}",
        openapi_extra={"requestBody": {"required": True, "content": {
            surface.content_type: {"schema": {"type": "object"}}}}})
