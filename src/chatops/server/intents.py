"""``GET /intents``, ``GET /intents/{name}`` (with the plan a run would follow),
``POST /validate`` (intent YAML checked as ``chatops validate`` does) and ``GET /drift``
(where the host differs from Git and its last good deploys)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

from fastapi import FastAPI, Query, Request, Response
from fastapi import Path as FastApiPath

from chatops.application.context import checked_name
from chatops.application.drift import KINDS, drift_report
from chatops.application.wiring import Services
from chatops.errors import (
    IntentError,
    IntentNotFoundError,
    InvalidIntentNameError,
    UnsupportedMediaTypeError,
)
from chatops.intents.loader import parse_intent
from chatops.intents.model import NAME_RE
from chatops.planning.render import plan_to_dict
from chatops.server import models as m
from chatops.server.context import ERRORS, YAML_TYPES, _media, _need


class Listing:
    """``GET /intents``'s answer, kept while no intent file changes (one directory read
    tells), and made again from each file's part: only a changed file is read again."""

    def __init__(self, s: Services) -> None:
        self.s = s
        self.stamp: tuple[tuple[str, int, int], ...] | None = None
        self.body = b""
        self.entries: dict[str, tuple[tuple[int, int], bytes]] = {}

    def answer(self) -> bytes:
        repo = self.s.deploys.ctx.repo
        stamp = repo.intent_stamps()  # no intents folder: RepoError, 503
        if stamp != self.stamp:
            parts = [self.entry(repo.intents_dir / name, (mtime, size))
                     for name, mtime, size in stamp]
            for gone in set(self.entries) - {name for name, _, _ in stamp}:
                del self.entries[gone]
            self.stamp, self.body = stamp, b'{"intents":[' + b",".join(parts) + b"]}"
        return self.body

    def entry(self, path: Path, stamp: tuple[int, int]) -> bytes:
        """One intent's part of the list (made again only when its file changed)."""
        hit = self.entries.get(path.name)
        if hit is not None and hit[0] == stamp:
            return hit[1]
        try:
            intent = self.s.deploys.ctx.load(path.stem)
        except IntentError as exc:
            item: dict[str, Any] = {"name": path.stem, "valid": False,
                                    "errors": [p.as_dict() for p in exc.problems]}
        except (IntentNotFoundError, InvalidIntentNameError) as exc:
            item = {"name": path.stem, "valid": False, "errors": [{"message": exc.message}]}
        else:
            item = {"name": intent.name, "valid": True, "description": intent.description,
                    "documents": [d.model_dump(mode="json", exclude_defaults=True)
                                  for d in intent.documents]}
        made = m.IntentSummary.model_validate(item).model_dump_json().encode()
        self.entries[path.name] = (stamp, made)
        return made


def register_intents(api: FastAPI, s: Services) -> None:
    repo = s.deploys.ctx.repo

    @api.get("/drift", response_model=m.DriftAnswer, tags=["intents"], responses=ERRORS)
    async def drift(request: Request) -> dict[str, Any]:
        """Every drift, in one pass: each stack against its last good deploy (images,
        replicas, orphans, changed files, failed runs), then the checkout (local edits,
        undeployed commits) and pull mode's fetch. Reading only."""
        _need(request, "read")
        found = await drift_report(repo, s.runtime.store, s.engine, s.deploys.ctx.sync(),
                                   s.deploys.fetches)
        s.metrics.drifted([d.kind for d in found], KINDS)
        return {"clean": not found, "drift": [d.as_dict() for d in found]}

    listing = Listing(s)

    @api.get("/intents", response_model=m.IntentList, tags=["intents"], responses=ERRORS)
    async def list_intents(request: Request) -> Any:
        """Every intent of the repository, valid or not."""
        _need(request, "read")
        return Response(listing.answer(), media_type="application/json")

    @api.get("/intents/{name}", response_model=m.IntentDetail, tags=["intents"],
             responses={**ERRORS, 404: {"model": m.ErrorBody}, 422: {"model": m.ErrorBody}})
    async def get_intent(request: Request, name: Annotated[str, FastApiPath(
            json_schema_extra={"pattern": NAME_RE.pattern})]) -> dict[str, Any]:
        """One intent with the plan a run would follow."""
        _need(request, "read")
        intent = s.deploys.ctx.load(name)
        return {"name": intent.name, "description": intent.description,
                "documents": [d.model_dump(mode="json") for d in intent.documents],
                "plan": plan_to_dict(s.deploys.ctx.plan(intent, uses=True))}

    @api.post("/validate", response_model=m.ValidateAnswer, tags=["intents"],
              responses={**ERRORS, 415: {"model": m.ErrorBody}, 422: {"model": m.ErrorBody}},
              openapi_extra={"requestBody": {"required": True, "content": {
                  # Any YAML text: what it holds is what the answer is about.
                  "application/yaml": {"schema": {}},
                  "text/plain": {"schema": {}}}}})
    async def validate(request: Request, name: Annotated[str, Query(
            json_schema_extra={"pattern": NAME_RE.pattern},
            description="the intent's name (its file stem)")] = "intent") -> dict[str, Any]:
        """Check intent YAML as ``chatops validate`` does; ``name`` is the file stem."""
        _need(request, "read")
        checked_name(name)
        if _media(request) not in YAML_TYPES:
            raise UnsupportedMediaTypeError("send the intent as text with Content-Type: "
                                            "application/yaml")
        raw = await request.body()
        label = f"{name}.yaml"
        try:
            intent = parse_intent(raw, label=label, name=name)
        except IntentError as exc:
            return {"valid": False, "name": name, "documents": [],
                    "errors": [p.as_dict() for p in exc.problems]}
        known = {p.stem for p in repo.intent_files()} if repo.intents_dir.is_dir() else set()
        errors = [{"file": label, "field": "depends_on",
                   "message": f"no intent named {dep!r} exists"}
                  for dep in intent.depends_on if dep not in known and dep != name]
        if name in intent.depends_on:
            errors.append({"file": label, "field": "depends_on",
                           "message": f"dependency cycle: {name} -> {name}"})
        docs = [{"doc": i, "docs": len(intent.documents), "summary": d.summary()}
                for i, d in enumerate(intent.documents, start=1)]
        return {"valid": not errors, "name": name, "documents": docs, "errors": errors}
