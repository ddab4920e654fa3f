"""The OpenAPI document, completed with what the layers in front of the routes enforce.

FastAPI describes the routes; the guard and the connection protocol answer before any
route runs. This adds their part, so the document matches the service: the two ways of
sending a key (security schemes; open paths declare none), every error answer each
operation can give (403 address, 401 key, 413 body, 414/431 head, 408 head deadline,
429 limits, 503 connections or audit trail), the enforced limits, and the links from a
started run to its record and log (for clients and stateful testing).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fastapi import FastAPI

from chatops.server.guard import OPEN_PATHS
from chatops.settings import Settings

ERROR_REF = {"$ref": "#/components/schemas/ErrorBody"}
SCHEMES = {
    "ApiKeyHeader": {"type": "apiKey", "in": "header", "name": "X-API-Key",
                     "description": "a key from `chatops keys create`, or CHATOPS_API_KEY"},
    "BearerToken": {"type": "http", "scheme": "bearer",
                    "description": "the same key as `Authorization: Bearer KEY`"},
}

#: Answers any operation can give, before routing: (status, why).
EVERYWHERE = {
    "403": "the client address is not in the allowlist, or the key's scope does not allow it",
    "408": "the request head did not arrive within the head deadline",
    "414": "the request line is longer than the header line limit",
    "429": "rate limited, locked out after wrong keys, or too many connections from this "
           "address (see Retry-After)",
    "431": "a header line, or the whole request head, is larger than its limit",
    "503": "too many open connections, the audit trail cannot be written, or the service "
           "is stopping",
}
KEYED = {"401": "the API key is missing or wrong"}
WITH_BODY = {"413": "the request body is larger than the body limit",
             "415": "the body is not of a media type this operation reads",
             "422": "the body is not valid"}
RETRY_AFTER = {"Retry-After": {"description": "seconds to wait before trying again",
                               "schema": {"type": "integer", "minimum": 1}}}


def limits_text(settings: Settings) -> str:
    return (
        f"Limits: request body {settings.max_body_bytes} bytes; each header line "
        f"{settings.max_header_line} bytes, the whole request head "
        f"{settings.max_header_bytes} bytes, arriving within {settings.head_timeout:g} s; "
        f"the body within {settings.body_timeout:g} s of the head, at "
        f"{settings.body_min_rate} bytes/s or more; "
        f"idle keep-alive connections closed after {settings.keep_alive_timeout:g} s; "
        f"{settings.max_connections} open connections, "
        f"{settings.max_connections_per_address} per address; "
        f"{settings.rate_per_address:g} requests/s per address (burst "
        f"{settings.burst_per_address}), {settings.rate_per_key:g}/s per key (burst "
        f"{settings.burst_per_key}); {settings.lockout_failures} wrong keys within "
        f"{settings.lockout_window:g} s lock an address out for {settings.lockout_seconds:g} s.")


def _error(description: str, status: str) -> dict[str, Any]:
    answer: dict[str, Any] = {"description": description,
                              "content": {"application/json": {"schema": ERROR_REF}}}
    if status in ("429", "503"):
        answer["headers"] = RETRY_AFTER
    return answer


def complete(doc: dict[str, Any], settings: Settings) -> dict[str, Any]:
    """Add the security schemes, the guard's answers, the limits and the run links."""
    components = doc.setdefault("components", {})
    components["securitySchemes"] = SCHEMES
    doc["security"] = [{"ApiKeyHeader": []}, {"BearerToken": []}]
    info = doc.setdefault("info", {})
    info["description"] = f"{info.get('description', '')}\n\n{limits_text(settings)}".strip()
    info["x-limits"] = {
        "max_body_bytes": settings.max_body_bytes,
        "max_header_line_bytes": settings.max_header_line,
        "max_header_bytes": settings.max_header_bytes,
        "head_timeout_seconds": settings.head_timeout,
        "body_timeout_seconds": settings.body_timeout,
        "body_min_rate_bytes_per_second": settings.body_min_rate,
        "keep_alive_timeout_seconds": settings.keep_alive_timeout,
        "max_connections": settings.max_connections,
        "max_connections_per_address": settings.max_connections_per_address,
    }
    for path, operations in doc.get("paths", {}).items():
        for method, operation in operations.items():
            if method not in ("get", "post", "put", "patch", "delete"):
                continue
            answers = operation.setdefault("responses", {})
            extra = dict(EVERYWHERE)
            if path not in OPEN_PATHS:
                extra.update(KEYED)
            else:
                operation["security"] = []
            if "requestBody" in operation:
                extra.update(WITH_BODY)
            shown = answers.get("422", {}).get("content", {}).get("application/json", {})
            if "HTTPValidationError" in str(shown.get("schema", "")):
                answers["422"] = _error("the request is not valid", "422")
            for status, why in extra.items():
                if status not in answers:
                    answers[status] = _error(why, status)
                elif status in ("429", "503"):
                    answers[status].setdefault("headers", RETRY_AFTER)
    _link_runs(doc)
    return doc


def _link_runs(doc: dict[str, Any]) -> None:
    """A started run (``POST /run``'s ``id``) leads to ``GET /runs/{run_id}`` and its log."""
    paths = doc.get("paths", {})
    run = paths.get("/run", {}).get("post")
    targets = {"GetRun": paths.get("/runs/{run_id}", {}).get("get"),
               "GetRunLog": paths.get("/runs/{run_id}/log", {}).get("get")}
    if run is None or not all(targets.values()):
        return
    links = {name: {"operationId": target["operationId"],
                    "parameters": {"run_id": "$response.body#/id"}}
             for name, target in targets.items() if target is not None}
    run["responses"].setdefault("200", {"description": "accepted"})["links"] = links


def install(api: FastAPI, settings: Settings) -> None:
    """Serve the completed document at ``/openapi.json``."""
    build: Callable[[], dict[str, Any]] = api.openapi

    def openapi() -> dict[str, Any]:
        if api.openapi_schema is None:
            api.openapi_schema = complete(build(), settings)
        return api.openapi_schema

    api.openapi = openapi  # type: ignore[method-assign]
