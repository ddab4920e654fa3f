"""How Discord and Slack sign what they send: checked on the raw body, in constant time."""

from __future__ import annotations

import hashlib
import hmac
import time

SLACK_SKEW = 300.0  # Slack's own advice: refuse timestamps more than 5 minutes off


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
    try:
        sent = float(timestamp)
    except ValueError:
        return "X-Slack-Request-Timestamp is not a number"
    if abs((now if now is not None else time.time()) - sent) > SLACK_SKEW:
        return "X-Slack-Request-Timestamp is more than 5 minutes off (a replay?)"
    expected = "v0=" + hmac.new(secret.encode(), f"v0:{timestamp}:".encode() + body,
                                hashlib.sha256).hexdigest()
    if not hmac.compare_digest(expected, signature):
        return "X-Slack-Signature does not match the body"
    return None
