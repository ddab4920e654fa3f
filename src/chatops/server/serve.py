"""Start the service: settings, store, keys, audit, engine, then uvicorn."""

from __future__ import annotations

import contextlib
import os
import socket
import sys
from pathlib import Path

import uvicorn

from chatops.errors import ConfigError
from chatops.locks import Locks
from chatops.logs import LogSink, json_logger
from chatops.notify.configured import deliverers as configured_targets
from chatops.notify.outbox import Outbox
from chatops.paths import wider_than_private
from chatops.runtime import Runtime
from chatops.server.app import create_app
from chatops.server.connections import HttpLimits, bounded_protocol
from chatops.server.guard import Guard
from chatops.server.keys import ApiKey, KeyStore, ReloadingKeyRing, hash_token
from chatops.settings import Settings
from chatops.store.audit import AuditLog


def build(settings: Settings) -> Guard:
    runtime = Runtime.open(settings)
    keystore = KeyStore(settings.paths.db)
    extra = []
    if settings.api_key is not None:
        # The seed's single key keeps working, as a key named "env" with every scope.
        extra.append(ApiKey(name="env", hash=hash_token(settings.api_key.get_secret_value()),
                            scopes=("run", "read", "audit", "rollback")))
    keys = ReloadingKeyRing(keystore, extra)
    if not keys.keys:
        raise ConfigError("no API key is configured: set CHATOPS_API_KEY, or create one with "
                          "'chatops keys create NAME'")
    logger = json_logger(stream=sys.stdout, level=settings.log_level, masker=runtime.masker)
    audit = AuditLog(settings.paths.audit, runtime.masker)
    deliverers = configured_targets(settings)
    outbox = Outbox(settings.paths.outbox) if deliverers else None
    return create_app(settings, runtime=runtime, engine=runtime.engine(), keys=keys,
                      audit=audit, log_sink=LogSink(logger, client="api"), outbox=outbox,
                      deliverers=deliverers)


def check_exposure(settings: Settings) -> None:
    if not settings.loopback_only and settings.api_key is None:
        has_keys = any(k.revoked_at is None
                       for k in KeyStore(settings.paths.db).all())
        if not has_keys:
            raise ConfigError(
                f"refusing to listen on {settings.host} with no API key: set CHATOPS_API_KEY "
                "or run 'chatops keys create NAME' first (or listen on 127.0.0.1)"
            )


def serve(settings: Settings) -> int:
    """Serve with ``settings``, read once by the caller and used for everything."""
    check_exposure(settings)
    # Held until the process ends (the kernel drops it even on SIGKILL).
    service_lock = Locks(settings.paths.locks).hold_service()
    app = build(settings)
    wide = wider_than_private(settings.state_dir)
    if wide:
        shown = "; ".join(wide[:5]) + (f"; and {len(wide) - 5} more" if len(wide) > 5 else "")
        sys.stderr.write(
            f"chatops: warning: others than this user may read the state directory (key and "
            f"password hashes, sessions, the run history): {shown}; fix it with "
            f"chmod -R go= {settings.state_dir}\n")
    where = f"http://{settings.host}:{settings.port}"
    sys.stderr.write(
        f"chatops serving {settings.repo} on {where} (state: {settings.state_dir})\n"
        f"  curl -X POST {where}/run -H 'X-API-Key: $CHATOPS_API_KEY' "
        "-H 'Content-Type: application/json' -d '{\"name\": \"INTENT\"}'\n"
    )
    config = uvicorn_config(app, settings)
    try:
        tcp = config.bind_socket()
    except SystemExit:  # uvicorn exits when the address is taken; say it our way
        raise ConfigError(f"cannot listen on {settings.host}:{settings.port} (in use?)") \
            from None
    local = local_socket(settings.paths.socket)
    sys.stderr.write(f"  and on {settings.paths.socket} for chatops commands on this host\n")
    try:
        uvicorn.Server(config).run(sockets=[tcp, local])
    finally:
        with contextlib.suppress(OSError):
            settings.paths.socket.unlink()
        service_lock.release()
    return 0


def local_socket(path: Path) -> socket.socket:
    """A unix socket only this user can open: its file permission is the credential.
    Any file left there is a stale socket (this process holds the service lock)."""
    with contextlib.suppress(FileNotFoundError):
        path.unlink()
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    old = os.umask(0o177)
    try:
        sock.bind(str(path))
    except OSError as exc:
        sock.close()
        raise ConfigError(f"cannot create the service's socket {path}: {exc.strerror}") \
            from None
    finally:
        os.umask(old)
    os.chmod(path, 0o600)
    sock.listen(128)
    sock.set_inheritable(True)
    return sock


def uvicorn_config(app: Guard, settings: Settings) -> uvicorn.Config:
    """How the service is served (also by tests that need the real HTTP stack)."""
    return uvicorn.Config(
        app, host=settings.host, port=settings.port, log_level="warning", access_log=False,
        proxy_headers=False,  # X-Forwarded-For is judged by the guard, from trusted proxies only
        server_header=False, date_header=False, backlog=2048,
        timeout_graceful_shutdown=int(settings.shutdown_grace) + 5,
        # The stdlib loop, not uvloop: its subprocesses start with vfork, while uvloop's
        # fork of the whole service made every deploy step stall the loop under load
        # (bench/serve.py: a good request's p99 went from 60-170 ms to 13-19 ms).
        loop="asyncio", lifespan="on",
        timeout_keep_alive=max(1, round(settings.keep_alive_timeout)),
        # httptools' parser, with limits on the request head, deadlines, connection caps
        # and the allowlist at accept (server/connections.py).
        http=bounded_protocol(HttpLimits.of(settings), app.admit, app.is_proxy,
                              app.connection_refused, app.screen),
    )
