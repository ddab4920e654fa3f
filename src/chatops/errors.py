"""The exception tree. Every error a user can meet is a ``ChatopsError``, and carries
its own HTTP status and code (``status``, ``code``) and CLI exit code (``exit_code``):
each surface translates it once, at its edge, and nothing chooses a status where it
raises. ``public`` says whether the message may be shown to a remote caller (internal
failures are logged, and the caller gets the request id)::

    ChatopsError                         500 internal_error (not public)
    ├── ConfigError                      503 not_configured: a setting or flag is wrong
    ├── RepoError                        503 not_configured: the GitOps repository is missing
    │   └── IntentNotFoundError          404 intent_not_found
    ├── IntentError                      422 invalid_intent (carries every Problem found)
    ├── GraphError                       422 dependency_cycle
    ├── PolicyError                      422 invalid_policy: chatops/policy.yaml is wrong
    ├── SecretError                      422 secret_unreadable: a SOPS file or reference
    ├── EngineError                      502 engine_error (not public)
    │   ├── EngineUnavailableError       503 engine_unavailable (not public)
    │   └── HostUnreachableError         503 host_unreachable (names the host)
    ├── HostError                        422 unknown_host: a host the settings lack
    ├── TrafficError                     502 proxy_error: a traffic driver's proxy refused
    │   └── ProxyUnavailableError        503 proxy_unavailable: it cannot be reached
    ├── StoreError                       503 store_unavailable (not public)
    │   └── AuditUnavailableError        503 audit_unavailable
    ├── LockBusyError                    409 stack_busy
    ├── RunNotFoundError                 404 run_not_found
    ├── RunNotSucceededError             500 run_failed, run_rolled_back, ... (504 unfinished)
    ├── GitError                         422 commit_not_on_branch
    │   ├── CommitNotOnBranchError       409 commit_not_on_branch (a well-formed commit)
    │   ├── NotACheckoutError            409 not_a_checkout
    │   ├── GitUnreachableError          503 git_unreachable
    │   └── CheckoutDirtyError           409 checkout_dirty
    ├── ForgeError                       503 forge_unavailable
    │   └── GitHubError                  503 github_unavailable
    ├── OidcUnavailableError             503 oidc_unavailable: the identity provider
    ├── RequestError                     422 invalid_request: input at an edge is wrong
    │   ├── InvalidIntentNameError       422 invalid_intent_name
    │   ├── InvalidBodyError             422 invalid_body
    │   ├── InvalidJsonError             422 invalid_json
    │   ├── InvalidPayloadError          422 invalid_payload
    │   ├── IdempotencyKeyReusedError    422 idempotency_key_reused
    │   ├── UnsupportedMediaTypeError    415 unsupported_media_type
    │   ├── BodyTooLargeError            413 body_too_large
    │   ├── NotFoundError                404 not_found
    │   └── MethodNotAllowedError        405 method_not_allowed
    ├── UnauthorizedError                401 missing_key
    │   ├── BadSignatureError            401 bad_signature
    │   └── OidcRefusedError             401 oidc_refused: a sign-in that does not hold
    ├── ForbiddenError                   403 forbidden
    │   ├── ScopeDeniedError             403 scope_denied
    │   ├── LabelNotApprovedError        403 label_not_approved
    │   ├── OutsideWindowError           403 outside_deploy_window
    │   ├── CommitRequiredError          403 commit_required
    │   ├── ForcePushRefusedError        403 force_push_refused
    │   ├── SelfApprovalError            403 self_approval
    │   ├── CsrfRefusedError             403 csrf_refused
    │   ├── OidcNoScopeError             403 oidc_no_scope
    │   └── PolicyRefusedError           403 policy_refused: the compose policy refuses it
    ├── ConflictError                    409 conflict
    │   ├── StackBusyError               409 stack_busy
    │   ├── CheckoutBusyError            409 checkout_busy
    │   ├── ReplayedDeliveryError        409 replayed_delivery
    │   ├── AlreadyAwaitingError         409 already_awaiting_approval
    │   ├── NotAwaitingError             409 not_awaiting_approval
    │   └── OtherCommitError             409 approval_for_other_commit
    └── UnavailableError                 503 not_configured
        └── ShuttingDownError            503 shutting_down

Foreign errors (YAML, OS, subprocess, SQLite, httpx) are translated where they enter.
"""

from __future__ import annotations

from typing import Any, ClassVar

from chatops.problems import Problem


class ChatopsError(Exception):
    """Root of every error chatops raises on purpose."""

    status: ClassVar[int] = 500
    code: ClassVar[str] = "internal_error"
    exit_code: ClassVar[int] = 4
    public: ClassVar[bool] = True

    def __init__(self, message: str, *, field: str | None = None,
                 intent: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.field = field
        self.intent = intent
        self.audited = False  # a use case recorded it in the audit trail already

    def details(self) -> dict[str, Any]:
        """What the error adds to ``{"code", "message"}`` in an answer."""
        return {"field": self.field} if self.field is not None else {}


class ConfigError(ChatopsError):
    """A setting, environment variable or CLI flag has a value we cannot use."""

    status, code = 503, "not_configured"


class SecretError(ChatopsError):
    """A secret cannot be read: a SOPS file chatops cannot decrypt or whose MAC does not
    verify, or a ``secret://`` reference no provider resolves. The message names the
    file or reference, never a value."""

    status, code = 422, "secret_unreadable"


class RepoError(ChatopsError):
    """The GitOps repository, or a file in it, cannot be read."""

    status, code = 503, "not_configured"


class IntentNotFoundError(RepoError):
    status, code = 404, "intent_not_found"

    def __init__(self, name: str, message: str) -> None:
        super().__init__(message, intent=name)
        self.name = name


class IntentError(ChatopsError):
    """An intent file is invalid; ``problems`` lists everything wrong with it."""

    status, code = 422, "invalid_intent"

    def __init__(self, problems: list[Problem], *, intent: str | None = None,
                 message: str | None = None) -> None:
        first = problems[0].render() if problems else "invalid intent"
        more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
        super().__init__(message or first + more, intent=intent)
        self.problems = problems

    def details(self) -> dict[str, Any]:
        return {"problems": [p.as_dict() for p in self.problems]}


class GraphError(ChatopsError):
    """Intents whose ``depends_on`` make a cycle."""

    status, code = 422, "dependency_cycle"


class EngineError(ChatopsError):
    """The container engine answered with an error."""

    status, code, public = 502, "engine_error", False


class EngineUnavailableError(EngineError):
    """The container engine cannot be reached at all."""

    status, code = 503, "engine_unavailable"


class HostUnreachableError(EngineError):
    """A named host's engine cannot be reached (its name and address are public)."""

    status, code, public = 503, "host_unreachable", True


class HostError(ChatopsError):
    """An intent names a host the settings do not define, or cannot run there."""

    status, code = 422, "unknown_host"


class TrafficError(ChatopsError):
    """The proxy in front of a blue-green service refused or failed a change."""

    status, code = 502, "proxy_error"


class ProxyUnavailableError(TrafficError):
    """The proxy (its runtime socket or admin API) cannot be reached at all."""

    status, code = 503, "proxy_unavailable"


class StoreError(ChatopsError):
    """The run history (SQLite) cannot be opened, read or written."""

    status, code, public = 503, "store_unavailable", False


class AuditUnavailableError(StoreError):
    """The audit trail cannot be written, so nothing is done."""

    code, public = "audit_unavailable", True


class LockBusyError(ChatopsError):
    status, code = 409, "stack_busy"

    def __init__(self, stack: str, holder: str) -> None:
        super().__init__(
            f"stack {stack!r} is busy: {holder}; not waiting (--no-wait). Try again later."
        )
        self.stack = stack
        self.holder = holder


class RunNotFoundError(ChatopsError):
    status, code = 404, "run_not_found"

    def __init__(self, run_id: str, message: str | None = None) -> None:
        super().__init__(message or f"no run with id {run_id!r} in the run history")
        self.run_id = run_id


class RunNotSucceededError(ChatopsError):
    """A run the caller waited for did not succeed: the answer carries its record."""

    def __init__(self, status: str, message: str, run: dict[str, Any], *,
                 final: bool = True) -> None:
        super().__init__(message, intent=run.get("intent"))
        self.run = run
        # The run's own outcome names the error; an unfinished one is a timeout.
        self.code = f"run_{status}"  # type: ignore[misc]
        self.status = 500 if final else 504  # type: ignore[misc]

    def details(self) -> dict[str, Any]:
        return {}


class GitError(ChatopsError):
    """Git refused, or the repository is not in a state we can deploy from."""

    status, code = 422, "commit_not_on_branch"


class CommitNotOnBranchError(GitError):
    """A well-formed commit id that the deploy branch does not contain: the request is
    valid, the repository's state refuses it."""

    status = 409


class NotACheckoutError(GitError):
    """The GitOps repository is not a Git checkout: runs for a commit cannot work until
    it is one (a setting of the host, not a fault of the request)."""

    status, code = 409, "not_a_checkout"


class GitUnreachableError(GitError):
    """The remote could not be fetched from."""

    status, code = 503, "git_unreachable"


class CheckoutDirtyError(GitError):
    """The checkout has local edits: deploys come from Git only."""

    status, code = 409, "checkout_dirty"


class ForgeError(ChatopsError):
    """The forge (Gitea, Forgejo, GitLab) could not answer the question (auth, not found,
    down, slow)."""

    status, code = 503, "forge_unavailable"


class GitHubError(ForgeError):
    """GitHub could not answer the question (auth, not found, down, slow)."""

    code = "github_unavailable"


class PolicyError(ChatopsError):
    """The repository's compose policy cannot be used (or an intent names an exception
    it lacks): every run is refused until it is fixed."""

    status, code = 422, "invalid_policy"


class OidcUnavailableError(ChatopsError):
    """The identity provider cannot be read (discovery, keys) or is too busy."""

    status, code = 503, "oidc_unavailable"


class RequestError(ChatopsError):
    """Input at an edge (body, header, parameter) is not what was expected."""

    status, code = 422, "invalid_request"


class InvalidIntentNameError(RequestError):
    code = "invalid_intent_name"


class InvalidBodyError(RequestError):
    code = "invalid_body"


class InvalidJsonError(RequestError):
    code = "invalid_json"


class InvalidPayloadError(RequestError):
    code = "invalid_payload"


class IdempotencyKeyReusedError(RequestError):
    code = "idempotency_key_reused"


class UnsupportedMediaTypeError(RequestError):
    status, code = 415, "unsupported_media_type"


class BodyTooLargeError(RequestError):
    status, code = 413, "body_too_large"

    def __init__(self, limit: int) -> None:
        super().__init__(f"request body is larger than {limit} bytes")
        self.limit = limit


class ClientGoneError(RequestError):
    """The client closed the connection before its request was read whole."""

    status, code = 408, "client_disconnected"


class NotFoundError(RequestError):
    status, code = 404, "not_found"


class MethodNotAllowedError(RequestError):
    status, code = 405, "method_not_allowed"


class UnauthorizedError(ChatopsError):
    status, code = 401, "missing_key"


class BadSignatureError(UnauthorizedError):
    code = "bad_signature"


class OidcRefusedError(UnauthorizedError):
    """A sign-in that does not hold: a state from another browser, a code the provider
    refused, an ID token with a wrong signature, issuer, audience, nonce, or expired."""

    code = "oidc_refused"


class ReplayedChatRequestError(UnauthorizedError):
    """A signed chat request seen before within its freshness window."""

    code = "replayed_request"


class ForbiddenError(ChatopsError):
    status, code = 403, "forbidden"


class ScopeDeniedError(ForbiddenError):
    code = "scope_denied"


class LabelNotApprovedError(ForbiddenError):
    code = "label_not_approved"


class OutsideWindowError(ForbiddenError):
    code = "outside_deploy_window"


class CommitRequiredError(ForbiddenError):
    code = "commit_required"


class ForcePushRefusedError(ForbiddenError):
    code = "force_push_refused"


class SelfApprovalError(ForbiddenError):
    code = "self_approval"


class CsrfRefusedError(ForbiddenError):
    code = "csrf_refused"


class PolicyRefusedError(ForbiddenError):
    """A compose file asks the host for what the compose policy refuses."""

    code = "policy_refused"


class PreviewRefusedError(ForbiddenError):
    """A pull request's preview cannot run: its label, its source, its compose file, or
    no room (ports, CHATOPS_PREVIEW_MAX)."""

    code = "preview_refused"


class OidcNoScopeError(ForbiddenError):
    """The identity provider vouched for a person whose groups map to no scope."""

    code = "oidc_no_scope"


class ConflictError(ChatopsError):
    status, code = 409, "conflict"


class AlreadyAwaitingError(ConflictError):
    code = "already_awaiting_approval"


class NotAwaitingError(ConflictError):
    code = "not_awaiting_approval"


class OtherCommitError(ConflictError):
    code = "approval_for_other_commit"


class StackBusyError(ConflictError):
    code = "stack_busy"


class CheckoutBusyError(ConflictError):
    code = "checkout_busy"


class ReplayedDeliveryError(ConflictError):
    code = "replayed_delivery"


class UnavailableError(ChatopsError):
    status, code = 503, "not_configured"


class ShuttingDownError(UnavailableError):
    code = "shutting_down"
