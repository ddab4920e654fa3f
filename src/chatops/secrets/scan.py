"""Plain secrets, found before they are committed: the rules ``chatops validate`` (and so
the pull-request workflow) and ``chatops secrets check`` apply to every file an intent
uses.

A line is a finding when, outside a SOPS file (which is encrypted, or says which values
it leaves plain on purpose):

- its key names a secret (``PASSWORD``, ``TOKEN``, ``SECRET``, ``API_KEY``, ...) and its
  value is neither empty, a reference (``${VAR}``, ``secret://...``), a path, nor a flag;
- its value has a known credential's form (a private key, GitHub, AWS, Slack or Stripe
  tokens, a chat webhook URL, a password inside a URL, a JWT);
- a variable's value is long and random-looking (Shannon entropy per character, as
  gitleaks does);
- or it is a Compose ``secrets:`` file, whose whole content is a secret.

``# chatops: not-secret`` on the line allows it. A file that ``.sops.yaml``'s creation
rules say must be encrypted and is not is a finding too. The rules are data (``RULES``):
each finding names the file, the line, the key and the rule, never the value.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Iterator
from typing import Any

import yaml
from msgspec import Struct

from chatops.secrets.documents import sops_format

ALLOW_MARK = "chatops: not-secret"


class Rule(Struct, frozen=True):
    name: str
    says: str  # what the finding says the value is
    pattern: re.Pattern[str] | None = None  # a value's form (the key rule has none)


class Finding(Struct, frozen=True):
    file: str
    line: int | None
    key: str | None
    rule: str
    says: str

    def render(self) -> str:
        where = f"{self.file}, line {self.line}" if self.line else self.file
        what = f"{self.key} holds {self.says}" if self.key else f"it holds {self.says}"
        return (f"{where}: {what} in plain text (rule {self.rule}); encrypt the file with "
                f"sops ('chatops secrets edit {self.file}'), or mark the line "
                f"'# {ALLOW_MARK}'")


RULES: tuple[Rule, ...] = (
    Rule("private-key", "a private key",
         re.compile(r"-----BEGIN [A-Z0-9 ]*PRIVATE KEY( BLOCK)?-----")),
    Rule("github-token", "a GitHub token",
         re.compile(r"\b(gh[pousr]_[A-Za-z0-9]{36,}|github_pat_[A-Za-z0-9_]{22,})\b")),
    Rule("aws-access-key", "an AWS access key", re.compile(r"\b(AKIA|ASIA)[0-9A-Z]{16}\b")),
    Rule("slack-token", "a Slack token", re.compile(r"\bxox[abposr]-[A-Za-z0-9-]{10,}")),
    Rule("stripe-key", "a Stripe key", re.compile(r"\b[sr]k_live_[A-Za-z0-9]{16,}")),
    Rule("chat-webhook", "a chat webhook URL (its token)",
         re.compile(r"https://(?:(?:ptb\.|canary\.)?discord(?:app)?\.com/api/webhooks|"
                    r"hooks\.slack\.com/services)/[A-Za-z0-9/_-]{20,}")),
    Rule("url-password", "a password inside a URL",
         re.compile(r"\b[a-z][a-z0-9+.-]*://[^/\s:@${}]+:[^/\s@${}]{3,}@")),
    Rule("jwt", "a JSON Web Token",
         re.compile(r"\beyJ[A-Za-z0-9_-]{10,}\.eyJ[A-Za-z0-9_-]{10,}\.[A-Za-z0-9_-]{10,}")),
    Rule("secret-key-name", "a value under a secret's name"),
    Rule("high-entropy", "a random-looking value"),
    Rule("compose-secret", "a Compose secret"),
    Rule("sops-creation-rule", "a value .sops.yaml says must be encrypted"),
)
BY_NAME = {rule.name: rule for rule in RULES}

SECRET_KEY = re.compile(
    r"(?i)(^|[_.-])(pass(word|wd|phrase)?|pwd|secret|token|api[_-]?key|apikey|"
    r"private[_-]?key|access[_-]?key|client[_-]?secret|credentials?|auth[_-]?key|"
    r"encryption[_-]?key|signing[_-]?key|salt)([_.-]|$)")
NOT_A_VALUE_KEY = re.compile(r"(?i)[_.-](file|path|dir|url|host|user(name)?|name|id|"
                             r"ttl|len(gth)?|size|expiry|expires|type|mode|enabled)$")
NOT_SECRET_VALUE = re.compile(
    r"(?i)^(|true|false|yes|no|on|off|none|null|nil|\d{1,6}|\*+|x+|<[^>]*>)$")
REFERENCE = re.compile(r"\$\{?[A-Za-z_]|^secret://|^ENC\[AES256_GCM,|^/|^\./|^~/")
KEY_VALUE = re.compile(
    r"""^\s*(?:-\s+)?(?:export\s+)?["']?([A-Za-z_][A-Za-z0-9_.\-]*)["']?\s*([=:])\s?(.*)$""")
#: The entropy rule looks at variables (upper-case names, as env files and Compose's
#: ``environment:`` write them), not at every YAML value (an image tag is not a secret).
ENV_NAME = re.compile(r"^[A-Z][A-Z0-9_]*$")
ENTROPY_MIN_LENGTH = 20
ENTROPY_BITS = 4.2  # bits per character: hex digests (4.0 at most) stay below


def entropy(text: str) -> float:
    counts = Counter(text)
    total = len(text)
    return -sum(n / total * math.log2(n / total) for n in counts.values())


def _value(raw: str) -> str:
    value = raw.strip()
    if value[:1] in ("'", '"'):
        quote = value[0]
        end = value.find(quote, 1)
        return value[1:end] if end > 0 else value[1:]
    return re.split(r"\s+#", value, maxsplit=1)[0].strip()


def _random_looking(value: str) -> bool:
    if len(value) < ENTROPY_MIN_LENGTH or " " in value or "://" in value:
        return False
    if value.startswith(("/", "./", "sha256:")) or "@sha256:" in value:
        return False
    has = (any(c.isdigit() for c in value), any(c.islower() for c in value),
           any(c.isupper() for c in value))
    return sum(has) >= 2 and entropy(value) >= ENTROPY_BITS


#: What any rule's match holds (lower case): a file holding none of them, and no
#: upper-case variable, is not read line by line (most files).
_HINTS = ("private key", "ghp_", "gho_", "ghu_", "ghs_", "ghr_", "github_pat_", "akia",
          "asia", "xox", "_live_", "webhooks", "hooks.slack", "://", "eyj", "pass", "pwd",
          "secret", "token", "key", "credential", "auth", "salt")
_ENV_LINE = re.compile(r"^\s*(?:-\s+)?(?:export\s+)?[A-Z][A-Z0-9_]*\s*[=:]", re.M)


def _worth_reading(text: str) -> bool:
    low = text.lower()
    return any(hint in low for hint in _HINTS) or _ENV_LINE.search(text) is not None


def scan_text(name: str, text: str) -> Iterator[Finding]:
    """Every plain secret in a dotenv or YAML text, by line."""
    if not _worth_reading(text):
        return
    for number, line in enumerate(text.splitlines(), start=1):
        if ALLOW_MARK in line or line.lstrip().startswith("#"):
            continue
        found = next((r for r in RULES if r.pattern is not None and r.pattern.search(line)),
                     None)
        match = KEY_VALUE.match(line)
        key = match.group(1) if match else None
        if found is not None:
            yield Finding(name, number, key, found.name, found.says)
            continue
        if match is None:
            continue
        value = _value(match.group(3))
        if value in ("|", ">", "|-", ">-") or REFERENCE.search(value) or \
                NOT_SECRET_VALUE.match(value):
            continue
        if key and SECRET_KEY.search(key) and not NOT_A_VALUE_KEY.search(key):
            rule = BY_NAME["secret-key-name"]
            yield Finding(name, number, key, rule.name, rule.says)
        elif key and ENV_NAME.match(key) and _random_looking(value):
            rule = BY_NAME["high-entropy"]
            yield Finding(name, number, key, rule.name, rule.says)


def scan_file(name: str, data: bytes, *, role: str = "file") -> list[Finding]:
    """The findings of one committed file (``role`` ``secret`` for a Compose secret's
    file, whose content is a secret whatever it looks like)."""
    if sops_format(data) is not None:
        return []
    if role == "secret":
        rule = BY_NAME["compose-secret"]
        if data.strip() and ALLOW_MARK.encode() not in data:
            return [Finding(name, None, None, rule.name, rule.says)]
        return []
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        return []
    return list(scan_text(name, text))


class CreationRules(Struct, frozen=True):
    """``.sops.yaml``'s creation rules: the files that must be SOPS-encrypted."""

    patterns: tuple[re.Pattern[str], ...]

    @classmethod
    def parse(cls, data: bytes | None) -> CreationRules:
        if not data:
            return cls(())
        try:
            doc: Any = yaml.safe_load(data)
        except yaml.YAMLError:
            return cls(())
        rules = doc.get("creation_rules") if isinstance(doc, dict) else None
        patterns = []
        for rule in rules if isinstance(rules, list) else []:
            regex = rule.get("path_regex") if isinstance(rule, dict) else None
            if isinstance(regex, str) and regex:
                try:
                    patterns.append(re.compile(regex))
                except re.error:
                    continue
        return cls(tuple(patterns))

    def requires(self, path: str) -> bool:
        return any(p.search(path) for p in self.patterns)

    def check(self, path: str, data: bytes) -> Finding | None:
        if self.requires(path) and sops_format(data) is None:
            rule = BY_NAME["sops-creation-rule"]
            return Finding(path, None, None, rule.name, rule.says)
        return None
