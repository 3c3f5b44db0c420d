"""What the repository says about the code being built: commit, dirty or not, and how."""

from __future__ import annotations

import hashlib
import os
import stat
import subprocess
from collections.abc import Iterable, Sequence
from contextlib import suppress
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


def dirty_digest(files: Iterable[tuple[str, str]]) -> str:
    """A short hash of the working tree's uncommitted state: each changed or untracked path with what
    is there now (worktree_files), in any order. Staging makes no difference: a build sees files."""
    digest = hashlib.sha256()
    for path, state in sorted(files):
        digest.update(path.encode() + b"\0" + state.encode() + b"\0")
    return digest.hexdigest()[:8]


def changed_paths(status: str) -> list[str]:
    """Every path that `git status --porcelain -z` names: changed, deleted, untracked, and both
    sides of a rename or copy (whose entry is followed by the path it came from)."""
    entries, paths = iter(status.split("\0")), set()
    for entry in entries:
        if entry:
            paths.add(entry[3:])
            if "R" in entry[:2] or "C" in entry[:2]:
                paths.add(next(entries, ""))
    return sorted(paths - {""})


# Where the digests of changed files are kept between builds, beside the other local records.
HASH_CACHE = Path(".dockertasks") / "file-hashes.json"


def worktree_files(work_tree: Path, paths: Sequence[str], known: dict[str, list],
                   now: float) -> tuple[list[tuple[str, str]], dict[str, list]]:
    """What each path holds now: its mode and the SHA-256 of its contents, the target of a symbolic
    link, or `absent`; and the digests to keep for the next call. A file is hashed as a stream (a
    5 GB checkpoint costs no memory, and 0.7 s a GB here; `git hash-object` took 22 s), and only when
    its size, modification time or inode differ from those `known` lists for it, as git's own index
    decides. A file changed in the last 2 seconds is not kept: a change within the clock's
    resolution would leave its time as it was."""
    states, keep = [], {}
    for path in paths:
        try:
            info = (work_tree / path).lstat()
        except FileNotFoundError:
            states.append((path, "absent"))
            continue
        if stat.S_ISLNK(info.st_mode):
            states.append((path, "link " + os.readlink(work_tree / path)))
        elif stat.S_ISREG(info.st_mode):
            identity = [info.st_size, info.st_mtime_ns, info.st_ino]
            recorded = known.get(path) or []
            digest = recorded[3] if recorded[:3] == identity and len(recorded) == 4 else None
            if digest is None:
                with open(work_tree / path, "rb") as contents:
                    digest = hashlib.file_digest(contents, "sha256").hexdigest()
            if info.st_mtime < now - 2:
                keep[path] = [*identity, digest]
            states.append((path, f"{info.st_mode:o} {digest}"))
        else:  # a submodule's folder: `git status` shows its own changes as the folder's
            states.append((path, "folder"))
    return states, keep


def _hashed_changes(root: Path, work_tree: Path, paths: Sequence[str]) -> str:
    """dirty_digest of `paths`, with the file digests of the last call kept in `root`'s HASH_CACHE."""
    import json
    import time

    cache = root / HASH_CACHE
    try:
        known = json.loads(cache.read_text())
    except (OSError, ValueError):
        known = {}
    states, keep = worktree_files(work_tree, paths, known if isinstance(known, dict) else {}, time.time())
    if keep != known:
        with suppress(OSError):
            cache.parent.mkdir(exist_ok=True)
            cache.write_text(json.dumps(keep))
    return dirty_digest(states)


def _git(cwd: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True)


def _git_side_by_side(cwd: Path, *commands: tuple[str, ...]) -> list[subprocess.CompletedProcess]:
    """Several git commands at once: each takes a few milliseconds, most of them spent starting."""
    started = [(args, subprocess.Popen(["git", *args], cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                       text=True)) for args in commands]
    return [_finished(args, process) for args, process in started]


def _finished(args: tuple[str, ...], process: subprocess.Popen) -> subprocess.CompletedProcess:
    output, errors = process.communicate()
    return subprocess.CompletedProcess(args, process.returncode, output, errors)


def read(root: Path) -> GitState:
    """Read the repository that holds `root`. Never raises for a missing repository or commit.

    Git's own commands, a few milliseconds each and run side by side: every build reads this, and
    GitPython's import alone would cost it more than all of them."""
    try:
        top, head, status, describe, remotes = _git_side_by_side(
            root, ("rev-parse", "--show-toplevel"), ("log", "-1", "--abbrev=12", "--format=%H%n%h%n%ct"),
            ("status", "--porcelain", "-z", "--untracked-files=all"), ("describe", "--tags", "--always", "--dirty"),
            ("remote", "-v"))
    except FileNotFoundError:
        return GitState(problem="git is not installed")
    if top.returncode != 0:
        return GitState(problem=f"{root} is not in a git repository")
    if head.returncode != 0:
        return GitState(problem="the git repository has no commits yet")
    sha, short_sha, committed = head.stdout.split()
    dirty = bool(status.stdout)
    work_tree = Path(top.stdout.strip())
    fetch_urls = [line.split("\t", 1)[1].rsplit(" (", 1)[0] for line in remotes.stdout.splitlines() if "\t" in line]
    return GitState(
        sha=sha,
        short_sha=short_sha,
        dirty=dirty,
        dirty_digest=_hashed_changes(root, work_tree, changed_paths(status.stdout)) if dirty else None,
        commit_time=datetime.fromtimestamp(int(committed), UTC),
        describe=describe.stdout.strip() or None,
        remote_url=fetch_urls[0] if fetch_urls else None,
    )


# The date of every file of a reproducible build, here and in the Dockerfile: 1 January 1980, the
# earliest date a zip file can hold. A constant, so that a layer depends on its contents alone.
FILE_TIME = 315532800


def export_commit(root: Path, sha: str, destination: Path) -> None:
    """Write the project's files of commit `sha` into `destination`, every file and folder dated
    FILE_TIME: the context of a reproducible build, the commit's files and not the checkout's.
    `git archive` in a folder of a repository gives that folder's files alone, at the top.
    `destination` must be new (as tempfile's are): BuildKit updates the context it kept from a
    folder of the same name only where files differ, not the dates of folders."""
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


def file_at(root: Path, sha: str, path: str) -> str | None:
    """The text of `path` (relative to `root`) in commit `sha`; None when the commit has no such file."""
    shown = _git(root, "show", f"{sha}:./{path}")
    return shown.stdout if shown.returncode == 0 else None


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
