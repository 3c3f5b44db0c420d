"""The line between the fork's files and the machinery, and what an upgrade does to each file."""

from pathlib import Path

import pytest

from docker_tasks import machinery
from docker_tasks.errors import TaskError
from docker_tasks.machinery import KEPT, MERGE, REMOVE, SKIPPED, TAKE, Entry, Step

ROOT = Path(__file__).resolve().parents[2]
ENTRIES = [Entry("docker_tasks/"), Entry("Dockerfile"), Entry("bench/", optional=True)]
OLD, NEW, MINE = ("100644", "a" * 40), ("100644", "b" * 40), ("100644", "c" * 40)


def test_the_manifest_reads_paths_and_optional_extras():
    entries = machinery.parse_manifest("# comment\ndocker_tasks/\n\nbench/ optional  # extra\nDockerfile\n")
    assert entries == [Entry("docker_tasks/"), Entry("bench/", optional=True), Entry("Dockerfile")]
    assert machinery.entry_for(entries, "docker_tasks/tasks/x.py") == Entry("docker_tasks/")
    assert machinery.entry_for(entries, "Dockerfile.dev") is None  # a file entry is that file alone
    assert machinery.entry_for(entries, "src/main.py") is None


@pytest.mark.parametrize("line", ["docker_tasks/ sometimes", "/etc/passwd", "a b c"])
def test_a_bad_manifest_line_is_named(line):
    with pytest.raises(TaskError, match="line 2: expected `PATH` or `PATH optional`"):
        machinery.parse_manifest(f"tasks.py\n{line}\n")


def test_this_repositorys_manifest_covers_the_machinery_and_none_of_the_forks_files():
    entries = machinery.parse_manifest((ROOT / machinery.MANIFEST).read_text())
    for path in ("docker_tasks/seams/engine.py", "tasks.py", "Dockerfile", "Makefile", "tests/unit/test_machinery.py",
                 "requirements-dev.txt", machinery.CHANGELOG):
        assert machinery.entry_for(entries, path), path
    for path in ("src/main.py", "tests/job/test_job.py", "requirements.txt", "requirements.lock", "pyproject.toml",
                 "system-packages.txt", "build-packages.txt", ".env.example", ".dockerignore", "README.md",
                 machinery.RECORD):
        assert machinery.entry_for(entries, path) is None, path
    version = machinery.version((ROOT / machinery.VERSION_FILE).read_text())
    assert version != "unknown" and f"\n## {version} " in (ROOT / machinery.CHANGELOG).read_text()


def test_a_record_round_trips_and_one_without_a_commit_is_none():
    record = machinery.Record("https://example.com/t.git", "main", "f" * 40, "1.2.0")
    assert machinery.parse_record(record.text()) == record
    assert machinery.parse_record("source = x\ncommit = not-a-sha\n") is None


def plan(base, theirs, ours, entries=ENTRIES):
    return machinery.plan(entries, base, theirs, ours)


def test_a_file_the_fork_kept_as_it_was_takes_upstreams_new_version():
    assert plan({"Dockerfile": OLD}, {"Dockerfile": NEW}, {"Dockerfile": OLD}) == [Step("Dockerfile", TAKE, "100644")]


def test_a_file_both_changed_is_merged_and_one_only_the_fork_changed_stays():
    assert plan({"Dockerfile": OLD}, {"Dockerfile": NEW}, {"Dockerfile": MINE}) == [Step("Dockerfile", MERGE, "100644")]
    assert plan({"Dockerfile": OLD}, {"Dockerfile": OLD}, {"Dockerfile": MINE}) == []


def test_new_and_removed_files_follow_upstream_unless_the_fork_changed_them():
    assert plan({}, {"docker_tasks/new.py": NEW}, {}) == [Step("docker_tasks/new.py", TAKE, "100644")]
    assert plan({"docker_tasks/old.py": OLD}, {}, {"docker_tasks/old.py": OLD}) == [Step("docker_tasks/old.py", REMOVE)]
    assert plan({"docker_tasks/old.py": OLD}, {}, {"docker_tasks/old.py": MINE}) == [Step("docker_tasks/old.py", KEPT)]
    # a path no manifest lists was machinery if upstream's older commit held it
    assert plan({"setup.cfg": OLD}, {}, {"setup.cfg": OLD}) == [Step("setup.cfg", REMOVE)]


def test_the_forks_own_files_are_never_in_the_plan():
    assert plan({}, {"src/main.py": NEW, "README.md": NEW}, {"src/main.py": MINE}) == []


def test_an_optional_extra_the_fork_deleted_stays_deleted():
    steps = plan({"bench/run.py": OLD}, {"bench/run.py": NEW, "bench/new.py": NEW}, {})
    assert [step.action for step in steps] == [SKIPPED, SKIPPED]
    assert plan({"bench/run.py": OLD}, {"bench/run.py": NEW}, {"bench/run.py": OLD}) == [Step("bench/run.py", TAKE,
                                                                                               "100644")]


def test_the_summary_names_each_conflict_in_one_line():
    steps = [Step("Dockerfile", MERGE, "100644"), Step("Makefile", MERGE, "100644"), Step("tasks.py", TAKE, "100644")]
    lines = machinery.summary(steps, {"Dockerfile": 2, "Makefile": 0})
    assert lines[0].startswith("CONFLICT Dockerfile: 2 conflicts, marked <<<<<<< in the file")
    assert lines[1:] == ["merge  Makefile (changed here and upstream)", "update tasks.py"]
