"""A step's secrets, decrypted only into its run.

``find_secrets`` reads the files a step's Compose command uses (the compose file, the
``.env`` beside it, every ``env_file``, the ``configs`` and ``secrets`` files) and opens
the SOPS ones, before anything changes: a file chatops cannot open fails the step with
nothing touched. ``Staged`` then puts the plain text where only that step's Compose
commands see it, and takes it away when the step ends:

- the ``.env`` (interpolation): ``--env-file`` to a copy in a private directory;
- an ``env_file``: the compose file's entry points at a copy there;
- a ``configs``/``secrets`` file: its value goes to Compose in the environment of its own
  command (``environment:``), and Compose copies it into the container (it survives a
  restart; no file stays on the host); on Swarm it becomes a Docker secret or config whose
  name carries its content's hash, so a changed value rolls the service;
- an encrypted compose file: its plain copy, run with ``--project-directory`` the stack's
  folder, so relative paths mean what they meant.

The private directory is on a tmpfs (``/dev/shm`` unless ``CHATOPS_SECRETS_TMP`` says
otherwise), mode 0700, named after the process, and removed when the step ends; one left
by a process that died is removed at the next start (``sweep``).
"""

from __future__ import annotations

import contextlib
import copy
import hashlib
import os
import re
import shutil
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import yaml
from msgspec import Struct, field
from msgspec.structs import replace

from chatops.compose_refs import file_refs
from chatops.errors import SecretError
from chatops.secrets.documents import dump_yaml, plain_yaml, sops_format
from chatops.secrets.keys import AgeKeys
from chatops.secrets.references import SCHEME, Reference, references_in, substitute
from chatops.secrets.sops import Opened, open_sops

ENCRYPTED_MARK = b"ENC[AES256_GCM,"
DIR_PREFIX = "chatops-secrets-"


class SecretFile(Struct, frozen=True):
    """One SOPS file a step uses, opened."""

    source: Path
    name: str  # as errors and plans call it: relative to the stack's folder's parent
    role: str  # compose, .env, env_file, config, secret
    opened: Opened
    sha256: str  # of the file as committed (encrypted): what a snapshot records
    entry: str | None = None  # the config's or secret's name


class StepSecrets(Struct):
    """The SOPS files one step uses, and the compose document when it must be rewritten."""

    compose: Path
    files: list[SecretFile]
    document: dict[str, Any] | None

    @property
    def values(self) -> list[str]:
        return [v for f in self.files for v in f.opened.values]

    def hashes(self) -> dict[str, str]:
        """Each file by name, with the hash of its encrypted content (never a value)."""
        return {f.name: f.sha256 for f in self.files}


def looks_encrypted(data: bytes) -> bool:
    """SOPS values without SOPS metadata: a truncated or hand-edited file."""
    return ENCRYPTED_MARK in data


def _read(path: Path) -> bytes | None:
    try:
        return path.read_bytes()
    except (FileNotFoundError, IsADirectoryError, NotADirectoryError):
        return None
    except OSError as exc:
        raise SecretError(f"cannot read {path}: {exc.strerror}") from None


def _candidates(compose: Path, doc: dict[str, Any]) -> Iterator[tuple[Path, str, str | None]]:
    folder = compose.parent
    yield folder / ".env", ".env", None
    for ref in file_refs(doc):
        if ref.kind == "env_file":
            yield folder / ref.path, "env_file", None
        elif ref.kind in ("config", "secret"):
            yield folder / ref.path, ref.kind, ref.owner


Resolve = Callable[[list[Reference]], dict[Reference, str]]


def _no_provider(refs: list[Reference]) -> dict[Reference, str]:
    raise SecretError(f"{refs[0]}: secret references are resolved only when a run starts")


def open_secret_file(source: Path, name: str, data: bytes, role: str, *,
                     entry: str | None, keys: Callable[[], AgeKeys],
                     resolve: Resolve = _no_provider) -> SecretFile | None:
    """One file a step uses, opened: decrypted when it is a SOPS file, its ``secret://``
    references resolved when it is an env file; None when it is neither."""
    opened: Opened | None = None
    if sops_format(data) is not None:
        opened = open_sops(data, keys(), name)
    elif looks_encrypted(data):
        raise SecretError(f"{name}: it holds SOPS values but no sops metadata (is it "
                          "truncated?); nothing was changed")
    plain = opened.plain if opened is not None else data
    if role in (".env", "env_file") and SCHEME.encode() in plain:
        text = plain.decode("utf-8", errors="replace")
        found = [ref for _, ref in references_in(text, name)]
        if found:
            values = resolve(found)
            base = opened or Opened("dotenv", b"", (), (), ())
            opened = replace(
                base, plain=substitute(text, values, name).encode(),
                values=(*base.values, *(values[ref] for ref in found)),
                keys=(*base.keys, *(str(ref) for ref in found)))
    if opened is None:
        return None
    return SecretFile(source, name, role, opened, hashlib.sha256(data).hexdigest(), entry)


def find_secrets(compose: Path, keys: Callable[[], AgeKeys],
                 resolve: Resolve = _no_provider) -> StepSecrets | None:
    """The secrets the step of ``compose`` uses, opened: SOPS files (``keys`` is asked
    only when there is one) and env files' ``secret://`` references (``resolve``); None
    when it uses none. ``SecretError`` names the file or reference that cannot be had."""
    found: list[SecretFile] = []
    base = compose.parent.parent

    def name_of(path: Path) -> str:
        try:
            return path.resolve().relative_to(base.resolve()).as_posix()
        except ValueError:
            return str(path)

    content = _read(compose)
    if content is None:
        return None  # Compose's own reading says why
    own = open_secret_file(compose, name_of(compose), content, "compose", entry=None,
                           keys=keys)
    if own is not None:
        found.append(own)
    text = own.opened.plain if own else content
    try:
        # A file that names no other file has only its .env to look at: not parsed.
        doc = plain_yaml(text.decode("utf-8")) if own is not None or any(
            word in text for word in (b"env_file", b"configs", b"secrets")) else {}
    except (UnicodeDecodeError, yaml.YAMLError, ValueError):
        doc = None  # Compose's own reading says why
    if not isinstance(doc, dict):
        return StepSecrets(compose, found, None) if found else None
    seen: set[Path] = {compose}
    for path, role, entry in _candidates(compose, doc):
        if path in seen:
            continue
        seen.add(path)
        data = _read(path)
        if data is None:
            continue
        item = open_secret_file(path, name_of(path), data, role, entry=entry, keys=keys,
                                resolve=resolve)
        if item is not None:
            found.append(item)
    if not found:
        return None
    rewrite = any(f.role != ".env" for f in found)
    return StepSecrets(compose, found, doc if rewrite else None)


class Staged(Struct):
    """A step's decrypted files on a tmpfs, and how Compose is pointed at them."""

    secrets: StepSecrets
    folder: Path
    compose_file: Path | None = None
    env_file: Path | None = None
    #: Values Compose reads from its own environment (configs and secrets).
    env: dict[str, str] = field(default_factory=dict)

    def argv(self, argv: tuple[str, ...]) -> tuple[str, ...] | None:
        """A Compose command on the step's compose file, pointed at the plain copies;
        None for any other command (it gets nothing of the step's secrets)."""
        compose = str(self.secrets.compose)
        for i in range(len(argv) - 1):
            if argv[i] in ("-f", "-c", "--compose-file") and argv[i + 1] == compose:
                break
        else:
            return None
        extra: tuple[str, ...] = ()
        if argv[i] == "-f":  # docker compose (docker stack deploy has no such flags)
            extra = ("--project-directory", str(self.secrets.compose.parent))
            if self.env_file is not None:
                extra += ("--env-file", str(self.env_file))
        target = str(self.compose_file or self.secrets.compose)
        return (*argv[:i], *extra, argv[i], target, *argv[i + 2:])


def dotenv_values(data: bytes) -> dict[str, str]:
    """``KEY=value`` lines as Compose reads them (quotes taken off, comments skipped)."""
    values: dict[str, str] = {}
    for line in data.decode("utf-8", errors="replace").splitlines():
        text = line.strip()
        if not text or text.startswith("#") or "=" not in text:
            continue
        key, _, value = text.removeprefix("export ").partition("=")
        value = value.strip()
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
            quote, value = value[0], value[1:-1]
            if quote == '"':
                value = value.replace("\\n", "\n").replace('\\"', '"')
        elif " #" in value:
            value = value.split(" #", 1)[0].rstrip()
        values[key.strip()] = value
    return values


def tmp_root(configured: Path | None, state_dir: Path) -> Path:
    """Where a step's plain copies go: a tmpfs (``/dev/shm``, else the session's
    ``$XDG_RUNTIME_DIR``); only on a machine with neither, the state directory."""
    if configured is not None:
        return configured
    for candidate in (Path("/dev/shm"), Path(os.environ.get("XDG_RUNTIME_DIR") or "/-")):  # noqa: S108
        if candidate.is_dir() and os.access(candidate, os.W_OK):
            return candidate
    return state_dir / "private"


@contextlib.contextmanager
def staged(secrets: StepSecrets, root: Path, *, swarm: bool = False,
           project: str = "") -> Iterator[Staged]:
    """The plain copies, for the duration of the ``with`` block; always removed."""
    root.mkdir(parents=True, exist_ok=True)
    folder = Path(tempfile.mkdtemp(prefix=f"{DIR_PREFIX}{os.getpid()}-", dir=root))
    try:
        os.chmod(folder, 0o700)
        yield _write(secrets, folder, swarm=swarm, project=project)
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def _put(folder: Path, name: str, data: bytes) -> Path:
    path = folder / name
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(data)
    return path


def _write(secrets: StepSecrets, folder: Path, *, swarm: bool, project: str) -> Staged:
    result = Staged(secrets, folder)
    by_source = {f.source: f for f in secrets.files}
    for number, item in enumerate(secrets.files):
        if item.role != ".env":
            continue
        if swarm:  # docker stack deploy reads no .env: its values are the command's
            result.env.update(dotenv_values(item.opened.plain))
        else:
            result.env_file = _put(folder, f"{number}.env", item.opened.plain)
    _files_for_hooks(secrets, folder)
    if secrets.document is None:
        return result
    doc = copy.deepcopy(secrets.document)  # staged again on a rollback: never edited
    base = secrets.compose.parent
    services = doc.get("services")
    for body in (services.values() if isinstance(services, dict) else ()):
        if isinstance(body, dict) and "env_file" in body:
            body["env_file"] = _env_files(body["env_file"], base, by_source, folder)
    for kind in ("configs", "secrets"):
        section = doc.get(kind)
        for name, body in (section.items() if isinstance(section, dict) else ()):
            if not isinstance(body, dict) or not isinstance(body.get("file"), str):
                continue
            found = by_source.get(base / body["file"])
            if found is None:  # a plain one: the staged compose file lives elsewhere
                body["file"] = str(base / body["file"])
                continue
            _inject(result, kind, str(name), body, found, swarm=swarm, project=project)
    _absolute_refs(doc, base)
    text = dump_yaml(doc)
    result.compose_file = _put(folder, "compose.yaml", text.encode())
    return result


def _files_for_hooks(secrets: StepSecrets, folder: Path) -> None:
    """Every plain copy under ``files/``, by its path in the stack's folder (hooks read
    them through ``CHATOPS_SECRETS_DIR``)."""
    root = folder / "files"
    root.mkdir(mode=0o700)
    stack = secrets.compose.parent
    for item in secrets.files:
        try:
            rel = item.source.relative_to(stack).as_posix()
        except ValueError:
            rel = item.name
        target = root / rel
        if ".." in Path(rel).parts or target.exists():
            continue
        target.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        _put(target.parent, target.name, item.opened.plain)


def compose_document(compose: Path) -> dict[str, Any] | None:
    """A plain compose file's document, to point its entries at staged copies."""
    try:
        doc = plain_yaml(compose.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, yaml.YAMLError, ValueError):
        return None
    return doc if isinstance(doc, dict) else None


def _env_files(value: Any, base: Path, by_source: dict[Path, SecretFile],
               folder: Path) -> Any:
    def swap(ref: str) -> str:
        item = by_source.get(base / ref)
        if item is None:  # a plain one: the staged file lives elsewhere
            return ref if os.path.isabs(ref) else str(base / ref)
        return str(_put(folder, f"env-{len(list(folder.iterdir()))}", item.opened.plain))

    if isinstance(value, str):
        return swap(value)
    if isinstance(value, list):
        out: list[Any] = []
        for entry in value:
            if isinstance(entry, str):
                out.append(swap(entry))
            elif isinstance(entry, dict) and isinstance(entry.get("path"), str):
                out.append({**entry, "path": swap(entry["path"])})
            else:
                out.append(entry)
        return out
    return value


def _inject(result: Staged, kind: str, name: str, body: dict[str, Any], item: SecretFile,
            *, swarm: bool, project: str) -> None:
    plain = item.opened.plain
    digest = hashlib.sha256(plain).hexdigest()[:12]
    if swarm:
        # A Swarm object cannot change: a new name per content rolls the service.
        body["file"] = str(_put(result.folder, f"{kind}-{digest}", plain))
        body["name"] = f"{project or 'chatops'}_{name}_{digest}"
        return
    try:
        text = plain.decode("utf-8")
    except UnicodeDecodeError:
        raise SecretError(f"{item.name}: {kind[:-1]} {name} is binary; outside Swarm, "
                          "chatops passes configs and secrets to Compose as text") from None
    variable = "CHATOPS_" + re.sub(r"[^A-Z0-9]", "_", f"{kind[:-1]}_{name}".upper())
    body.pop("file", None)
    body["environment"] = variable
    result.env[variable] = text


def _absolute_refs(doc: dict[str, Any], base: Path) -> None:
    """The plain copy lives elsewhere: files it names by relative path are made absolute."""
    def absolute(ref: Any) -> Any:
        return str(base / ref) if isinstance(ref, str) and not os.path.isabs(ref) else ref

    includes = doc.get("include")
    if isinstance(includes, list):
        doc["include"] = [absolute(i) if isinstance(i, str) else
                          {**i, "path": [absolute(p) for p in i["path"]]
                           if isinstance(i.get("path"), list) else absolute(i.get("path"))}
                          if isinstance(i, dict) else i for i in includes]
    services = doc.get("services")
    for body in (services.values() if isinstance(services, dict) else ()):
        extends = body.get("extends") if isinstance(body, dict) else None
        if isinstance(extends, dict) and "file" in extends:
            extends["file"] = absolute(extends["file"])


def sweep(root: Path) -> list[Path]:
    """Remove private directories whose process is gone (a crash mid-step)."""
    removed: list[Path] = []
    try:
        entries = list(root.iterdir())
    except OSError:
        return removed
    for entry in entries:
        if not entry.name.startswith(DIR_PREFIX):
            continue
        pid = entry.name[len(DIR_PREFIX):].split("-", 1)[0]
        if pid.isdigit() and _alive(int(pid)):
            continue
        shutil.rmtree(entry, ignore_errors=True)
        removed.append(entry)
    return removed


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
