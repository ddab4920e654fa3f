"""Move the host's checkout to the commit that was merged, refusing anything doubtful.

Refused, changing nothing: local edits in the checkout; a remote that cannot be reached;
a commit that is unknown or not on the deploy branch (a force-push that rewrote history
makes old commits fall off the branch, and they are refused too).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import TYPE_CHECKING

from msgspec import Struct

from chatops.errors import CommitNotOnBranchError, NotACheckoutError
from chatops.gitops.git import SHA_RE, CheckoutDirtyError, Git, GitError, GitUnreachableError

if TYPE_CHECKING:
    from chatops.planning.uses import CommitTree

REV_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._/~^-]{0,200}$")


class SyncResult(Struct, frozen=True):
    sha: str
    moved: bool  # False when the checkout already was at that commit


class RepoSync(Struct, frozen=True):
    checkout: Path
    remote: str = "origin"
    branch: str = "main"

    @property
    def git(self) -> Git:
        return Git(self.checkout)

    @property
    def tracking(self) -> str:
        return f"refs/remotes/{self.remote}/{self.branch}"

    def head(self) -> str:
        return self.git.out("rev-parse", "HEAD")

    def ensure_clean(self) -> None:
        status = self.git.out("status", "--porcelain", "--untracked-files=normal")
        if status:
            files = ", ".join(line[3:] for line in status.splitlines()[:5])
            raise CheckoutDirtyError(f"the checkout {self.checkout} has local edits "
                                     f"({files}); deploys come from Git only: commit them "
                                     "or discard them")

    def fetch(self) -> None:
        try:
            self.git.run("fetch", "--prune", "--quiet", self.remote,
                         f"+refs/heads/{self.branch}:{self.tracking}")
        except GitError as exc:
            raise GitUnreachableError(f"cannot fetch {self.branch} from remote "
                                      f"{self.remote!r}: {exc.message}") from None

    def fetch_pull(self, number: int, branch: str | None = None) -> None:
        """Fetch a pull request's head (GitHub's ``refs/pull/N/head``, else its branch)."""
        local = f"+refs/pull/{int(number)}/head:refs/chatops/pull/{int(number)}"
        done = self.git.run("fetch", "--quiet", self.remote, local, check=False)
        if done.returncode == 0:
            return
        if branch and REV_RE.match(branch):
            done = self.git.run("fetch", "--quiet", self.remote,
                                f"+refs/heads/{branch}:refs/chatops/pull/{int(number)}",
                                check=False)
            if done.returncode == 0:
                return
        raise GitUnreachableError(f"cannot fetch pull request #{number} from remote "
                                  f"{self.remote!r}")

    def pull_request_range(self, number: int, head: str, branch: str | None,
                           base: str | None) -> str:
        """The deploy branch fetched, then pull request ``number``'s ``head`` when it is
        not here yet; the commit its change starts from (``base``, or where it leaves the
        deploy branch when the forge does not say: GitLab)."""
        self.fetch()
        if not self.has_commit(head):
            self.fetch_pull(number, branch)
        if not self.has_commit(head):
            raise GitError(f"commit {head[:12]} of pull request #{number} cannot be fetched",
                           field="head")
        return base if base is not None else self.git.out("merge-base", self.tracking, head)

    def push_commit(self, tree: str, parent: str, message: str, branch: str) -> str:
        """A commit of ``tree`` on ``parent`` (made from Git objects: the checkout does not
        move), pushed to the remote as ``branch``; its id."""
        commit = self.git.out("-c", "user.name=chatops", "-c", "user.email=chatops@localhost",
                              "commit-tree", tree, "-p", parent, "-m", message)
        try:
            self.git.run("push", "--quiet", self.remote, f"{commit}:refs/heads/{branch}")
        except GitError as exc:
            raise GitUnreachableError(f"cannot push {branch} to remote {self.remote!r}: "
                                      f"{exc.message}") from None
        return commit

    def has_commit(self, sha: str) -> bool:
        return bool(SHA_RE.match(sha)) and self.git.run(
            "cat-file", "-e", f"{sha}^{{commit}}", check=False).returncode == 0

    def resolve(self, sha: str | None) -> str:
        if sha is None:
            return self.git.out("rev-parse", self.tracking)
        if not SHA_RE.match(sha):
            raise GitError(f"{sha!r} is not a commit id (7 to 40 hexadecimal characters)")
        done = self.git.run("rev-parse", "--verify", "--quiet", f"{sha}^{{commit}}",
                            check=False)
        if done.returncode != 0:
            raise CommitNotOnBranchError(
                f"commit {sha} is not on {self.branch}: {self.remote}/{self.branch} does not "
                "contain it (not merged, or the branch was force-pushed)")
        full = done.stdout.strip()
        on_branch = self.git.run("merge-base", "--is-ancestor", full, self.tracking,
                                 check=False)
        if on_branch.returncode != 0:
            raise CommitNotOnBranchError(
                f"commit {full[:12]} is not on {self.branch} (was it merged? was the branch "
                "force-pushed?); refused")
        return full

    def sync(self, sha: str | None = None) -> SyncResult:
        """Fetch, check, then move the checkout to ``sha`` (or the branch head)."""
        self.ensure_clean()
        self.fetch()
        target = self.resolve(sha)
        if self.head() == target:
            return SyncResult(target, moved=False)
        self.git.run("-c", "advice.detachedHead=false", "checkout", "--quiet", "--detach",
                     target)
        return SyncResult(target, moved=True)

    def show(self, sha: str, path: str) -> bytes | None:
        """A file's bytes at ``sha`` (None when the commit has no such file)."""
        done = self.git.run("cat-file", "blob", f"{sha}:{path}", check=False)
        return done.stdout.encode("utf-8", "surrogateescape") if done.returncode == 0 else None

    def is_ancestor(self, older: str, newer: str) -> bool:
        """True when ``older`` is a strict ancestor of ``newer`` (both full commit ids)."""
        if older == newer or not SHA_RE.match(older) or not SHA_RE.match(newer):
            return False
        return self.git.run("merge-base", "--is-ancestor", older, newer,
                            check=False).returncode == 0

    def all_files_at(self, sha: str) -> list[str]:
        return [p for p in self.git.out("ls-tree", "-r", "--name-only", sha).splitlines() if p]

    def tree(self, sha: str) -> CommitTree:
        """The repository's files at ``sha``, read from Git objects."""
        from chatops.planning.uses import CommitTree  # noqa: PLC0415 - only plans pay for it

        return CommitTree(self.show, sha, self.all_files_at(sha))

    def checkout_to(self, sha: str) -> SyncResult:
        """Move to a commit already resolved by ``resolve`` (after a fetch)."""
        self.ensure_clean()
        if self.head() == sha:
            return SyncResult(sha, moved=False)
        self.git.run("-c", "advice.detachedHead=false", "checkout", "--quiet", "--detach", sha)
        return SyncResult(sha, moved=True)

    def changed_files(self, base: str, head: str) -> list[str]:
        for rev in (base, head):
            # A revision, never an option: git must not read "--output=..." from a caller.
            if not REV_RE.match(rev):
                raise GitError(f"{rev!r} is not a commit id or branch name")
        return [line for line in self.git.out("diff", "--name-only", "--no-renames",
                                              f"{base}..{head}").splitlines() if line]


def sync_from(checkout: Path, remote: str, branch: str) -> RepoSync:
    if not (checkout / ".git").exists():
        raise NotACheckoutError(f"{checkout} is not a Git checkout (clone the GitOps "
                                "repository there)")
    return RepoSync(checkout, remote, branch)
