import hashlib
import re
import subprocess
import sys
from datetime import UTC, datetime

import pytest

from docker_tasks.seams.git_state import GitState, build_time, changed_paths, dirty_digest, read, worktree_files

NOW = datetime(2026, 11, 24, tzinfo=UTC)


def git(cwd, *args):
    subprocess.run(["git", *args], cwd=cwd, check=True, capture_output=True)


@pytest.fixture
def repo(tmp_path):
    git(tmp_path, "init", "-q")
    git(tmp_path, "config", "user.email", "test@example.com")
    git(tmp_path, "config", "user.name", "Test")
    (tmp_path / "a.txt").write_text("one\n")
    return tmp_path


def commit(repo):
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "change")


def test_the_digest_tells_different_changes_apart():
    assert dirty_digest([("a.py", "100644 1111")]) != dirty_digest([("a.py", "100644 2222")])
    assert dirty_digest([("a.py", "100644 1111")]) != dirty_digest([("a.py", "100755 1111")])
    assert dirty_digest([("a.py", "absent")]) != dirty_digest([("b.py", "absent")])
    assert dirty_digest([("a", "x"), ("b", "y")]) == dirty_digest([("b", "y"), ("a", "x")])


def test_every_path_git_status_names_is_read_renames_on_both_sides():
    status = " M src/main.py\0R  new.py\0old.py\0?? data/model.bin\0 D gone.txt\0"
    assert changed_paths(status) == ["data/model.bin", "gone.txt", "new.py", "old.py", "src/main.py"]
    assert changed_paths("") == []


def test_outside_a_repository_there_is_no_sha(tmp_path):
    state = read(tmp_path)
    assert state.sha is None and "not in a git repository" in state.problem


def test_a_repository_without_commits_has_no_sha(repo):
    state = read(repo)
    assert state.sha is None and "no commits" in state.problem


def test_a_clean_repository(repo):
    commit(repo)
    head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=repo, capture_output=True, text=True).stdout.strip()
    state = read(repo)
    assert (state.sha, state.dirty, state.dirty_digest) == (head, False, None)
    assert head.startswith(state.short_sha)


def test_each_set_of_uncommitted_changes_gets_its_own_digest(repo):
    commit(repo)
    (repo / "a.txt").write_text("two\n")
    first = read(repo)
    (repo / "a.txt").write_text("three\n")
    second = read(repo)
    (repo / "a.txt").write_text("one\n")
    (repo / "untracked.py").write_text("print()\n")
    third = read(repo)
    assert first.dirty and second.dirty and third.dirty
    assert len({first.dirty_digest, second.dirty_digest, third.dirty_digest}) == 3


def test_staging_a_change_keeps_its_digest_and_a_new_mode_changes_it(repo):
    commit(repo)
    (repo / "a.txt").write_text("two\n")
    unstaged = read(repo).dirty_digest
    git(repo, "add", "a.txt")
    assert read(repo).dirty_digest == unstaged
    (repo / "a.txt").chmod(0o755)
    assert read(repo).dirty_digest != unstaged


def test_a_big_untracked_file_is_hashed_as_a_stream(repo):
    """A file bigger than the memory the reading process may have."""
    commit(repo)
    with open(repo / "model.bin", "wb") as big:
        big.truncate(300 * 2**20)  # sparse: 300 MiB of zeros, no disk
    script = ("import resource, sys; from pathlib import Path; "
              "resource.setrlimit(resource.RLIMIT_AS, (200 * 2**20, 200 * 2**20)); "
              "from docker_tasks.seams.git_state import read; print(read(Path(sys.argv[1])).dirty_digest)")
    first = subprocess.run([sys.executable, "-c", script, str(repo)], capture_output=True, text=True)
    assert first.returncode == 0, first.stderr
    with open(repo / "model.bin", "r+b") as big:
        big.seek(200 * 2**20)
        big.write(b"changed")
    second = subprocess.run([sys.executable, "-c", script, str(repo)], capture_output=True, text=True)
    assert re.fullmatch(r"[0-9a-f]{8}\n", first.stdout) and first.stdout != second.stdout


def test_a_detached_head_still_has_its_sha(repo):
    commit(repo)
    head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=repo, capture_output=True, text=True).stdout.strip()
    git(repo, "checkout", "-q", "--detach")
    assert read(repo).sha == head


def test_clean_builds_are_dated_by_their_commit():
    committed = datetime(2026, 1, 1, tzinfo=UTC)
    assert build_time(GitState(sha="a", commit_time=committed), NOW) == committed
    assert build_time(GitState(sha="a", dirty=True, commit_time=committed), NOW) == NOW
    assert build_time(GitState(), NOW) == NOW


def test_the_dockerfile_dates_files_as_the_exported_commit_does():
    from pathlib import Path

    from docker_tasks.seams.git_state import FILE_TIME

    dockerfile = (Path(__file__).resolve().parents[2] / "Dockerfile").read_text()
    assert set(re.findall(r"touch -h -d @(\d+)", dockerfile)) == {str(FILE_TIME)}


def test_an_exported_commit_dates_every_file_and_folder_alike(repo, tmp_path_factory):
    from docker_tasks.seams.git_state import FILE_TIME, export_commit

    (repo / "src").mkdir()
    (repo / "src" / "main.py").write_text("print(1)\n")
    commit(repo)
    destination = tmp_path_factory.mktemp("export")
    export_commit(repo, "HEAD", destination)
    exported = [destination, *destination.rglob("*")]
    assert {p.relative_to(destination).as_posix() for p in exported} == {".", "a.txt", "src", "src/main.py"}
    assert {p.stat().st_mtime for p in exported} == {FILE_TIME}


def test_a_file_is_hashed_again_only_when_its_size_time_or_inode_change(tmp_path):
    (tmp_path / "model.bin").write_bytes(b"weights")
    info = (tmp_path / "model.bin").stat()
    identity = [info.st_size, info.st_mtime_ns, info.st_ino]
    later = info.st_mtime + 60
    (state,), keep = worktree_files(tmp_path, ["model.bin"], {}, later)
    digest = hashlib.sha256(b"weights").hexdigest()
    assert state == ("model.bin", f"{info.st_mode:o} {digest}") and keep == {"model.bin": [*identity, digest]}
    (reused,), _ = worktree_files(tmp_path, ["model.bin"], {"model.bin": [*identity, "kept"]}, later)
    assert reused[1].endswith(" kept")  # read from what was known, not from the file
    (moved,), _ = worktree_files(tmp_path, ["model.bin"], {"model.bin": [999, info.st_mtime_ns, info.st_ino, "kept"]},
                                 later)
    assert moved == state
    _, fresh = worktree_files(tmp_path, ["model.bin"], {}, info.st_mtime + 1)
    assert fresh == {}  # changed a moment ago: a change within the clock's resolution could hide
    assert worktree_files(tmp_path, ["gone.txt"], {}, later)[0] == [("gone.txt", "absent")]


def test_the_dry_runs_export_line_writes_what_export_commit_writes(repo, tmp_path_factory):
    """`inv build --reproducible --dry-run` prints a line to paste: it gives the same files, with
    the same dates, as the build's own export, for a project in a folder of its repository."""
    import os

    from docker_tasks.commands import export_commit as export_line
    from docker_tasks.seams.git_state import FILE_TIME, export_commit

    project = repo / "jobs" / "churn"
    (project / "src").mkdir(parents=True)
    (project / "src" / "main.py").write_text("print('hi')\n")
    (repo / "elsewhere.txt").write_text("not the project's\n")
    commit(repo)
    sha = read(project).sha
    ours, pasted = tmp_path_factory.mktemp("ours"), tmp_path_factory.mktemp("pasted") / "new folder"
    export_commit(project, sha, ours)
    subprocess.run(["sh", "-c", export_line(sha, pasted, FILE_TIME)], cwd=project, check=True, env=os.environ)

    def listing(folder):
        return sorted((str(path.relative_to(folder)), path.lstat().st_mtime) for path in [folder, *folder.rglob("*")])

    def modes(folder):
        return sorted((str(path.relative_to(folder)), oct(path.lstat().st_mode)) for path in folder.rglob("*"))

    assert listing(ours) == listing(pasted) and modes(ours) == modes(pasted)
    assert {mtime for _, mtime in listing(pasted)} == {FILE_TIME}
    assert ("src/main.py", FILE_TIME) in listing(pasted) and ("elsewhere.txt", FILE_TIME) not in listing(pasted)
