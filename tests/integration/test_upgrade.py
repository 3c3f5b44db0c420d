"""A fork made its own takes a newer upstream machinery with `inv upgrade`, and still builds and tests."""

import re
import shutil
import subprocess
import time

from tests.integration.conftest import git

SCORER = "import six\n\nprint('scorer', six.__version__)\n"
SCORER_TEST = ("import runpy\n\n\ndef test_the_scorer_runs(capsys):\n"
               "    runpy.run_module('scorer', run_name='__main__')\n"
               "    assert capsys.readouterr().out == 'scorer 1.17.0\\n'\n")
OWN_TARGET = "\n.PHONY: report  ## Print the scorer's version\nreport:\n\t@echo scorer\n"


def ok(result):
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return result


def make_it_a_scorer(fork) -> dict[str, bytes]:
    """The fork's own job, test, requirements, README and a Makefile target; what upgrades must keep."""
    for folder in ("src", "tests/job"):
        shutil.rmtree(fork.root / folder)
    (fork.root / "src" / "scorer").mkdir(parents=True)
    (fork.root / "src" / "scorer" / "__main__.py").write_text(SCORER)
    (fork.root / "tests" / "test_scorer.py").write_text(SCORER_TEST)
    (fork.root / "requirements.txt").write_text("six==1.17.0\n")
    (fork.root / "README.md").write_text("# scorer\n\nScores things.\n")
    pyproject = (fork.root / "pyproject.toml").read_text().replace('default_args = ["train"]\n', "")
    (fork.root / "pyproject.toml").write_text(re.sub(r"^command = .*$", 'command = ["python", "-m", "scorer"]',
                                                     pyproject, flags=re.M))
    with (fork.root / "Makefile").open("a") as makefile:
        makefile.write(OWN_TARGET)
    ok(fork.inv("lock"))
    git(fork.root, "add", "-A")
    git(fork.root, "commit", "-qm", "the scorer")
    own = [*git(fork.root, "ls-files", "src", "tests/test_scorer.py").split(), "requirements.txt", "requirements.lock",
           "README.md", "pyproject.toml"]
    return {path: (fork.root / path).read_bytes() for path in own}


def release_upstream(upstream) -> None:
    """An upstream commit that changes a machinery module and the Dockerfile."""
    dockerfile = (upstream.root / "Dockerfile").read_text()
    assert "\nUSER " in dockerfile
    (upstream.root / "Dockerfile").write_text(dockerfile.replace("\nUSER ", "\nENV MACHINERY_UPGRADED=1\nUSER ", 1))
    init = upstream.root / "docker_tasks" / "__init__.py"
    init.write_text(re.sub(r'__version__ = "[^"]+"', '__version__ = "99.0.0"', init.read_text()))
    changelog = upstream.root / "docker_tasks" / "CHANGELOG.md"
    changelog.write_text(changelog.read_text().replace("\n## ", "\n## 99.0.0 — 2099-01-01\n\n- An ENV.\n\n## ", 1))
    git(upstream.root, "commit", "-qam", "a newer machinery")


def test_a_fork_takes_a_newer_machinery_and_keeps_its_own_files(make_project, engine, tmp_path):
    upstream = make_project(sample=True)
    fork = make_project(with_git=False)
    shutil.rmtree(fork.root)
    git(tmp_path, "clone", "-q", str(upstream.root), str(fork.root))
    for key, value in (("user.email", "fork@example.com"), ("user.name", "Fork")):
        git(fork.root, "config", key, value)
    own = make_it_a_scorer(fork)
    release_upstream(upstream)

    behind = fork.inv("upgrade", "--check", "--from", str(upstream.root))
    assert behind.returncode == 1 and "behind" in behind.stderr and len(behind.stderr.strip().splitlines()) == 1
    planned = ok(fork.inv("upgrade", "--from", str(upstream.root), "--dry-run")).stdout
    assert "would update Dockerfile" in planned and "would update docker_tasks/__init__.py" in planned
    assert git(fork.root, "status", "--porcelain") == ""

    upgraded = ok(fork.inv("upgrade", "--from", str(upstream.root))).stdout
    assert "machinery 1.0.0 -> 99.0.0" in upgraded or "-> 99.0.0" in upgraded
    assert "ENV MACHINERY_UPGRADED=1" in (fork.root / "Dockerfile").read_text()
    assert OWN_TARGET in (fork.root / "Makefile").read_text()  # the fork's edit to a machinery file survives
    assert {path: (fork.root / path).read_bytes() for path in own} == own
    assert git(fork.root, "status", "--porcelain") == ""
    assert git(fork.root, "log", "-1", "--format=%(trailers:key=Upstream-Commit,valueonly)") == upstream.head()
    ok(fork.inv("upgrade", "--check"))  # .upstream says where from

    started = time.monotonic()
    tested = ok(subprocess.run(["make", "test", f"VENV={tmp_path / 'venv'}", "PYTEST_ARGS=-p no:cacheprovider"],
                               cwd=fork.root, capture_output=True, text=True, stdin=subprocess.DEVNULL, timeout=900))
    print(f"make test in the upgraded fork: {time.monotonic() - started:.0f} s")  # the issue asks for under 120
    assert "tests/test_scorer.py ." in tested.stdout and " failed" not in tested.stdout

    ok(fork.inv("build"))
    image = engine.images.get(f"{fork.image_name}:latest")
    assert "MACHINERY_UPGRADED=1" in image.attrs["Config"]["Env"]
    ran = engine.containers.run(image.id, remove=True)
    assert ran.decode() == "scorer 1.17.0\n"
