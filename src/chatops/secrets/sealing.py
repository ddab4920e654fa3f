"""Writing SOPS files, as ``sops`` writes them (so ``sops -d`` reads them back): a new or
kept data key wrapped for each age recipient (ASCII-armored age), every value the
file's rules select encrypted with AES-256-GCM under a fresh 32-byte IV and its path as
additional data, and the MAC over the plain values, encrypted with ``lastmodified``.

Used by ``chatops secrets`` (rotate, add-recipient, edit without ``sops``); a deploy
only ever reads.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
from datetime import UTC, datetime
from typing import Any

from chatops.errors import SecretError
from chatops.secrets.documents import Format, dump_yaml, go_bytes
from chatops.secrets.sops import DATA_KEY_BYTES, MAC_ONLY_ENCRYPTED_INIT, Rules, walk

#: The SOPS file format this writes (what ``sops --version`` 3.9 and later read).
FORMAT_VERSION = "3.9.0"
#: The rules kept from a file's metadata when it is written again.
RULE_KEYS = ("unencrypted_suffix", "encrypted_suffix", "unencrypted_regex",
             "encrypted_regex", "mac_only_encrypted")


def encrypt_value(value: Any, key: bytes, aad: str) -> str:
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM  # noqa: PLC0415

    if isinstance(value, bool):
        kind = "bool"
    elif isinstance(value, int):
        kind = "int"
    elif isinstance(value, float):
        kind = "float"
    else:
        kind = "str"
    plain = value.encode() if isinstance(value, str) else go_bytes(value)
    iv = os.urandom(32)
    sealed = AESGCM(key).encrypt(iv, plain, aad.encode())
    data, tag = sealed[:-16], sealed[-16:]
    b64 = base64.b64encode
    return (f"ENC[AES256_GCM,data:{b64(data).decode()},iv:{b64(iv).decode()},"
            f"tag:{b64(tag).decode()},type:{kind}]")


def wrap_key(key: bytes, recipients: list[str]) -> list[dict[str, str]]:
    """The data key, encrypted to each age recipient on its own (as SOPS does)."""
    import pyrage  # noqa: PLC0415
    from pyrage import x25519  # noqa: PLC0415

    stanzas = []
    for recipient in recipients:
        try:
            parsed = x25519.Recipient.from_str(recipient)
        except Exception:
            raise SecretError(f"{recipient!r} is not an age recipient (age1...)") from None
        armored = pyrage.encrypt(key, [parsed], armored=True).decode()
        stanzas.append({"recipient": recipient, "enc": armored})
    return stanzas


def seal(tree: Any, fmt: Format, recipients: list[str], *,
         rules: dict[str, Any] | None = None, key: bytes | None = None) -> bytes:
    """``tree`` (a document as ``open_sops`` returns it) as a SOPS file for
    ``recipients``; ``key`` keeps a data key (adding a recipient), else a new one."""
    if not recipients:
        raise SecretError("no age recipient to encrypt for (add one to .sops.yaml, or give "
                          "--recipient)")
    meta: dict[str, Any] = {k: v for k, v in (rules or {}).items()
                            if k in RULE_KEYS and v not in (None, "", False)}
    if not any(k in meta for k in RULE_KEYS[:4]):
        meta["unencrypted_suffix"] = "_unencrypted"
    key = key or os.urandom(DATA_KEY_BYTES)
    chosen = Rules(meta)
    only_encrypted = bool(meta.get("mac_only_encrypted"))
    digest = hashlib.sha512(MAC_ONLY_ENCRYPTED_INIT if only_encrypted else b"")

    def visit(value: Any, path: list[str]) -> Any:
        encrypted = chosen.encrypted(path, value) if fmt != "binary" else True
        if not only_encrypted or encrypted:
            digest.update(go_bytes(value))
        if not encrypted or value in ("", b""):
            return value
        return encrypt_value(value, key, ":".join(path) + ":")

    if fmt == "dotenv":
        body: Any = [(k, visit(v, [k])) for k, v in tree]
    else:
        body = walk(tree, [], visit)
    stamp = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    meta.update(age=wrap_key(key, recipients), lastmodified=stamp,
                mac=encrypt_value(digest.hexdigest().upper(), key, stamp),
                version=FORMAT_VERSION)
    ordered = {k: meta[k] for k in sorted(meta)}
    if fmt == "dotenv":
        lines = [f"{k}={str(v).replace(chr(10), chr(92) + 'n')}" for k, v in body]
        lines += [f"sops_{k}={str(v).replace(chr(10), chr(92) + 'n')}"
                  for k, v in sorted(_flatten(ordered).items())]
        return ("\n".join(lines) + "\n").encode()
    document = {**body, "sops": ordered}
    if fmt == "yaml":
        return dump_yaml(document).encode()
    return (json.dumps(document, indent="\t", ensure_ascii=False) + "\n").encode()


def _flatten(meta: dict[str, Any]) -> dict[str, Any]:
    """SOPS's flat metadata for dotenv files (``age__list_0__map_enc``)."""
    flat: dict[str, Any] = {}

    def put(prefix: str, value: Any) -> None:
        if isinstance(value, dict):
            for k, v in value.items():
                put(f"{prefix}__map_{k}" if prefix else k, v)
        elif isinstance(value, list):
            for i, v in enumerate(value):
                put(f"{prefix}__list_{i}", v)
        elif isinstance(value, bool):
            flat[prefix] = "true" if value else "false"
        else:
            flat[prefix] = value

    put("", meta)
    return flat
