"""Masking, as CI systems do it: every secret value chatops knows is replaced by ``***``
before a line reaches the run record, the log stream, chat, the pages, the JSON log or
the audit trail.

A value is masked as it is and in the forms a program is likely to print it in: base64
(standard and URL-safe, with or without padding), URL-encoded, JSON-escaped and hex.
The masker is built once from the settings' secrets (``Settings.secret_values``) and handed to the
store, the executor's event sinks, the audit trail and the log formatter; values
learned later (decrypted secrets) are added with ``add``.
"""

from __future__ import annotations

import base64
import json
import re
import threading
from collections.abc import Iterable
from typing import Any
from urllib.parse import parse_qsl, quote, quote_plus, unquote, urlsplit

MASK = "***"
#: Shorter values are not masked: they would hide ordinary words everywhere.
MIN_LENGTH = 6
#: URL parts (path segments, query values) this long are taken for tokens.
MIN_URL_TOKEN = 16


def variants(value: str) -> set[str]:
    """``value`` and the encodings it is commonly printed in."""
    raw = value.encode()
    found = {value, quote(value, safe=""), quote_plus(value), json.dumps(value)[1:-1],
             raw.hex()}
    for encode in (base64.b64encode, base64.urlsafe_b64encode):
        text = encode(raw).decode()
        found |= {text, text.rstrip("=")}
    return {v for v in found if len(v) >= MIN_LENGTH}


def url_secrets(url: str) -> set[str]:
    """The parts of a notification URL that are credentials: its password, and the long
    path segments and query values (Discord's webhook token, Kuma's push token)."""
    found = {url}
    try:
        parts = urlsplit(url)
    except ValueError:
        return found
    if parts.password:
        found.add(unquote(parts.password))
    if parts.username and parts.scheme not in ("http", "https"):
        found.add(unquote(parts.username))  # apprise: the token is often the user part
    for segment in [parts.netloc.rsplit("@", 1)[-1], *parts.path.split("/")]:
        if len(segment) >= MIN_URL_TOKEN:
            found.add(unquote(segment))
    for _, value in parse_qsl(parts.query):
        if len(value) >= MIN_URL_TOKEN:
            found.add(value)
    return found


class Masker:
    """Replaces every known secret (and its encodings) in text with ``***``."""

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        self._values: set[str] = set()
        self._pattern: re.Pattern[str] | None = None
        self._lock = threading.Lock()
        self.add(*secrets)

    def add(self, *secrets: str) -> None:
        """Mask these values too from now on."""
        with self._lock:
            before = len(self._values)
            for secret in secrets:
                if secret and len(secret) >= MIN_LENGTH:
                    self._values |= variants(secret)
            if len(self._values) != before:
                ordered = sorted(self._values, key=len, reverse=True)  # longest first
                self._pattern = re.compile("|".join(map(re.escape, ordered)))

    def __bool__(self) -> bool:
        return self._pattern is not None

    def mask(self, text: str) -> str:
        pattern = self._pattern
        if pattern is None or not text:
            return text
        return pattern.sub(MASK, text)

    def mask_opt(self, text: str | None) -> str | None:
        return None if text is None else self.mask(text)

    def mask_data(self, value: Any) -> Any:
        """``value`` with every string in it masked (dicts, lists and tuples walked)."""
        if self._pattern is None:
            return value
        if isinstance(value, str):
            return self.mask(value)
        if isinstance(value, dict):
            return {k: self.mask_data(v) for k, v in value.items()}
        if isinstance(value, (list, tuple)):
            return type(value)(self.mask_data(v) for v in value)
        return value
