"""The dashboard under ``/ui``: server-rendered pages (Jinja2), live parts with htmx.

One more surface of the use cases: every button is a form that calls the same use case
as the API (``Deploys.run``, ``roll_back``, ``approve``), with the same checks and audit
records, as the signed-in user (``via ui``). Reading pages need the ``read`` scope (the
audit page ``audit``), as with API keys.

Sign-in: a password (argon2id), then a session cookie (HttpOnly, SameSite=Strict, Secure
behind TLS, path ``/ui``). Every form carries the session's CSRF token, compared in
constant time; the sign-in form carries one of its own (a cookie and the same value in
the form). A wrong password counts in the address's lockout like a wrong API key. The
guard in front applies the allowlist and the rate limits to these pages too.

Without JavaScript every page reads and every form works; with it, a running run's log
grows live (htmx's SSE extension over ``/ui/runs/{id}/stream``).
"""

from __future__ import annotations

import functools
import html
import re
import secrets
from collections.abc import AsyncIterator, Callable, Coroutine
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs, quote, urlencode
from zoneinfo import ZoneInfo

from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response, StreamingResponse

from chatops.application.caller import Caller, request_facts
from chatops.application.deploys import RunAsk, Started
from chatops.application.drift import stack_drift
from chatops.application.going_back import rollback_intent
from chatops.application.overview import stack_views
from chatops.application.stream import follow_run
from chatops.application.wiring import Services
from chatops.errors import (
    ChatopsError,
    CsrfRefusedError,
    InvalidBodyError,
    RequestError,
    ScopeDeniedError,
)
from chatops.planning.render import render_text
from chatops.ratelimit import Lockout
from chatops.store.records import RunStatus
from chatops.web import views
from chatops.web.oidc import register_oidc
from chatops.web.users import SESSION_COOKIE, Session, UserStore, same

if TYPE_CHECKING:
    from jinja2 import Environment

LOGIN_COOKIE = "chatops_login"
PAGE = 50
FULL_SHA = re.compile(r"^[0-9a-f]{40}$")
STATIC = {"htmx.min.js": "text/javascript", "sse.min.js": "text/javascript",
          "favicon.svg": "image/svg+xml", "style.css": "text/css"}
Handler = Callable[..., Coroutine[Any, Any, Response]]


class Dashboard:
    def __init__(self, s: Services, lockout: Lockout) -> None:
        self.s = s
        self.lockout = lockout
        self.users = UserStore(s.settings.paths.db)
        s.closing.append(self.users.close)
        self.store = s.runtime.store
        self.globals: dict[str, Any] = {}  # for every template (set before the first page)

    @functools.cached_property
    def env(self) -> Environment:
        return views.environment(self.globals)

    # -- plumbing ------------------------------------------------------------------------

    def page(self, request: Request, template: str, status: int = 200,
             session: Session | None = None, **values: Any) -> HTMLResponse:
        waiting = len(self.store.list_runs(status="awaiting_approval", limit=100)) \
            if session is not None and session.user.may("read") else 0
        text = self.env.get_template(template).render(
            session=session, path=request.url.path, waiting=waiting, **values)
        return HTMLResponse(text, status_code=status, headers=_NO_STORE)

    def session(self, request: Request) -> Session | None:
        return self.users.session(request.cookies.get(SESSION_COOKIE, ""))

    def caller(self, request: Request, session: Session) -> Caller:
        client, request_id = request_facts(request.scope)
        return Caller(via="ui", permissions=session.user, client=client,
                      request_id=request_id, method=request.method,
                      endpoint=request.url.path)

    def refuse(self, request: Request, status: int, code: str, reason: str,
               who: str | None = None) -> None:
        client, request_id = request_facts(request.scope)
        self.s.audit.record(client=client, method=request.method, endpoint=request.url.path,
                            decision="refused", status=status, request_id=request_id,
                            key_name=who, reason=f"{code}: {reason}")

    async def form(self, request: Request, session: Session | None) -> dict[str, str]:
        """The form's fields, once its CSRF token matches the session's (403 otherwise,
        recorded)."""
        body = await request.body()
        fields = {k: v[0] for k, v in parse_qs(body.decode("utf-8", "replace"),
                                                  max_num_fields=20).items()}
        token = fields.get("csrf", "")
        if session is None or not token or not same(token, session.csrf):
            error = CsrfRefusedError("this form is out of date or did not come from this "
                                     "dashboard (its CSRF token does not match the "
                                     "session's); reload the page and try again",
                                     field="csrf")
            self.refuse(request, error.status, error.code, error.message,
                        session.user.name if session else None)
            error.audited = True
            raise error
        return fields

    # -- sign-in -------------------------------------------------------------------------

    async def login_page(self, request: Request, error: str | None = None,
                         status: int = 200) -> HTMLResponse:
        token = request.cookies.get(LOGIN_COOKIE) or secrets.token_urlsafe(24)
        response = self.page(request, "login.html", status, login_csrf=token, error=error,
                             next=views.safe_next(request.query_params.get("next")))
        response.set_cookie(LOGIN_COOKIE, token, httponly=True, samesite="strict",
                            secure=views.secure(request), path="/ui")
        return response

    async def login(self, request: Request) -> Response:
        body = await request.body()
        fields = {k: v[0] for k, v in parse_qs(body.decode("utf-8", "replace"),
                                                  max_num_fields=10).items()}
        client, request_id = request_facts(request.scope)
        cookie = request.cookies.get(LOGIN_COOKIE, "")
        if not cookie or not same(fields.get("csrf", ""), cookie):
            self.refuse(request, 403, "csrf_refused", "the sign-in form's CSRF token does "
                        "not match its cookie")
            return await self.login_page(request, "The form was out of date; try again.",
                                         403)
        name = fields.get("name", "")[:64]
        user = self.users.check(name, fields.get("password", "")[:1024])
        if user is None:
            for event in self.lockout.failed(client):
                self.s.metrics.rejected.labels(event).inc()
            self.refuse(request, 401, "invalid_password",
                        f"sign-in as {name!r} with a wrong name or password")
            return await self.login_page(request, "Wrong name or password.", 401)
        token, _ = self.users.open_session(user)
        self.s.audit.record(client=client, method="POST", endpoint="/ui/login",
                            decision="allowed", status=303, request_id=request_id,
                            key_name=user.name, reason=f"signed in as {user.name}")
        response = RedirectResponse(views.safe_next(fields.get("next")), status_code=303)
        response.set_cookie(SESSION_COOKIE, token, httponly=True, samesite="strict",
                            secure=views.secure(request), path="/ui",
                            max_age=12 * 3600)
        response.delete_cookie(LOGIN_COOKIE, path="/ui")
        return response

    async def logout(self, request: Request, session: Session) -> Response:
        await self.form(request, session)
        self.users.close_session(request.cookies.get(SESSION_COOKIE, ""))
        response = RedirectResponse("/ui/login", status_code=303)
        response.delete_cookie(SESSION_COOKIE, path="/ui")
        return response

    # -- reading pages ----------------------------------------------------------------------

    def _intents(self) -> tuple[list[Any], dict[str, str]]:
        ctx = self.s.deploys.ctx
        valid, invalid = [], {}
        for path in ctx.repo.intent_files():
            try:
                valid.append(ctx.load(path.stem))
            except ChatopsError as exc:  # invalid, or unreadable
                invalid[path.stem] = exc.message
        return valid, invalid

    async def stacks(self, request: Request, session: Session) -> HTMLResponse:
        _need(session, "read")
        intents, invalid = self._intents()
        views = await stack_views(self.s.deploys.ctx.repo, intents, self.store,
                                  self.s.engine)
        found = {v.stack: stack_drift(v, self.store) for v in views}
        return self.page(request, "stacks.html", session=session, stacks=views,
                         invalid=invalid, found=found,
                         previews=await self.s.deploys.preview_list())

    async def runs(self, request: Request, session: Session) -> HTMLResponse:
        _need(session, "read")
        q = request.query_params
        filters = {k: (q.get(k) or "")[:100] for k in ("intent", "stack", "status",
                                                        "trigger", "actor")}
        if filters["status"] and filters["status"] not in {str(s) for s in RunStatus}:
            raise RequestError(f"status {filters['status']!r} is not a run status",
                               field="status")
        try:
            offset = max(0, min(int(q.get("offset") or 0), 10**9))
        except ValueError:
            raise RequestError("offset must be a whole number", field="offset") from None
        found = self.store.list_runs(**{k: v or None for k, v in filters.items()},
                                     limit=PAGE + 1, offset=offset)
        more = len(found) > PAGE
        kept = {k: v for k, v in filters.items() if v}
        older = f"?{urlencode({**kept, 'offset': offset + PAGE})}" if more else None
        newer = (f"?{urlencode({**kept, 'offset': max(0, offset - PAGE)})}"
                 if offset else None)
        return self.page(request, "runs.html", session=session, runs=found[:PAGE],
                         filters=filters, statuses=[str(s) for s in RunStatus],
                         older=older, newer=newer, offset=offset)

    def _run_view(self, run_id: str) -> dict[str, Any]:
        """What the run page and its live summary show of run ``run_id``."""
        record = self.store.get_run(run_id)
        return {"run": record, "children": self.store.children(run_id),
                "changes": views.image_changes(record), "timeline": views.timeline(record)}

    async def run(self, request: Request, session: Session, run_id: str) -> HTMLResponse:
        _need(session, "read")
        view = self._run_view(run_id)
        lines = self.store.lines(run_id, limit=5000)
        last = lines[-1]["id"] if lines else 0
        return self.page(request, "run.html", session=session, lines=lines, last=last,
                         live=not view["run"].status.final, **view)

    async def stream(self, request: Request, session: Session, run_id: str
                     ) -> StreamingResponse:
        _need(session, "read")
        raw = request.query_params.get("after", "0")
        if not raw.isdigit():
            raise RequestError(f"expected a line number, got {raw[:20]!r}", field="after")
        after = min(int(raw), 2**62)
        self.store.get_run(run_id, detail=False)

        async def events() -> AsyncIterator[bytes]:
            summary = self.env.get_template("_run_summary.html")
            shown = ""
            async for kind, data in follow_run(self.store, self.s.deploys.stream, run_id,
                                               request.is_disconnected, after=after,
                                               changes=True):
                if kind == "changed":  # the whole run as it stands, swapped in whole
                    text = summary.render(session=session, **self._run_view(run_id))
                    if text == shown:
                        continue
                    shown = text
                    yield ("event: run\n" + "".join(
                        f"data: {line}\n" for line in text.splitlines()) + "\n").encode()
                elif kind == "line":
                    text = html.escape(f"{data['ts'][11:23]} {data['stream']:<7} "
                                       f"{data['line']}")
                    yield f"event: line\ndata: <span class=\"line\">{text}</span>\n\n" \
                        .encode()
                else:
                    status = html.escape(str(data["status"]))
                    reason = html.escape(str(data.get("reason") or ""))
                    yield (f"event: outcome\ndata: <strong class=\"status {status}\">"
                           f"{status}</strong> {reason}\n\n").encode()

        return StreamingResponse(events(), media_type="text/event-stream",
                                 headers={"cache-control": "no-cache"})

    async def intents(self, request: Request, session: Session) -> HTMLResponse:
        _need(session, "read")
        intents, invalid = self._intents()
        return self.page(request, "intents.html", session=session, intents=intents,
                         invalid=invalid, deployed={i.name: self.store.deployed_sha(i.name)
                                                    for i in intents})

    async def intent(self, request: Request, session: Session, name: str) -> HTMLResponse:
        _need(session, "read")
        intent = self.s.deploys.ctx.load(name)
        settings = self.s.settings
        now = self.s.runtime.clock.now().astimezone(ZoneInfo(settings.timezone))
        policy = settings.policy()
        window = ("open now" if policy.is_open(now) else
                  f"closed; next open {views.iso(policy.next_open(now))}")
        stacks = await stack_views(self.s.deploys.ctx.repo, [intent], self.store,
                                  self.s.engine)
        return self.page(request, "intent.html", session=session, intent=intent,
                         plan=render_text(self.s.deploys.ctx.plan(intent, uses=True)),
                         window=window,
                         stacks=stacks,
                         deployed=self.store.deployed_sha(name),
                         runs=self.store.list_runs(intent=name, limit=10))

    async def approvals(self, request: Request, session: Session) -> HTMLResponse:
        _need(session, "read")
        waiting = self.store.list_runs(status="awaiting_approval", limit=100)
        return self.page(request, "approvals.html", session=session, runs=waiting)

    async def audit(self, request: Request, session: Session) -> HTMLResponse:
        _need(session, "audit")
        return self.page(request, "audit.html", session=session,
                         records=self.s.audit.tail(limit=200), chain=self.s.audit.verify())

    # -- acting -----------------------------------------------------------------------------

    async def confirm_deploy(self, request: Request, session: Session,
                             name: str) -> HTMLResponse:
        _need(session, "read")
        intent = self.s.deploys.ctx.load(name)
        views = await stack_views(self.s.deploys.ctx.repo, [intent], self.store,
                                  self.s.engine)
        # What a person confirms is what deploys: the branch head as fetched now, sent
        # back with the form (a newer push meanwhile is not deployed unseen).
        head = (await self.s.deploys.branch_head()
                if self.s.deploys.ctx.through_git(None) else None)
        return self.page(request, "confirm.html", session=session, what="deploy",
                         title=f"Deploy {name}?", action=f"/ui/intents/{quote(name)}/deploy",
                         plan=render_text(self.s.deploys.ctx.plan(intent)), stacks=views,
                         approval=intent.approval, commit=head,
                         branch=self.s.settings.deploy_branch)

    async def deploy(self, request: Request, session: Session, name: str) -> Response:
        fields = await self.form(request, session)
        sha = fields.get("sha") or None
        if sha is not None and not FULL_SHA.match(sha):
            raise InvalidBodyError("expected the 40-character commit id the confirmation "
                                   "page named", field="sha")
        started = await self.s.deploys.run(self.caller(request, session), RunAsk(
            name=name, sha=sha, branch_head=sha is None))
        assert isinstance(started, Started)  # noqa: S101 - not a dry run
        return RedirectResponse(f"/ui/runs/{started.record.id}", status_code=303)

    async def confirm_rollback(self, request: Request, session: Session,
                               stack: str) -> HTMLResponse:
        _need(session, "read")
        target = rollback_intent(self.store, stack, None)
        good = self.store.good_snapshots(stack)
        images = {svc: entry.get("image_ref") for svc, entry in
                  (good[0][1].get("services") or {}).items()} if good else {}
        views = [v for v in await stack_views(self.s.deploys.ctx.repo,
                                              [self.s.deploys.ctx.load(n)
                                               for n in self._stack_intents(stack)],
                                              self.store, self.s.engine)
                 if v.stack == stack]
        return self.page(request, "confirm.html", session=session, what="rollback",
                         title=f"Roll back {stack}?",
                         action=f"/ui/stacks/{quote(stack)}/rollback", stacks=views,
                         plan=f"Return {stack} to the images of its previous good deploy "
                         f"(run {good[0][0] if good else '?'}):\n" + "\n".join(
                             f"  {svc}: {ref}" for svc, ref in sorted(images.items()))
                         + f"\n(compose file {target.path})", approval=None)

    def _stack_intents(self, stack: str) -> list[str]:
        intents, _ = self._intents()
        return [i.name for i in intents if any(d.stack == stack for d in i.documents)]

    async def rollback(self, request: Request, session: Session, stack: str) -> Response:
        await self.form(request, session)
        started = await self.s.deploys.roll_back(self.caller(request, session), stack)
        return RedirectResponse(f"/ui/runs/{started.record.id}", status_code=303)

    async def verdict(self, request: Request, session: Session, run_id: str,
                      word: str) -> Response:
        fields = await self.form(request, session)
        await self.s.deploys.approve(self.caller(request, session), run_id, word,
                                     fields.get("sha") or None)
        return RedirectResponse(f"/ui/runs/{run_id}", status_code=303)


_NO_STORE = {"cache-control": "no-store", "x-frame-options": "DENY",
             "content-security-policy": "default-src 'self'; style-src 'self'; "
             "script-src 'self'; frame-ancestors 'none'; form-action 'self'",
             "referrer-policy": "same-origin"}


def _need(session: Session, scope: str) -> None:
    if not session.user.may(scope):
        raise ScopeDeniedError(f"user {session.user.name!r} lacks the {scope!r} scope")


#: Every page of the dashboard: (method, path, Dashboard method, its extra arguments).
#: Each but the sign-in needs a session; each refusal is audited.
PAGES: tuple[tuple[str, ...], ...] = (
    ("GET", "/ui/login", "login_page"), ("POST", "/ui/login", "login"),
    ("POST", "/ui/logout", "logout"),
    ("GET", "/ui/stacks", "stacks"), ("GET", "/ui/runs", "runs"),
    ("GET", "/ui/runs/{run_id}", "run"), ("GET", "/ui/runs/{run_id}/stream", "stream"),
    ("POST", "/ui/runs/{run_id}/approve", "verdict", "approve"),
    ("POST", "/ui/runs/{run_id}/deny", "verdict", "deny"),
    ("GET", "/ui/intents", "intents"), ("GET", "/ui/intents/{name}", "intent"),
    ("GET", "/ui/intents/{name}/deploy", "confirm_deploy"),
    ("POST", "/ui/intents/{name}/deploy", "deploy"),
    ("GET", "/ui/stacks/{stack}/rollback", "confirm_rollback"),
    ("POST", "/ui/stacks/{stack}/rollback", "rollback"),
    ("GET", "/ui/approvals", "approvals"), ("GET", "/ui/audit", "audit"),
)


def register_pages(api: FastAPI, s: Services, lockout: Lockout) -> None:
    """The routes of the dashboard (kept out of the OpenAPI document: they are pages)."""
    ui = Dashboard(s, lockout)

    async def guarded(request: Request, handler: Handler, *args: Any,
                      signed_in: bool = True) -> Response:
        session = ui.session(request) if signed_in else None
        if signed_in and session is None:
            if request.method == "GET":
                target = request.url.path + (f"?{request.url.query}" if request.url.query
                                             else "")
                return RedirectResponse(f"/ui/login?{urlencode({'next': target})}",
                                        status_code=303)
            ui.refuse(request, 401, "not_signed_in", "no valid session")
            return ui.page(request, "error.html", 401, message="Sign in first.")
        request.scope["state"]["audited"] = True
        try:
            return await handler(request, session, *args) if signed_in else \
                await handler(request, *args)
        except ChatopsError as exc:  # the use cases recorded their refusals
            if not exc.audited:
                ui.refuse(request, exc.status, exc.code, exc.message,
                          session.user.name if session else None)
            return ui.page(request, "error.html", exc.status, session=session,
                           message=exc.message, code=exc.code)

    @api.get("/ui", include_in_schema=False)
    async def home() -> Response:
        return RedirectResponse("/ui/stacks", status_code=303)

    @api.get("/ui/static/{name}", include_in_schema=False)
    async def static(name: str) -> Response:
        kind = STATIC.get(name)
        if kind is None:
            return Response("not found", status_code=404)
        return Response((views.HERE / "static" / name).read_bytes(), media_type=kind,
                        headers={"cache-control": "public, max-age=3600"})

    def page(method: str, path: str, handler: Handler, *extra: str,
             signed_in: bool = True) -> None:
        async def endpoint(request: Request) -> Response:
            args = [*request.path_params.values(), *extra]
            return await guarded(request, handler, *args, signed_in=signed_in)

        api.add_api_route(path, endpoint, methods=[method], include_in_schema=False)

    for method, path, handler, *extra in PAGES:
        page(method, path, getattr(ui, handler), *extra,
             signed_in=path != "/ui/login")
    register_oidc(api, ui, views.safe_next, views.secure)

__all__ = ["SESSION_COOKIE", "register_pages"]
