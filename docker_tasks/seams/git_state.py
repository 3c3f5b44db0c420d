"""What the repository says about the code being built: commit, dirty or not, and how."""

from __future__ import annotations

import hashlib
import subprocess
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path


@dataclass(frozen=True)
class GitState:
    sha: str | None = None  # None: not a git repository, or no commit yet
    short_sha: str | None = None
    dirty: bool = False
    dirty_digest: str | None = None  # tells two different sets of uncommitted changes apart
    commit_time: datetime | None = None
    describe: str | None = None
    remote_url: str | None = None
    problem: str | None = None  # why there is no SHA, for the warning

    @property
    def revision_label(self) -> str:
        return self.sha or "none"


def dirty_digest(diff: bytes, untracked: Iterable[tuple[str, bytes]]) -> str:
    """A short hash of every uncommitted change: the diff against HEAD and each untracked file."""
    digest = hashlib.sha256(diff)
    for path, content in sorted(untracked):
        digest.update(b"\0untracked\0" + path.encode() + b"\0" + hashlib.sha256(content).digest())
    return digest.hexdigest()[:8]


def _git(cwd: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True)


def read(root: Path) -> GitState:
    """Read the repository that holds `root`. Never raises for a missing repository or commit.

    Git's own commands, a few milliseconds each: every build reads this, and GitPython's import
    alone would cost it more than all of them."""
    try:
        top = _git(root, "rev-parse", "--show-toplevel")
    except FileNotFoundError:
        return GitState(problem="git is not installed")
    if top.returncode != 0:
        return GitState(problem=f"{root} is not in a git repository")
    work_tree = Path(top.stdout.strip())
    head = _git(root, "log", "-1", "--abbrev=12", "--format=%H%n%h%n%ct")
    if head.returncode != 0:
        return GitState(problem="the git repository has no commits yet")
    sha, short_sha, committed = head.stdout.split()
    dirty = bool(_git(work_tree, "status", "--porcelain", "-z", "--untracked-files=all").stdout)
    digest = None
    if dirty:
        diff = subprocess.run(["git", "diff", "HEAD", "--binary"], cwd=work_tree, capture_output=True).stdout
        names = _git(work_tree, "ls-files", "--others", "--exclude-standard", "-z").stdout.split("\0")
        untracked = ((name, (work_tree / name).read_bytes()) for name in names if name and (work_tree / name).is_file())
        digest = dirty_digest(diff, untracked)
    remotes = _git(root, "remote").stdout.split()
    return GitState(
        sha=sha,
        short_sha=short_sha,
        dirty=dirty,
        dirty_digest=digest,
        commit_time=datetime.fromtimestamp(int(committed), UTC),
        describe=_git(root, "describe", "--tags", "--always", "--dirty").stdout.strip() or None,
        remote_url=_git(root, "remote", "get-url", remotes[0]).stdout.strip() or None if remotes else None,
    )


def project_folder(root: Path) -> str:
    """Where `root` is within its repository: `` at the top, `jobs/churn/` below it."""
    return _git(root, "rev-parse", "--show-prefix").stdout.strip()


# The date of every file of a reproducible build, here and in the Dockerfile: 1 January 1980, the
# earliest date a zip file can hold. A constant, so that a layer depends on its contents alone.
FILE_TIME = 315532800


def export_commit(root: Path, sha: str, destination: Path) -> None:
    """Write the files of commit `sha` into `destination`, every file and folder dated FILE_TIME;
    the project's files land in `destination / project_folder(root)`."""
    import os
    import tarfile

    with (subprocess.Popen(["git", "archive", "--format=tar", sha], cwd=root, stdout=subprocess.PIPE,
                           stderr=subprocess.DEVNULL) as archive,
          tarfile.open(fileobj=archive.stdout, mode="r|") as files):
        files.extractall(destination, filter="tar")
    if archive.returncode != 0:
        from docker_tasks.errors import TaskError

        raise TaskError(f"`git archive {sha}` failed, so the commit's files could not be read; is it still there?")
    for folder, names, files in os.walk(destination):
        for name in names + files:
            os.utime(os.path.join(folder, name), (FILE_TIME, FILE_TIME), follow_symlinks=False)
    os.utime(destination, (FILE_TIME, FILE_TIME))


def build_time(git: GitState, now: datetime) -> datetime:
    """The date in a build's OCI `created` label: a clean build's is its commit's, so that the label
    stays the same when the commit is built again."""
    return git.commit_time if git.sha and not git.dirty and git.commit_time else now


def create_tag(root: Path, name: str, sha: str, message: str, force: bool = False) -> None:
    """Create the annotated tag `name` at commit `sha`; an existing one moves only with `force`."""
    import git

    from docker_tasks.errors import TaskError

    try:
        with git.Repo(root, search_parent_directories=True) as repo:
            if name in repo.tags and not force:
                raise TaskError(f"git tag {name} already exists (at {repo.tags[name].commit.hexsha[:12]}); "
                                "add --force to move it")
            repo.create_tag(name, ref=sha, message=message, force=force)
    except (git.InvalidGitRepositoryError, git.NoSuchPathError):
        raise TaskError(f"{root} is not in a git repository, so no git tag can be made") from None
    except (git.BadName, ValueError):
        raise TaskError(f"commit {sha[:12]} is not in this repository, so it cannot be tagged") from None
    except git.GitCommandError as exc:
        raise TaskError(f"git could not create tag {name}: {exc.stderr.strip() or exc}") from None


def is_ignored(root: Path, path: str) -> bool:
    """Whether git ignores `path` in the repository that holds `root` (False outside git)."""
    import git

    try:
        with git.Repo(root, search_parent_directories=True) as repo:
            return bool(repo.ignored(str((root / path).resolve().relative_to(repo.working_tree_dir))))
    except (git.InvalidGitRepositoryError, git.NoSuchPathError, git.GitCommandNotFound):
        return False
