import re
import subprocess
from datetime import UTC, datetime

import pytest

from docker_tasks.seams.git_state import GitState, build_time, dirty_digest, read

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
    assert dirty_digest(b"diff one", []) != dirty_digest(b"diff two", [])
    assert dirty_digest(b"", [("new.py", b"x")]) != dirty_digest(b"", [("new.py", b"y")])
    assert dirty_digest(b"", [("a", b"1"), ("b", b"2")]) == dirty_digest(b"", [("b", b"2"), ("a", b"1")])


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
