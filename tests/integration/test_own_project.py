"""A project forked in as it is kept: a package under src/ started with `python -m`, dependencies in
pyproject.toml or in uv.lock, a library compiled from source, parquet data, outputs in a folder of
their own, another Python. Nothing outside the project's own files is edited."""

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.integration.conftest import BASE_IMAGE, git, without_job_contract

VENV = Path(sys.executable).parent.parent  # the tests' own: `make` must not build one per copy

CHURN_MAIN = '''"""Churn: make customer data, or train on it and write the model's metrics."""

import argparse
import json
import os
from pathlib import Path

import numpy as np
import pandas as pd
import psycopg2  # compiled from source in the builder stage; needs libpq5 at run time
from sklearn.linear_model import LogisticRegression

ARTIFACTS = Path(os.environ.get("ARTIFACTS", "/app/artifacts"))


def generate(rows: int, out: Path) -> None:
    rng = np.random.default_rng(7)
    tenure = rng.integers(1, 72, rows)
    charges = rng.normal(70, 20, rows)
    churned = (rng.random(rows) < 1 / (1 + np.exp((tenure - 24) / 8))).astype(int)
    pd.DataFrame({"tenure": tenure, "charges": charges, "churned": churned}).to_parquet(out)
    print(f"wrote {rows} customers to {out}", flush=True)


def train(data: Path) -> None:
    frame = pd.read_parquet(data)
    model = LogisticRegression().fit(frame[["tenure", "charges"]], frame["churned"])
    accuracy = model.score(frame[["tenure", "charges"]], frame["churned"])
    metrics = {"rows": len(frame), "accuracy": accuracy, "psycopg2": psycopg2.__version__.split()[0]}
    (ARTIFACTS / "metrics.json").write_text(json.dumps(metrics))
    print(f"trained on {len(frame)} rows, accuracy {accuracy:.3f}", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(prog="churn")
    commands = parser.add_subparsers(dest="command", required=True)
    made = commands.add_parser("generate")
    made.add_argument("--rows", type=int, default=500)
    trained = commands.add_parser("train")
    trained.add_argument("--data", type=Path, required=True)
    args = parser.parse_args()
    if args.command == "generate":
        generate(args.rows, ARTIFACTS / "customers.parquet")
    else:
        train(args.data)
'''

CHURN_PROJECT = '''[project]
name = "churn"
version = "0.1.0"
requires-python = ">=3.10"
dependencies = ["pandas", "pyarrow", "scikit-learn", "psycopg2==2.9.10"]

'''

CHURN_CONTRACT = '''[tool.dockertasks.job]
command = ["python", "-m", "churn"]
default_args = ["train", "--data", "/app/data/customers.parquet"]
output_dir = "/app/artifacts"
'''


def ok(result):
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return result


def one_line_error(result, *phrases: str) -> str:
    assert result.returncode != 0, result.stdout[-2000:]
    assert "Traceback" not in result.stdout + result.stderr
    line = result.stderr.strip()
    assert "\n" not in line, result.stderr
    for phrase in phrases:
        assert phrase in line, line
    return line


def commit(project, message: str) -> None:
    git(project.root, "add", "-A")
    git(project.root, "commit", "-qm", message)


def as_own_project(project, header: str, contract: str) -> None:
    """The copy with its requirements in pyproject.toml, not requirements.txt, and a contract of its own."""
    for name in ("requirements.txt", "requirements.lock"):
        (project.root / name).unlink()
    pyproject = project.root / "pyproject.toml"
    pyproject.write_text(header + without_job_contract(pyproject.read_text()).rstrip("\n") + "\n\n" + contract)


def run_in_image(engine, project, *command: str) -> str:
    output = engine.containers.run(f"{project.image_name}:latest", entrypoint=command[0], command=list(command[1:]),
                                   remove=True, labels={"dockertasks.project": project.image_name})
    return output.decode().strip()


def build_packages_needed() -> list[str]:
    """What psycopg2's source build needs: gcc and libpq's headers; and Python's own headers where
    the base image's Python is Debian's (the tests' local base), which the official image holds."""
    return ["gcc", "libpq-dev", *(["python3-dev"] if BASE_IMAGE.startswith("local/") else [])]


def test_a_package_job_with_pyproject_dependencies_and_a_source_build(make_project, engine):
    churn = make_project()
    shutil.rmtree(churn.root / "src")
    (churn.root / "src" / "churn").mkdir(parents=True)
    (churn.root / "src" / "churn" / "__init__.py").write_text(CHURN_MAIN)
    (churn.root / "src" / "churn" / "__main__.py").write_text("from churn import main\n\nmain()\n")
    as_own_project(churn, CHURN_PROJECT, CHURN_CONTRACT)
    (churn.root / "system-packages.txt").write_text("libpq5\n")
    ok(churn.inv("lock"))
    lock = (churn.root / "requirements.lock").read_text()
    assert "# pyproject.toml: sha256:" in lock
    assert re.search(r"^psycopg2==2\.9\.10 \\$", lock, re.M)
    commit(churn, "churn, as it is kept")

    failed = churn.inv("build")
    assert failed.returncode != 0
    last_three = "\n".join((failed.stdout + failed.stderr).strip().splitlines()[-3:])
    assert "psycopg2" in last_three and "build-packages.txt" in last_three, last_three
    assert "pg_config" in last_three or "libpq-dev" in last_three, last_three
    assert "Traceback" not in failed.stdout + failed.stderr
    assert (churn.root / ".dockertasks" / "build.log").is_file()  # the whole log, one command away

    (churn.root / "build-packages.txt").write_text("\n".join(build_packages_needed()) + "\n")
    commit(churn, "the packages its source build needs")
    ok(churn.inv("build"))
    assert run_in_image(engine, churn, "sh", "-c", "command -v gcc cc || echo none") == "none"
    assert run_in_image(engine, churn, "sh", "-c", "ls /usr/include/postgresql 2>&1 || true").endswith(
        "No such file or directory")
    assert run_in_image(engine, churn, "python", "-c", "import psycopg2, sklearn; print('ok')") == "ok"

    # The declared command, with arguments of the run's own; the outputs land in output/.
    ok(churn.inv("run", "--", "generate", "--rows", "400"))
    data = churn.root / "data"
    data.mkdir()
    (churn.root / "output" / "customers.parquet").replace(data / "customers.parquet")
    ran = subprocess.run(["make", "run", f"VENV={VENV}", "DATA=./data",
                          "ARGS=train --data /app/data/customers.parquet"],
                         cwd=churn.root, env=churn.environment(), capture_output=True, text=True,
                         stdin=subprocess.DEVNULL, timeout=900)
    assert ran.returncode == 0, ran.stdout[-3000:] + ran.stderr[-3000:]
    assert "trained on 400 rows" in ran.stdout
    metrics = (churn.root / "output" / "metrics.json").read_text()
    assert '"rows": 400' in metrics and '"psycopg2": "2.9.10"' in metrics


UV_PROJECT = '''[project]
name = "scorer"
version = "0.1.0"
requires-python = ">=3.10"
dependencies = ["six==1.17.0"]

'''


def test_a_project_with_uv_lock_installs_that_lock(make_project, engine, tmp_path):
    project = make_project()
    as_own_project(project, UV_PROJECT, (Path(__file__).parent / "fixture_job" / "job-contract.toml").read_text())
    uv = shutil.which("uv") or str(Path(sys.executable).parent / "uv")
    ok(subprocess.run([uv, "lock", "--quiet"], cwd=project.root, capture_output=True, text=True, timeout=300))
    ok(project.inv("lock"))
    lock = (project.root / "requirements.lock").read_text()
    assert "# uv.lock: sha256:" in lock and re.search(r"^six==1\.17\.0 \\$", lock, re.M)
    commit(project, "dependencies in uv.lock")
    ok(project.inv("build"))
    assert run_in_image(engine, project, "python", "-c", "import six; print(six.__version__)") == "1.17.0"
    ok(project.inv("doctor"))

    # `make setup` installs a fork's own requirements, wherever it keeps them.
    venv = tmp_path / "venv"
    ok(subprocess.run(["make", "setup", f"VENV={venv}"], cwd=project.root, capture_output=True, text=True,
                      stdin=subprocess.DEVNULL, timeout=600))
    ok(subprocess.run([venv / "bin" / "python", "-c", "import six, invoke"], capture_output=True, text=True))

    # pyproject.toml changed and uv.lock not: the lock says what to run, in one line.
    pyproject = project.root / "pyproject.toml"
    pyproject.write_text(pyproject.read_text().replace('["six==1.17.0"]', '["six==1.17.0", "python-dotenv"]'))
    one_line_error(project.inv("lock"), "uv lock")
    # uv.lock moved on and requirements.lock not: the build refuses before it starts.
    ok(subprocess.run([uv, "lock", "--quiet"], cwd=project.root, capture_output=True, text=True, timeout=300))
    one_line_error(project.inv("build"), "inv lock")


def test_requirements_kept_twice_are_refused_until_the_contract_says_which(make_project):
    project = make_project(with_git=False)
    pyproject = project.root / "pyproject.toml"
    pyproject.write_text(UV_PROJECT + pyproject.read_text())
    one_line_error(project.inv("lock"), "twice", "dependencies =")
    pyproject.write_text(pyproject.read_text().replace("[tool.dockertasks.job]\n",
                                                       '[tool.dockertasks.job]\ndependencies = "requirements.txt"\n'))
    ok(project.inv("build", "--dry-run"))


def test_the_python_version_file_chooses_the_base(make_project):
    project = make_project(with_git=False)
    (project.root / ".python-version").write_text("3.12\n")
    planned = ok(project.inv("build", "--dry-run", env={"BASE_IMAGE": ""})).stdout
    assert re.search(r"^# base image: python:3\.12-slim\b", planned, re.M), planned
    (project.root / ".python-version").write_text("3.9\n")
    one_line_error(project.inv("build", "--dry-run", env={"BASE_IMAGE": ""}), "3.9", "3.10")


SECOND_PYTHON_BASE = "local/python:3.13-slim"


def test_a_job_on_a_second_python_builds_and_runs_on_it(make_project, engine):
    import docker.errors

    try:
        engine.images.get(SECOND_PYTHON_BASE)
    except docker.errors.ImageNotFound:
        message = f"no {SECOND_PYTHON_BASE} here: DOCKER_UP_PYTHON=3.13 ../shared/ci/docker-up makes it"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    project = make_project()
    (project.root / ".python-version").write_text("3.13\n")
    environment = {"BASE_IMAGE": SECOND_PYTHON_BASE}
    ok(project.inv("lock", env=environment))
    commit(project, "Python 3.13")
    ok(project.inv("build", env=environment))
    version = run_in_image(engine, project, "python", "-c", "import sys, six; print(sys.version_info[:2])")
    assert version == "(3, 13)"
    ok(project.inv("run", env=environment))


def test_a_fork_without_the_sample_or_this_repositorys_extras_passes_make_test(make_project, tmp_path):
    """The machinery's checks hold in a fork that kept none of the sample: no src/main.py, no
    requirements.txt, no tests/job/, bench/, .ci/ or workflow; its own test runs with them."""
    fork = make_project(with_git=False)
    for folder in ("src", "tests/job", "bench", ".ci", ".github"):
        shutil.rmtree(fork.root / folder, ignore_errors=True)
    (fork.root / "src" / "scorer").mkdir(parents=True)
    (fork.root / "src" / "scorer" / "__main__.py").write_text("import six\n\nprint(six.__version__)\n")
    (fork.root / "tests" / "test_scorer.py").write_text(
        "import runpy\n\n\ndef test_the_scorer_runs(capsys):\n"
        "    runpy.run_module('scorer', run_name='__main__')\n    assert capsys.readouterr().out == '1.17.0\\n'\n")
    as_own_project(fork, UV_PROJECT, CHURN_CONTRACT.replace("churn", "scorer"))
    ok(fork.inv("lock"))
    git(fork.root, "init", "-q")
    git(fork.root, "add", "-A")
    tested = ok(subprocess.run(["make", "test", f"VENV={tmp_path / 'venv'}", "PYTEST_ARGS=-p no:cacheprovider"],
                               cwd=fork.root, capture_output=True, text=True, stdin=subprocess.DEVNULL, timeout=900))
    assert "tests/test_scorer.py ." in tested.stdout and " failed" not in tested.stdout
