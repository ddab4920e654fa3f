"""Which secrets a change changes, by name, without decrypting anything.

SOPS keeps a value's ciphertext when the value does not change (it reuses the IV on
re-encryption), so two versions of a SOPS file can be compared value by value: a key
whose ``ENC[...]`` differs was changed, one only in the new version was added. A file
re-encrypted with a new data key changes every ciphertext: that is said as such.
"""

from __future__ import annotations

from typing import Any

from chatops.errors import SecretError
from chatops.secrets.documents import load_document, sops_format
from chatops.secrets.references import SCHEME, references_in
from chatops.secrets.sops import ENC_RE


def _ciphertexts(data: bytes | None) -> tuple[dict[str, str], dict[str, Any]] | None:
    """Each encrypted value by its dotted name, and the metadata; None for a plain file."""
    if not data:
        return None
    fmt = sops_format(data)
    if fmt is None:
        return None
    try:
        doc, meta = load_document(data, fmt, "")
    except SecretError:
        return None
    found: dict[str, str] = {}

    def visit(value: Any, name: str) -> None:
        if isinstance(value, dict):
            for k, v in value.items():
                visit(v, f"{name}.{k}" if name else str(k))
        elif isinstance(value, list):
            for i, v in enumerate(value):
                visit(v, f"{name}[{i}]")
        elif isinstance(value, str) and ENC_RE.match(value):
            found[name] = value

    if fmt == "dotenv":
        for key, value in doc:
            visit(value, key)
    else:
        visit(doc, "")
    return found, meta


def _keys(names: list[str]) -> str:
    shown = ", ".join(names[:10])
    return shown + (f" and {len(names) - 10} more" if len(names) > 10 else "")


def secret_changes(before: bytes | None, after: bytes | None) -> str | None:
    """What changed among a file's secrets, by key name; None when neither version is a
    SOPS file."""
    old, new = _ciphertexts(before), _ciphertexts(after)
    if old is None and new is None:
        return None
    if new is None:
        return "removed" if not after else "no longer encrypted (its values are now plain)"
    values, meta = new
    if old is None:
        return f"{'newly encrypted' if before else 'added'}: {_keys(sorted(values)) or 'no keys'}"
    was, was_meta = old
    added = sorted(set(values) - set(was))
    removed = sorted(set(was) - set(values))
    common = sorted(set(values) & set(was))
    changed = [k for k in common if values[k] != was[k]]
    stanzas = {s.get("enc") for s in meta.get("age") or [] if isinstance(s, dict)}
    was_stanzas = {s.get("enc") for s in was_meta.get("age") or [] if isinstance(s, dict)}
    if common and len(changed) == len(common) and not stanzas & was_stanzas:
        return "re-encrypted with a new data key: every value may have changed"
    parts = [f"{_keys(changed)} changed"] if changed else []
    parts += [f"{_keys(added)} added"] if added else []
    parts += [f"{_keys(removed)} removed"] if removed else []
    return "; ".join(parts) if parts else None


def describe_secrets(data: bytes | None) -> str | None:
    """What a file holds of secrets, by name: its SOPS values and its ``secret://``
    references; None when it holds neither."""
    found = _ciphertexts(data)
    parts: list[str] = []
    if found is not None:
        values, meta = found
        recipients = [s for s in meta.get("age") or [] if isinstance(s, dict)]
        parts.append(f"SOPS for {len(recipients)} age recipient(s): "
                     + (_keys(sorted(values)) or "no encrypted value"))
    if data and SCHEME.encode() in data:
        refs = sorted({str(ref) for _, ref in _references(data)})
        if refs:
            parts.append("resolves " + _keys(refs))
    return "; ".join(parts) or None


def _references(data: bytes) -> list[tuple[int, object]]:
    try:
        return list(references_in(data.decode("utf-8", errors="replace"), ""))
    except SecretError:
        return []
