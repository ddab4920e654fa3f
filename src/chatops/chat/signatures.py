"""How Discord and Slack sign what they send: checked on the raw body, in constant time,
with a timestamp that must be fresh (a signed request is refused once it is more than
five minutes old, or that far in the future; the service also remembers each one for
that window, so a copy is refused within it: see ``server/chat.py``)."""

from __future__ import annotations

import hashlib
import hmac
import math
import time

#: Slack's own advice (and Discord's timestamp is held to the same): refuse timestamps
#: more than 5 minutes off.
SKEW = 300.0
SLACK_SKEW = SKEW


def stale(timestamp: str, header: str, now: float | None = None) -> str | None:
    """Why a signed request's timestamp is refused, or None when it is fresh."""
    try:
        sent = float(timestamp)
    except ValueError:
        return f"{header} is not a number"
    if not math.isfinite(sent):
        return f"{header} is not a number"
    if abs((now if now is not None else time.time()) - sent) > SKEW:
        return f"{header} is more than 5 minutes off (a replay?)"
    return None


def discord_valid(public_key_hex: str, signature_hex: str, timestamp: str,
                  body: bytes) -> bool:
    """Ed25519 over ``timestamp + body`` with the application's public key."""
    from cryptography.exceptions import InvalidSignature  # noqa: PLC0415
    from cryptography.hazmat.primitives.asymmetric.ed25519 import (  # noqa: PLC0415
        Ed25519PublicKey,
    )

    try:
        key = Ed25519PublicKey.from_public_bytes(bytes.fromhex(public_key_hex))
        key.verify(bytes.fromhex(signature_hex), timestamp.encode() + body)
    except (InvalidSignature, ValueError):
        return False
    return True


def slack_valid(secret: str, signature: str, timestamp: str, body: bytes,
                now: float | None = None) -> str | None:
    """Why a Slack request is refused (None when it is Slack's): HMAC-SHA256 of
    ``v0:{timestamp}:{body}``, and a timestamp at most five minutes off."""
    why = stale(timestamp, "X-Slack-Request-Timestamp", now)
    if why is not None:
        return why
    expected = "v0=" + hmac.new(secret.encode(), f"v0:{timestamp}:".encode() + body,
                                hashlib.sha256).hexdigest()
    if not hmac.compare_digest(expected, signature):
        return "X-Slack-Signature does not match the body"
    return None
