"""``chatops secrets``: the host's age identity and the repository's SOPS files.

``init`` makes the host's identity (once) and a ``.sops.yaml`` naming it; ``edit`` opens a
file decrypted in ``$EDITOR`` (through ``sops`` when it is installed) and encrypts it
back; ``add-recipient`` lets one more key read every file (same data keys);
``rotate`` gives every file a new data key for the recipients ``.sops.yaml`` names;
``check`` is what ``chatops validate`` checks of secrets, alone, and whether this host
can open every SOPS file an intent uses.
"""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import click
import yaml

from chatops.cli.config import current_settings
from chatops.errors import ConfigError, SecretError
from chatops.repo import GitOpsRepo
from chatops.secrets.documents import Format, plain_yaml, sops_format
from chatops.secrets.keys import AgeKeys, key_files, load_keys
from chatops.secrets.sops import open_sops

SOPS_CONFIG = ".sops.yaml"
#: What ``init`` asks to be encrypted: env files and *.secret.* files under stacks/.
DEFAULT_RULE = r"^stacks/.*(\.env|\.secret\.[A-Za-z0-9]+)$"
FORMAT_BY_SUFFIX: dict[str, Format] = {".env": "dotenv", ".json": "json", ".yaml": "yaml",
                                       ".yml": "yaml"}


def _key_file() -> Path:
    settings = current_settings()
    return settings.age_key_file or settings.state_dir / "age.key"


def _keys() -> AgeKeys:
    settings = current_settings()
    return load_keys(key_files(settings.age_key_file, settings.state_dir),
                     settings.age_ssh_key_file)


def _format_of(path: Path, data: bytes | None) -> Format:
    found = sops_format(data) if data else None
    if found is not None:
        return found
    if path.name == ".env" or path.name.endswith(".env"):
        return "dotenv"
    return FORMAT_BY_SUFFIX.get(path.suffix, "binary")


def _sops_config(repo: GitOpsRepo) -> dict[str, Any]:
    path = repo.root / SOPS_CONFIG
    if not path.is_file():
        return {}
    try:
        doc = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise ConfigError(f"{path}: cannot read it: {exc}") from None
    return doc if isinstance(doc, dict) else {}


def _rule_recipients(rule: Any) -> list[str]:
    value = rule.get("age") if isinstance(rule, dict) else None
    if isinstance(value, str):
        return [r.strip() for r in value.replace("\n", ",").split(",") if r.strip()]
    return [str(r) for r in value] if isinstance(value, list) else []


def recipients_for(repo: GitOpsRepo, rel: str) -> list[str]:
    """The age recipients ``.sops.yaml``'s first matching creation rule names."""
    import re

    for rule in _sops_config(repo).get("creation_rules") or []:
        regex = rule.get("path_regex") if isinstance(rule, dict) else None
        if regex is None or re.search(str(regex), rel):
            return _rule_recipients(rule)
    return []


def sops_files(repo: GitOpsRepo) -> Iterator[Path]:
    """Every SOPS file in the repository (by content), outside .git."""
    for path in sorted(repo.root.rglob("*")):
        if ".git" in path.relative_to(repo.root).parts or not path.is_file():
            continue
        try:
            with path.open("rb") as handle:
                head = handle.read(4 * 1024 * 1024)
        except OSError:
            continue
        if sops_format(head) is not None:
            yield path


def _rel(repo: GitOpsRepo, path: Path) -> str:
    try:
        return path.resolve().relative_to(repo.root).as_posix()
    except ValueError:
        return str(path)


def init_command(repo_path: Path | None) -> int:
    from pyrage import x25519

    repo = GitOpsRepo.discover(repo_path)
    key_file = _key_file()
    if key_file.is_file():
        recipient = load_keys([key_file]).recipients[0]
        click.echo(f"this host's age identity exists already: {key_file}")
    else:
        identity = x25519.Identity.generate()
        recipient = str(identity.to_public())
        key_file.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        fd = os.open(key_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(f"# created by chatops secrets init\n# public key: {recipient}\n"
                         f"{identity}\n")
        click.echo(f"created this host's age identity: {key_file} (keep it off Git)")
    click.echo(f"public key: {recipient}")
    config = repo.root / SOPS_CONFIG
    if config.exists():
        click.echo(f"{config} exists: to let this host read its files, run "
                   f"'chatops secrets add-recipient {recipient}'")
    else:
        config.write_text(f"# Files matching a rule are encrypted for its age recipients "
                          f"(sops and chatops read this).\ncreation_rules:\n"
                          f"  - path_regex: '{DEFAULT_RULE}'\n    age: {recipient}\n",
                          encoding="utf-8")
        click.echo(f"created {config}: env files and *.secret.* files under stacks/ are "
                   "encrypted for this host")
    if current_settings().age_key_file is None:
        click.echo(f"the service reads it from CHATOPS_AGE_KEY_FILE={key_file}")
    return 0


def _parse_plain(data: bytes, fmt: Format, name: str) -> Any:
    try:
        if fmt == "dotenv":
            pairs = []
            for number, line in enumerate(data.decode("utf-8").splitlines(), start=1):
                if not line.strip() or line.lstrip().startswith("#"):
                    continue
                key, sep, value = line.partition("=")
                if not sep:
                    raise ValueError(f"line {number} is not KEY=value")
                pairs.append((key.strip(), value.replace("\\n", "\n")))
            return pairs
        if fmt == "yaml":
            doc = plain_yaml(data.decode("utf-8"))
        elif fmt == "json":
            import json

            doc = json.loads(data)
        else:
            return {"data": data}
    except (UnicodeDecodeError, ValueError, yaml.YAMLError) as exc:
        raise SecretError(f"{name}: what was saved is not valid {fmt}: {exc}; the file was "
                          "left as it was") from None
    if not isinstance(doc, dict):
        raise SecretError(f"{name}: a {fmt} SOPS file must hold a mapping; the file was "
                          "left as it was")
    return doc


def edit_command(file: Path, repo_path: Path | None, *, use_sops: bool | None) -> int:
    from chatops.secrets.sealing import seal
    from chatops.secrets.staging import tmp_root

    repo = GitOpsRepo.discover(repo_path)
    path = file if file.is_absolute() else Path.cwd() / file
    rel = _rel(repo, path)
    sops = shutil.which("sops") if use_sops is not False else None
    if use_sops and sops is None:
        raise ConfigError("--with-sops: sops is not installed")
    if sops is not None:
        env = {**os.environ}
        key_file = _key_file()
        if key_file.is_file():
            env.setdefault("SOPS_AGE_KEY_FILE", str(key_file))
        return subprocess.run([sops, "edit", str(path)], env=env,  # noqa: S603
                              check=False, cwd=repo.root).returncode
    data = path.read_bytes() if path.is_file() else None
    fmt = _format_of(path, data)
    if data is not None and sops_format(data) is not None:
        opened = open_sops(data, _keys(), rel)
        plain, recipients, rules = opened.plain, list(opened.recipients), opened.meta
    else:
        plain, rules = data or b"", {}
        recipients = recipients_for(repo, rel)
    recipients = [r for r in recipients if r.startswith("age1")]
    if not recipients:
        raise SecretError(f"{rel}: no age recipient for it (run 'chatops secrets init', or "
                          f"add a creation rule to {SOPS_CONFIG})")
    settings = current_settings()
    root = tmp_root(settings.secrets_tmp, settings.state_dir)
    root.mkdir(parents=True, exist_ok=True)
    folder = Path(tempfile.mkdtemp(prefix="chatops-edit-", dir=root))
    try:
        os.chmod(folder, 0o700)
        scratch = folder / path.name
        fd = os.open(scratch, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as handle:
            handle.write(plain)
        editor = shlex.split(os.environ.get("VISUAL") or os.environ.get("EDITOR") or "vi")
        done = subprocess.run([*editor, str(scratch)], check=False)  # noqa: S603
        if done.returncode != 0:
            click.echo(f"the editor exited {done.returncode}: {rel} was left as it was",
                       err=True)
            return 1
        edited = scratch.read_bytes()
        if edited == plain and data is not None:
            click.echo(f"{rel}: unchanged")
            return 0
        sealed = seal(_parse_plain(edited, fmt, rel), fmt, recipients, rules=rules)
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(sealed)
    click.echo(f"{rel}: encrypted for {', '.join(recipients)}")
    return 0


def _rewrite(repo: GitOpsRepo, *, add: str | None, new_key: bool) -> int:
    from chatops.secrets.sealing import seal
    from chatops.secrets.sops import data_key

    keys = _keys()
    written = 0
    for path in sops_files(repo):
        rel = _rel(repo, path)
        data = path.read_bytes()
        opened = open_sops(data, keys, rel)
        recipients = list(opened.recipients) if not new_key else \
            (recipients_for(repo, rel) or list(opened.recipients))
        recipients = [r for r in recipients if r.startswith("age1")]
        if add and add not in recipients:
            recipients.append(add)
        key = None if new_key else data_key(opened.meta, keys, rel)
        path.write_bytes(seal(opened.tree, opened.format, recipients, rules=opened.meta,
                              key=key))
        written += 1
        click.echo(f"  {rel}: {len(recipients)} recipient(s)"
                   + (", new data key" if new_key else ""))
    click.echo(f"{written} SOPS file(s) written")
    return 0


def add_recipient_command(recipient: str, repo_path: Path | None) -> int:
    from chatops.secrets.sealing import wrap_key

    wrap_key(b"\0" * 32, [recipient])  # a wrong key is refused before anything is written
    repo = GitOpsRepo.discover(repo_path)
    config = _sops_config(repo)
    rules = config.get("creation_rules") or [{"path_regex": DEFAULT_RULE}]
    for rule in rules:
        if isinstance(rule, dict):
            current = _rule_recipients(rule)
            if recipient not in current:
                rule["age"] = ",".join([*current, recipient])
    config["creation_rules"] = rules
    (repo.root / SOPS_CONFIG).write_text(yaml.safe_dump(config, sort_keys=False),
                                         encoding="utf-8")
    click.echo(f"{SOPS_CONFIG}: every creation rule names {recipient}")
    return _rewrite(repo, add=recipient, new_key=False)


def rotate_command(repo_path: Path | None) -> int:
    return _rewrite(GitOpsRepo.discover(repo_path), add=None, new_key=True)


def check_command(repo_path: Path | None) -> int:
    from chatops.validation.report import render_text
    from chatops.validation.validator import secrets_report

    repo = GitOpsRepo.discover(repo_path)
    report = secrets_report(repo)
    sys.stdout.write(render_text(report))
    failed = 0 if report.ok else 1
    files = list(sops_files(repo))
    try:
        keys = _keys()
    except ConfigError as exc:
        click.echo(f"cannot check that this host opens the SOPS files: {exc.message}")
        return failed or 1
    if not keys:
        click.echo(f"{len(files)} SOPS file(s); no age identity on this host to open them")
        return failed
    for path in files:
        try:
            open_sops(path.read_bytes(), keys, _rel(repo, path))
        except SecretError as exc:
            click.echo(f"  ✗ {exc.message}")
            failed = 1
    if not failed:
        click.echo(f"✅ {len(files)} SOPS file(s), each opened by this host's identity")
    return failed
