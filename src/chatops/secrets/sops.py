"""SOPS files, read in-process: no ``sops`` process per file.

A file is a SOPS file by its content, not its name: a YAML or JSON document with a
``sops`` mapping, a dotenv file with ``sops_mac=`` and ``sops_lastmodified=`` lines, or
SOPS's binary form (``{"data": ..., "sops": ...}``). Reading one is what ``sops -d`` does:

1. the data key (32 bytes) from an ``age`` stanza of the metadata, opened with one of
   this host's identities (pyrage);
2. every value the file's rules say is encrypted (``unencrypted_suffix``,
   ``encrypted_regex``, ...), opened with AES-256-GCM under that key, the value's path
   (``db:password:``) as additional data;
3. the MAC: SHA-512 over the values in document order (all of them, or only the
   encrypted ones with ``mac_only_encrypted``), compared in constant time with the
   file's own, itself encrypted under the data key with ``lastmodified`` as additional
   data. A file whose MAC does not verify is refused whole.

The result is the file as ``sops -d`` prints it (YAML, JSON, ``KEY=value`` lines, or the
binary's bytes) and the values that were encrypted, for masking. Errors name the file
and what is wrong, never a value.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import re
from collections.abc import Callable, Iterator
from datetime import datetime
from typing import Any

from msgspec import Struct, field

from chatops.errors import SecretError
from chatops.secrets.documents import Format, emit, go_bytes, load_document, sops_format
from chatops.secrets.keys import AgeKeys

ENC_RE = re.compile(r"^ENC\[AES256_GCM,data:([^,]*),iv:([^,]*),tag:([^,]*),type:([^\]]*)\]\Z")
#: What SOPS hashes first when only encrypted values count (sha256 of "sops").
MAC_ONLY_ENCRYPTED_INIT = hashlib.sha256(b"sops").digest()
DATA_KEY_BYTES = 32


class Opened(Struct, frozen=True):
    """A SOPS file decrypted: its plain bytes, and every value that was encrypted."""

    format: Format
    plain: bytes
    values: tuple[str, ...]
    #: The names of its encrypted values (``db.password``, ``API_TOKEN``): what a plan may
    #: say changed, never the values.
    keys: tuple[str, ...]
    recipients: tuple[str, ...]
    #: The plain document (typed values, order kept) and the file's sops metadata: what
    #: re-encrypting it needs (``secrets.sealing``).
    tree: Any = None
    meta: dict[str, Any] = field(default_factory=dict)


def age_stanzas(meta: dict[str, Any], name: str) -> list[dict[str, Any]]:
    groups = meta.get("key_groups")
    if groups:
        if len(groups) > 1:
            raise SecretError(f"{name}: its data key is split across {len(groups)} key "
                              "groups (Shamir); chatops reads files with one key group")
        stanzas = (groups[0] or {}).get("age") or []
    else:
        stanzas = meta.get("age") or []
    return [s for s in stanzas if isinstance(s, dict)]


def recipients_of(meta: dict[str, Any]) -> list[str]:
    """Who a file is encrypted for: its age recipients and the other kinds by name."""
    found = [str(s.get("recipient")) for s in age_stanzas(meta, "") if s.get("recipient")]
    for kind in ("pgp", "kms", "gcp_kms", "azure_kv", "hc_vault"):
        if meta.get(kind):
            found.append(f"{len(meta[kind])} {kind} key(s)")
    return found


def data_key(meta: dict[str, Any], keys: AgeKeys, name: str) -> bytes:
    import pyrage  # noqa: PLC0415 - only a deploy with secrets pays for it

    stanzas = age_stanzas(meta, name)
    recipients = ", ".join(recipients_of(meta)) or "none"
    if not stanzas:
        raise SecretError(f"{name}: it has no age recipient, chatops decrypts with age "
                          f"only (recipients: {recipients})")
    if not keys:
        raise SecretError(f"{name}: {keys.describe()}; it is encrypted for: {recipients}")
    for stanza in stanzas:
        enc = stanza.get("enc")
        if not isinstance(enc, str):
            continue
        try:
            key = pyrage.decrypt(enc.encode(), list(keys.identities))
        except Exception:  # noqa: S112 - not ours: try the next recipient
            continue
        if len(key) != DATA_KEY_BYTES:
            raise SecretError(f"{name}: its data key is {len(key)} bytes, not 32")
        return bytes(key)
    raise SecretError(f"{name}: none of this host's age identities can decrypt it; it is "
                      f"encrypted for: {recipients}; {keys.describe()}")


def decrypt_value(text: str, key: bytes, aad: str, name: str, where: str
                  ) -> tuple[bytes, str]:
    """One ``ENC[AES256_GCM,...]`` value: its plain bytes and its type."""
    from cryptography.exceptions import InvalidTag  # noqa: PLC0415
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM  # noqa: PLC0415

    match = ENC_RE.match(text)
    if match is None:
        raise SecretError(f"{name}: {where} should be encrypted and is not in SOPS's "
                          "ENC[AES256_GCM,...] form")
    try:
        data, iv, tag = (base64.b64decode(match.group(i), validate=True) for i in (1, 2, 3))
    except (binascii.Error, ValueError):
        raise SecretError(f"{name}: {where} is not valid base64 (was it edited?)") from None
    try:
        plain = AESGCM(key).decrypt(iv, data + tag, aad.encode())
    except (InvalidTag, ValueError):
        raise SecretError(f"{name}: {where} does not decrypt with the file's data key "
                          "(it was changed after it was encrypted, or moved)") from None
    return plain, match.group(4)


def _typed(plain: bytes, kind: str) -> Any:
    text = plain.decode("utf-8", errors="surrogateescape")
    if kind in {"int", "int64"}:
        return int(text)
    if kind == "float":  # Go prints 1.0 as "1": it was a JSON or YAML number 1
        return int(text) if re.fullmatch(r"-?[0-9]+", text) else float(text)
    if kind == "bool":
        return text.lower() in ("true", "1", "t")
    return text


class Rules:
    """SOPS's choice of which values are encrypted (``shouldBeEncrypted``)."""

    def __init__(self, meta: dict[str, Any]) -> None:
        self.unencrypted_suffix = meta.get("unencrypted_suffix") or ""
        self.encrypted_suffix = meta.get("encrypted_suffix") or ""
        self.unencrypted_regex = _compile(meta.get("unencrypted_regex"))
        self.encrypted_regex = _compile(meta.get("encrypted_regex"))
        #: Rules on comments need the comments, which the readers drop: then a value is
        #: taken for encrypted when it has SOPS's form (and the MAC still covers it).
        self.by_form = bool(meta.get("unencrypted_comment_regex")
                            or meta.get("encrypted_comment_regex"))

    def encrypted(self, path: list[str], value: Any) -> bool:
        if self.by_form:
            return isinstance(value, str) and bool(ENC_RE.match(value))
        result = True
        if self.unencrypted_suffix and any(p.endswith(self.unencrypted_suffix) for p in path):
            result = False
        if self.encrypted_suffix:
            result = any(p.endswith(self.encrypted_suffix) for p in path)
        if self.unencrypted_regex and any(self.unencrypted_regex.search(p) for p in path):
            result = False
        if self.encrypted_regex:
            result = any(self.encrypted_regex.search(p) for p in path)
        return result


def _compile(pattern: object) -> re.Pattern[str] | None:
    return re.compile(pattern) if isinstance(pattern, str) and pattern else None


def walk(value: Any, path: list[str], visit: Callable[[Any, list[str]], Any]) -> Any:
    if isinstance(value, dict):
        return {k: walk(v, [*path, k], visit) for k, v in value.items()}
    if isinstance(value, list):
        return [walk(v, path, visit) for v in value]
    if value is None:
        return None
    return visit(value, path)


def open_sops(data: bytes, keys: AgeKeys, name: str) -> Opened:
    """Decrypt a SOPS file (``name`` is how errors call it); ``SecretError`` when it is
    not one, cannot be opened, or its MAC does not verify."""
    fmt = sops_format(data)
    if fmt is None:
        raise SecretError(f"{name}: not a SOPS file")
    doc, meta = load_document(data, fmt, name)
    recipients = tuple(recipients_of(meta))
    key = data_key(meta, keys, name)
    rules = Rules(meta)
    only_encrypted = bool(meta.get("mac_only_encrypted"))
    digest = hashlib.sha512(MAC_ONLY_ENCRYPTED_INIT if only_encrypted else b"")
    secrets: list[str] = []
    names: list[str] = []

    def visit(value: Any, path: list[str]) -> Any:
        encrypted = rules.encrypted(path, value)
        if not encrypted:
            if not only_encrypted:
                digest.update(go_bytes(value))
            return value
        if value == "":
            return ""
        where = ":".join(path) or "the value"
        if not isinstance(value, str):
            raise SecretError(f"{name}: {where} should be encrypted and is a plain "
                              f"{type(value).__name__}")
        plain, kind = decrypt_value(value, key, ":".join(path) + ":", name, where)
        digest.update(plain)
        names.append(".".join(path))
        if fmt == "binary":
            return plain
        text = plain.decode("utf-8", errors="replace")
        secrets.append(text)
        return _typed(plain, kind)

    if fmt == "dotenv":
        plain_doc: Any = [(k, visit(v, [k])) for k, v in doc]
    else:
        plain_doc = walk(doc, [], visit)
    _check_mac(meta, key, digest.hexdigest().upper(), name)
    return Opened(fmt, emit(plain_doc, fmt), tuple(_masked(secrets, plain_doc, fmt)),
                  tuple(names), recipients, plain_doc, meta)


def _check_mac(meta: dict[str, Any], key: bytes, computed: str, name: str) -> None:
    mac = meta.get("mac")
    modified = meta.get("lastmodified")
    if not isinstance(mac, str) or not mac or not isinstance(modified, str):
        raise SecretError(f"{name}: its sops metadata has no MAC or no lastmodified "
                          "(is it truncated?)")
    try:
        stamp = _rfc3339(modified)
    except ValueError:
        raise SecretError(f"{name}: sops.lastmodified {modified!r} is not a time") from None
    expected, _ = decrypt_value(mac, key, stamp, name, "sops.mac")
    if not hmac.compare_digest(expected.decode(errors="replace").upper(), computed):
        raise SecretError(f"{name}: its MAC does not verify: a value was changed, added or "
                          "removed after it was encrypted (nothing was decrypted)")


def _rfc3339(text: str) -> str:
    """The time as Go's ``time.RFC3339`` formats it (what SOPS authenticates)."""
    moment = datetime.fromisoformat(text)
    base = moment.strftime("%Y-%m-%dT%H:%M:%S")
    offset = moment.utcoffset()
    if offset is None or not offset:
        return base + "Z"
    minutes = int(offset.total_seconds()) // 60
    sign = "+" if minutes >= 0 else "-"
    return f"{base}{sign}{abs(minutes) // 60:02d}:{abs(minutes) % 60:02d}"


def _masked(secrets: list[str], doc: Any, fmt: Format) -> Iterator[str]:
    """What to mask: each value, and each line of a many-line one (a key file)."""
    if fmt == "binary":
        data = doc.get("data", b"")
        secrets = [data.decode("utf-8", errors="replace") if isinstance(data, bytes)
                   else str(data)]
    for text in secrets:
        yield text
        lines = [line.strip() for line in text.splitlines()]
        if len(lines) > 1:
            yield from (line for line in lines if line and not line.startswith("-----"))
