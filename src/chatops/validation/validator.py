"""Validate many intent files: each on its own, then across files."""

from __future__ import annotations

import functools
from collections.abc import Callable, Collection, Iterable, Iterator, Mapping, Sequence
from pathlib import Path

from msgspec import Struct, field

from chatops.errors import ChatopsError, IntentError
from chatops.intents.graph import find_cycles, missing_dependencies
from chatops.intents.loader import INTENT_SUFFIXES, IntentFile, load_intent_file
from chatops.intents.model import IntentDoc
from chatops.planning.binds import relative_binds
from chatops.problems import Problem
from chatops.repo import INTENTS_DIR, GitOpsRepo, intent_files_in

ComposeChecker = Callable[[Iterable[Path]], Mapping[Path, "str | None"]]


class FileResult(Struct):
    path: Path
    label: str
    intent: IntentFile | None = None
    problems: list[Problem] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems


class Report(Struct):
    files: list[FileResult]
    problems: list[Problem] = field(default_factory=list)  # not tied to one file
    folders: set[Path] = field(default_factory=set)  # folders listed whole

    @property
    def error_count(self) -> int:
        return len(self.problems) + sum(len(f.problems) for f in self.files)

    @property
    def failed_files(self) -> int:
        labels = {f.label for f in self.files if f.problems}
        labels.update(p.file for p in self.problems)
        return len(labels)

    @property
    def ok(self) -> bool:
        return self.error_count == 0


def _expand(
    paths: Sequence[Path],
) -> tuple[list[tuple[Path, str]], list[Problem], set[Path]]:
    files: list[tuple[Path, str]] = []
    problems: list[Problem] = []
    folders: set[Path] = set()
    for given in paths:
        if given.is_dir():
            found = intent_files_in(given)
            folders.add(given)
            if not found:
                problems.append(Problem(
                    file=str(given), message="holds no intent files (*.yaml or *.yml)"))
            files.extend((p, p.name if len(paths) == 1 else str(p)) for p in found)
        elif given.is_file() or given.is_symlink():
            if given.suffix not in INTENT_SUFFIXES:
                problems.append(Problem(
                    file=str(given), message="is not an intent file (expected .yaml or .yml)"))
            else:
                files.append((given, str(given)))
        else:
            problems.append(Problem(file=str(given), message="no such file or directory"))
    return files, problems, folders


def _load_one(path: Path, label: str) -> FileResult:
    result = FileResult(path=path, label=label)
    try:
        result.intent = load_intent_file(path, label=label)
    except IntentError as exc:
        result.problems.extend(exc.problems)
    return result


def repo_root_of(path: Path, fallback: Path) -> Path:
    """The GitOps repository an intent file belongs to: the folder above chatops/intents/."""
    return _root_of_folder(path.parent, fallback)


@functools.lru_cache(maxsize=64)
def _root_of_folder(folder: Path, fallback: Path) -> Path:
    parent = folder.resolve()
    if parent.parts[-2:] == INTENTS_DIR.parts:
        return parent.parent.parent
    return fallback


def validate_paths(
    paths: Sequence[Path],
    *,
    repo_root: Path,
    compose_checker: ComposeChecker | None = None,
    hosts: Collection[str] | None = None,
) -> Report:
    """Validate ``paths`` (files or folders): each file, then across files; with
    ``hosts`` (the names CHATOPS_HOSTS defines), the hosts intents name too."""
    targets, problems, folders = _expand(paths)
    results = [_load_one(path, label) for path, label in targets]
    report = Report(files=results, problems=problems, folders=folders)
    _cross_check(report)
    _check_hosts(report, repo_root, hosts)
    _check_secrets(report, repo_root)
    if compose_checker is not None:
        _check_compose(report, repo_root, compose_checker)
        _check_policy(report, repo_root)
    return report


def _cross_check(report: Report) -> None:
    by_name: dict[str, list[FileResult]] = {}
    for result in report.files:
        name = result.intent.name if result.intent else result.path.stem
        by_name.setdefault(name, []).append(result)
    for name, same in by_name.items():
        if len(same) > 1:
            labels = ", ".join(r.label for r in same)
            for r in same[1:]:
                r.problems.append(Problem(
                    file=r.label, field="file name",
                    message=f"intent name {name!r} is used by more than one file ({labels}); "
                    "intent names must be unique",
                ))
    known = set(by_name)
    # A dependency may live beside the file even when only the file was named.
    for folder in {r.path.parent for r in report.files} - report.folders:
        known.update(p.stem for p in intent_files_in(folder))
    intents = {r.intent.name: r for r in report.files if r.intent is not None}
    deps = {name: r.intent.depends_on for name, r in intents.items() if r.intent}
    for name, dep in missing_dependencies(deps, known):
        result = intents[name]
        docs = result.intent.documents if result.intent else ()
        for i, doc in enumerate(docs, start=1):
            if dep in doc.depends_on:
                result.problems.append(Problem(
                    file=result.label, doc=i, docs=len(docs),
                    field="depends_on", message=f"no intent named {dep!r} exists",
                ))
    for cycle in find_cycles(deps):
        result = intents[cycle[0]]
        result.problems.append(Problem(
            file=result.label, field="depends_on",
            message="dependency cycle: " + " -> ".join(cycle),
        ))


def _documents(report: Report, fallback_root: Path
               ) -> Iterator[tuple[FileResult, GitOpsRepo, int, int, IntentDoc]]:
    """(file, its repository, document number, documents, document) of each valid file."""
    for result in report.files:
        if result.intent is not None:
            repo = GitOpsRepo(repo_root_of(result.path, fallback_root))
            docs = result.intent.documents
            for i, doc in enumerate(docs, start=1):
                yield result, repo, i, len(docs), doc


def _check_hosts(report: Report, fallback_root: Path, hosts: Collection[str] | None) -> None:
    """Each named host defined; no relative bind path in a compose file a host gets."""
    for result, repo, i, count, doc in _documents(report, fallback_root):
        named = [("host", doc.host)] if doc.host else []
        named += [(f"hosts[{k}]", h) for k, h in enumerate(doc.hosts)]
        for where, host in named:
            if hosts is not None and host not in hosts:
                known = ", ".join(sorted(hosts)) or "none is defined"
                result.problems.append(Problem(
                    file=result.label, doc=i, docs=count, field=where,
                    message=f"host {host!r} is not defined in CHATOPS_HOSTS ({known})"))
        if not named:
            continue
        path = repo.compose_path(doc)
        try:
            text = path.read_bytes()
        except OSError:
            continue  # --check-compose says why
        for line, service, source in relative_binds(text):
            result.problems.append(Problem(
                file=result.label, doc=i, docs=count, field="compose",
                message=f"{path.name}, line {line}: service {service} binds the relative "
                f"path {source!r}, which would resolve on this machine, not on the "
                "host: use an absolute path"))


def secrets_report(repo: GitOpsRepo) -> Report:
    """What ``validate`` says of the secrets of ``repo``'s intents, alone."""
    targets, problems, folders = _expand([repo.intents_dir])
    report = Report(files=[_load_one(path, label) for path, label in targets],
                    problems=problems, folders=folders)
    for result in report.files:
        result.problems = []  # the intents' own problems are validate's to tell
    _check_secrets(report, repo.root)
    return report


def _check_secrets(report: Report, fallback_root: Path) -> None:
    """No plain secret in a committed file an intent uses (``secrets.scan``); each file
    is told once, on the first intent that uses it."""
    from chatops.planning.uses import WorkTree, files_used  # noqa: PLC0415
    from chatops.secrets.scan import CreationRules, scan_file  # noqa: PLC0415

    seen: set[tuple[Path, str]] = set()
    roots: dict[Path, tuple[WorkTree, frozenset[str] | None, CreationRules]] = {}
    for result in report.files:
        if result.intent is None:
            continue
        repo = GitOpsRepo(repo_root_of(result.path, fallback_root))
        if repo.root not in roots:
            tree = WorkTree(repo.root)
            roots[repo.root] = (tree, tracked_files(repo.root),
                                CreationRules.parse(tree.read(".sops.yaml")))
        tree, tracked, rules = roots[repo.root]
        for path, why in files_used(result.intent, repo, tree).items():
            if (repo.root, path) in seen or (tracked is not None and path not in tracked):
                continue  # told already; or not committed (a host's own file)
            seen.add((repo.root, path))
            own = why == "the intent's file" and result.intent.text
            data = result.intent.text.encode() if own else tree.read(path)
            if data is None:
                continue
            findings = scan_file(path, data,
                                 role="secret" if why.startswith("secret ") else "file")
            required = rules.check(path, data)
            for finding in ([required] if required else []) + findings:
                result.problems.append(Problem(file=result.label, field="secrets",
                                               message=finding.render()))


def tracked_files(root: Path) -> frozenset[str] | None:
    """The files Git tracks under ``root`` (a checkout), or None when it is not one."""
    import subprocess  # noqa: PLC0415

    if not (root / ".git").exists():
        return None
    try:
        done = subprocess.run(["git", "-C", str(root), "ls-files", "-z"],  # noqa: S603,S607
                              capture_output=True, check=False, timeout=30)
    except (OSError, subprocess.TimeoutExpired):
        return None
    if done.returncode != 0:
        return None
    return frozenset(p for p in done.stdout.decode(errors="replace").split("\0") if p)


def _check_compose(report: Report, fallback_root: Path, checker: ComposeChecker) -> None:
    wanted: dict[Path, list[tuple[FileResult, int, int]]] = {}
    for result, repo, i, count, doc in _documents(report, fallback_root):
        wanted.setdefault(repo.compose_path(doc), []).append((result, i, count))
    verdicts = checker(wanted.keys())
    for path, users in wanted.items():
        verdict = verdicts.get(path)
        if verdict is None:
            continue
        for result, i, total in users:
            result.problems.append(Problem(
                file=result.label, doc=i, docs=total, field="compose", message=verdict))


def _check_policy(report: Report, fallback_root: Path) -> None:
    """The compose policy (``chatops/policy.yaml``, or its safe default), on the compose
    files each valid intent acts on, less the exceptions it names."""
    from chatops.planning.uses import WorkTree  # noqa: PLC0415
    from chatops.policy import intent_violations  # noqa: PLC0415

    trees: dict[Path, WorkTree] = {}
    for result in report.files:
        if result.intent is None:
            continue
        repo = GitOpsRepo(repo_root_of(result.path, fallback_root))
        tree = trees.setdefault(repo.root, WorkTree(repo.root))
        try:
            found = intent_violations(result.intent, repo, tree)
        except ChatopsError as exc:
            result.problems.append(Problem(file=result.label, field="policy_exceptions"
                                           if exc.intent else "policy",
                                           message=exc.message))
            continue
        for violation in found:
            result.problems.append(Problem(file=result.label, field="policy",
                                           message=f"the compose policy refuses "
                                           f"{violation.text()}"))
