"""`inv upgrade` on small real repositories: an upstream with a few machinery files and forks of it.

No engine is needed: git alone. tests/integration/test_fork.py upgrades a fork of the whole project."""

import shutil
import subprocess
from pathlib import Path

import pytest

from docker_tasks import machinery
from docker_tasks.errors import TaskError
from docker_tasks.tasks.upgrade import upgrade

MANIFEST = "docker_tasks/\nDockerfile\nMakefile\nbench/ optional\n"
DOCKERFILE = "FROM base\n# --- the machinery's steps\nRUN one\n\n\n\n# --- your own steps below\n"
UPSTREAM_FILES = {
    "docker_tasks/MACHINERY": MANIFEST,
    "docker_tasks/__init__.py": '__version__ = "1.0.0"\n',
    "docker_tasks/build.py": "def build():\n    return 1\n",
    "docker_tasks/old.py": "GONE = True\n",
    "Dockerfile": DOCKERFILE,
    "Makefile": "test:\n\tpytest\n",
    "bench/run.py": "print('bench')\n",
    "src/main.py": "print('sample')\n",
    "README.md": "# the template\n",
}


def git(cwd: Path, *args: str) -> str:
    return subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True, check=True).stdout


def commit(repo: Path, files: dict[str, str | None], message: str) -> str:
    for path, text in files.items():
        if text is None:
            (repo / path).unlink()
        else:
            (repo / path).parent.mkdir(parents=True, exist_ok=True)
            (repo / path).write_text(text)
    git(repo, "add", "--all")
    git(repo, "commit", "--quiet", "-m", message)
    return git(repo, "rev-parse", "HEAD").strip()


@pytest.fixture(autouse=True)
def identity(monkeypatch):
    for role in ("AUTHOR", "COMMITTER"):
        monkeypatch.setenv(f"GIT_{role}_NAME", "Test")
        monkeypatch.setenv(f"GIT_{role}_EMAIL", "test@example.com")


@pytest.fixture
def upstream(tmp_path) -> Path:
    repo = tmp_path / "upstream"
    repo.mkdir()
    git(repo, "init", "--quiet", "--initial-branch=main")
    commit(repo, UPSTREAM_FILES, "the template")
    return repo


def clone(upstream: Path, tmp_path: Path) -> Path:
    fork = tmp_path / "fork"
    git(tmp_path, "clone", "--quiet", str(upstream), str(fork))
    return fork


def newer_upstream(upstream: Path) -> str:
    """A release that changes a machinery module and the Dockerfile, adds a module and removes one."""
    return commit(upstream, {
        "docker_tasks/__init__.py": '__version__ = "1.1.0"\n',
        "docker_tasks/build.py": "def build():\n    return 2\n",
        "docker_tasks/new.py": "NEW = True\n",
        "docker_tasks/old.py": None,
        "Dockerfile": DOCKERFILE.replace("RUN one\n", "RUN one\nRUN two\n"),
        "src/main.py": "print('a newer sample')\n",
        "README.md": "# the template, newer\n",
    }, "a newer machinery")


def make_it_yours(fork: Path) -> dict[str, bytes]:
    own = {"src/main.py": "print('my job')\n", "README.md": "# my model\n", "tests/test_mine.py": "def test(): pass\n",
           "Dockerfile": DOCKERFILE + "RUN apt-get install my-tool\n"}
    commit(fork, own, "my job")
    return {path: (fork / path).read_bytes() for path in ("src/main.py", "README.md", "tests/test_mine.py")}


def test_an_upgrade_brings_upstreams_changes_merges_the_dockerfile_and_leaves_the_forks_files(upstream, tmp_path,
                                                                                                capsys):
    fork = clone(upstream, tmp_path)
    own = make_it_yours(fork)
    newest = newer_upstream(upstream)
    with pytest.raises(TaskError, match=r"behind .* 5 machinery file\(s\) differ"):
        upgrade(fork, source=str(upstream), ref=None, check=True, commit=True, dry_run=False)

    upgrade(fork, source=str(upstream), ref=None, check=False, commit=True, dry_run=False)
    said = capsys.readouterr().out
    assert "merge  Dockerfile (changed here and upstream)" in said and "remove docker_tasks/old.py" in said
    assert "machinery 1.0.0 -> 1.1.0" in said
    assert (fork / "docker_tasks/build.py").read_text().endswith("return 2\n")
    assert (fork / "docker_tasks/new.py").exists() and not (fork / "docker_tasks/old.py").exists()
    dockerfile = (fork / "Dockerfile").read_text()
    assert "RUN two\n" in dockerfile and "RUN apt-get install my-tool\n" in dockerfile  # both sides
    assert {path: (fork / path).read_bytes() for path in own} == own
    assert git(fork, "status", "--porcelain") == ""
    message = git(fork, "log", "-1", "--format=%B")
    assert f"Upstream-Commit: {newest}" in message and "1.1.0" in message
    assert machinery.parse_record((fork / machinery.RECORD).read_text()).commit == newest

    upgrade(fork, source=None, ref=None, check=True, commit=True, dry_run=False)  # the record says where from
    assert "up to date with" in capsys.readouterr().out


def test_a_dry_run_lists_the_changes_and_writes_nothing(upstream, tmp_path, capsys):
    fork = clone(upstream, tmp_path)
    make_it_yours(fork)
    newer_upstream(upstream)
    before = git(fork, "rev-parse", "HEAD")
    upgrade(fork, source=str(upstream), ref=None, check=False, commit=True, dry_run=True)
    said = capsys.readouterr().out
    assert "would update docker_tasks/build.py" in said and "would merge  Dockerfile" in said
    assert git(fork, "status", "--porcelain") == "" and git(fork, "rev-parse", "HEAD") == before


def test_a_conflict_is_named_in_one_line_and_nothing_is_committed(upstream, tmp_path, capsys):
    fork = clone(upstream, tmp_path)
    commit(fork, {"Makefile": "test:\n\tpytest -x\n"}, "my Makefile")
    commit(upstream, {"Makefile": "test:\n\tpytest -q\n"}, "upstream's Makefile")
    before = git(fork, "rev-parse", "HEAD")
    with pytest.raises(TaskError, match=r"1 file\(s\) with conflicts \(Makefile\): resolve them"):
        upgrade(fork, source=str(upstream), ref=None, check=False, commit=True, dry_run=False)
    assert "CONFLICT Makefile: 1 conflict, marked <<<<<<< in the file" in capsys.readouterr().out
    makefile = (fork / "Makefile").read_text()
    assert "<<<<<<< Makefile (this fork)" in makefile and "pytest -x" in makefile and "pytest -q" in makefile
    assert git(fork, "rev-parse", "HEAD") == before


def test_uncommitted_changes_to_the_machinery_are_never_overwritten(upstream, tmp_path):
    fork = clone(upstream, tmp_path)
    newer_upstream(upstream)
    (fork / "docker_tasks/build.py").write_text("work in progress\n")
    with pytest.raises(TaskError, match="uncommitted changes in machinery files .*docker_tasks/build.py"):
        upgrade(fork, source=str(upstream), ref=None, check=False, commit=True, dry_run=False)
    assert (fork / "docker_tasks/build.py").read_text() == "work in progress\n"
    assert (fork / "docker_tasks/old.py").exists()


def test_a_fork_copied_without_history_is_matched_to_the_commit_it_came_from(upstream, tmp_path, capsys):
    fork = tmp_path / "copied"
    shutil.copytree(upstream, fork, ignore=shutil.ignore_patterns(".git"))
    git(fork, "init", "--quiet")
    shutil.rmtree(fork / "bench")  # an extra this fork does not want
    make_it_yours(fork)
    newer_upstream(upstream)
    commit(upstream, {"bench/run.py": "print('newer bench')\n"}, "a newer bench")
    upgrade(fork, source=str(upstream), ref="main", check=False, commit=True, dry_run=False)
    said = capsys.readouterr().out
    assert "the upstream commit whose machinery this fork's matches" in said
    assert "skip   bench/run.py (this fork removed bench/)" in said and not (fork / "bench").exists()
    assert (fork / "docker_tasks/build.py").read_text().endswith("return 2\n")
    assert "RUN apt-get install my-tool" in (fork / "Dockerfile").read_text()


def test_a_source_that_is_not_the_template_says_so(upstream, tmp_path):
    fork = clone(upstream, tmp_path)
    stranger = tmp_path / "stranger"
    stranger.mkdir()
    git(stranger, "init", "--quiet")
    commit(stranger, {"x.txt": "x\n"}, "x")
    with pytest.raises(TaskError, match="has no docker_tasks/MACHINERY: is it this template's repository"):
        upgrade(fork, source=str(stranger), ref=None, check=False, commit=True, dry_run=False)
    with pytest.raises(TaskError, match="cannot fetch nope from"):
        upgrade(fork, source=str(upstream), ref="nope", check=False, commit=True, dry_run=False)


def test_a_local_source_is_recorded_as_an_absolute_path_from_the_cwd_or_the_project(tmp_path, monkeypatch):
    from docker_tasks.tasks.upgrade import source_given

    (tmp_path / "project").mkdir()
    (tmp_path / "project" / "template").mkdir()
    (tmp_path / "elsewhere" / "template").mkdir(parents=True)
    monkeypatch.chdir(tmp_path / "elsewhere")
    assert source_given("template", tmp_path / "project") == str(tmp_path / "elsewhere" / "template")
    monkeypatch.chdir(tmp_path)
    assert source_given("project/template", tmp_path / "x") == str(tmp_path / "project" / "template")
    assert source_given("template", tmp_path / "project") == str(tmp_path / "project" / "template")
    assert source_given("https://example.com/t.git", tmp_path) == "https://example.com/t.git"
    assert source_given("no-such-folder", tmp_path) == "no-such-folder"
