"""The repository as a product people fork: its files, its Makefile's help, its tasks' help, its CI."""

import re
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
from invoke import Collection

import tasks

ROOT = Path(__file__).resolve().parents[2]

# The machinery: every file the tasks need, whatever the job. A new one is added here on purpose,
# never by accident, and nothing else goes into docker_tasks/. The rest is the fork's: its job and
# tests, its requirements in whichever form, its README and CI workflows, and this repository's
# own extras (bench/, .ci/), which a fork may delete; a file of those, while they are there, is
# one listed here.
MACHINERY_FOLDERS = ("docker_tasks/",)
OPTIONAL_FOLDERS = (".ci/", "bench/")
MACHINERY_FILES = {
    ".dockerignore", ".env.example", ".gitignore", "Dockerfile", "Makefile", "pyproject.toml",
    "requirements-dev.txt", "requirements.lock", "system-packages.txt", "build-packages.txt", "tasks.py",
    *(f"docker_tasks/{name}.py" for name in (
        "__init__", "base_image", "batch", "build_cache", "build_failure", "build_secrets",
        "cleanup", "commands", "dependency_source", "envfiles", "errors", "image_archive", "job", "labels",
        "lockfile", "machinery", "platforms", "python_version", "records",
        "registry", "run_options", "sbom", "selection", "settings", "shards", "smoke", "stores", "tables", "tags",
        "tasking",
    )),
    *(f"docker_tasks/tasks/{name}.py" for name in (
        "__init__", "batch", "building", "dependencies", "lifecycle", "release", "shipping", "starter", "swarm",
        "upgrade", "workflow",
    )),
    "docker_tasks/MACHINERY", "docker_tasks/CHANGELOG.md", "docker_tasks/launcher/run_job.py",
    "docker_tasks/launcher/dated-run", "docker_tasks/launcher/venv_layers.py",
    *(f"docker_tasks/seams/{name}.py" for name in ("__init__", "aws", "engine", "git_state", "upstream")),
}
OPTIONAL_FILES = {
    ".ci/run", "bench/run.py", "bench/push.py", "bench/layers.py", "bench/seed.Dockerfile",
    "bench/first-result.sh",
    *(f"bench/results/{name}-{store}.{kind}" for name in ("latest", "layers") for store in ("containerd", "classic")
      for kind in ("json", "md")),
}


def tracked_files() -> set[str]:
    listed = subprocess.run(["git", "ls-files"], cwd=ROOT, capture_output=True, text=True, check=True).stdout
    return set(listed.split())


def test_the_template_holds_its_files_and_its_folders_nothing_else():
    files = tracked_files()
    assert files >= MACHINERY_FILES, "the tasks need these"
    assert {f for f in files if f.startswith(MACHINERY_FOLDERS)} == {f for f in MACHINERY_FILES if "/" in f}
    assert {f for f in files if f.startswith(OPTIONAL_FOLDERS)} <= OPTIONAL_FILES
    assert {"tests/unit/__init__.py", "tests/integration/conftest.py"} <= files


def test_secrets_and_outputs_are_never_tracked():
    assert not {f for f in tracked_files() if f == ".env" or f.startswith(("output/", "data/", ".venv/"))}


def test_make_help_lists_every_target():
    makefile = (ROOT / "Makefile").read_text()
    targets = set(re.findall(r"^\.PHONY: ([a-z-]+) +## ", makefile, re.M))
    declared = set(re.findall(r"^([a-z-]+):", makefile, re.M))
    assert targets == declared  # every target is documented
    shown = subprocess.run(["make", "--no-print-directory", "help"], cwd=ROOT, capture_output=True, text=True,
                           check=True).stdout
    assert set(re.findall(r"^  ([a-z-]+) +\S", shown, re.M)) == targets


@pytest.mark.parametrize("target", ["clean", "build", "bench"])
def test_targets_that_only_drive_docker_install_only_the_tools(target, tmp_path):
    planned = subprocess.run(["make", "--no-print-directory", "-n", target, f"VENV={tmp_path / 'venv'}"], cwd=ROOT,
                             capture_output=True, text=True, check=True).stdout
    installs = [line for line in planned.splitlines() if "pip install" in line]
    assert any("-r requirements-dev.txt" in line for line in installs)
    assert not any("-r requirements.txt" in line for line in installs)


# a module's name: tasks.x, seams.x, launcher.x or x
PACKAGES = {"docker_tasks": "", "tasks": "tasks.", "seams": "seams.", "launcher": "launcher."}
WORLD_OUTSIDE = {"docker", "requests", "urllib3", "git", "boto3", "botocore"}  # the libraries only seams import


def module_name(path: Path) -> str:
    folder = path.parent.name
    return PACKAGES[folder].rstrip(".") if path.stem == "__init__" else PACKAGES[folder] + path.stem


def layering() -> list[tuple[int, str]]:
    """The levels docker_tasks/__init__.py lists, as (level, module) pairs: each backquoted name of a
    numbered item, under `tasks/` or `seams/` when the item starts with that folder."""
    import ast

    listing = ast.get_docstring(ast.parse((ROOT / "docker_tasks" / "__init__.py").read_text()))
    levels = []
    for number, text in re.findall(r"^(\d+)\. (.*?)(?=^\d+\. |\n\n|\Z)", listing, re.M | re.S):
        folder = re.match(r"(tasks|seams)/", text)
        levels += [(int(number), (f"{folder[1]}." if folder else "") + name.replace("/", "."))
                   for name in re.findall(r"`([\w/]+)`", text)]
    return levels


LEVELS = dict((name, level) for level, name in layering())
MODULES = sorted((ROOT / "docker_tasks").rglob("*.py"))


def imported_modules(path: Path) -> tuple[set[str], set[str]]:
    """The modules of docker_tasks (as module_name names them) and the libraries of WORLD_OUTSIDE
    that a module imports, at any depth (lazy imports too)."""
    import ast

    modules, libraries = set(), set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and not node.level:
            names = [node.module or ""]
            if names[0].startswith("docker_tasks"):
                package = names[0].removeprefix("docker_tasks").lstrip(".")
                if package in ("", "tasks", "seams"):  # `from docker_tasks.tasks import workflow`
                    prefix = PACKAGES[package or "docker_tasks"]
                    modules |= {prefix + alias.name for alias in node.names}
                else:
                    modules.add(package)
                continue
        else:
            continue
        modules |= {name.removeprefix("docker_tasks.") for name in names if name.startswith("docker_tasks.")}
        libraries |= {name.split(".")[0] for name in names} & WORLD_OUTSIDE
    return modules, libraries


def test_the_layering_places_every_module_once():
    listed = [name for _, name in layering()]
    assert sorted(listed) == sorted(module_name(p) for p in MODULES if p.stem != "__init__")


@pytest.mark.parametrize("path", MODULES, ids=lambda p: str(p.relative_to(ROOT / "docker_tasks")))
def test_each_module_imports_only_from_the_levels_below_it(path):
    """docker_tasks/__init__.py lists the levels: tasks/ over seams/ over the pure modules. Seams
    import errors alone, and are the only modules that import the libraries which talk to Docker,
    git and AWS. A package's __init__ imports nothing."""
    name = module_name(path)
    modules, libraries = imported_modules(path)
    level = LEVELS.get(name, 0) if path.stem == "__init__" else LEVELS[name]
    assert {m: LEVELS[m] for m in modules if LEVELS[m] >= level} == {}, f"{name} (level {level}) imports upward"
    if name.startswith("seams."):
        assert modules <= {"errors"}, f"a seam imports errors alone, not {modules - {'errors'}}"
    else:
        assert libraries == set(), f"only the seams import {', '.join(sorted(libraries))}"


def task_objects():
    return sorted(Collection.from_module(tasks).tasks.items())


def test_inv_list_shows_a_help_line_for_every_task():
    listing = subprocess.run([sys.executable, "-m", "invoke", "--list"], cwd=ROOT, capture_output=True,
                             text=True, check=True).stdout
    for name, _ in task_objects():
        line = next(line for line in listing.splitlines() if line.split() and line.split()[0] == name)
        assert len(line.split()) > 1, f"`inv --list` shows no help for {name}"


@pytest.mark.parametrize("name, task", task_objects(), ids=[name for name, _ in task_objects()])
def test_every_flag_of_every_task_has_help(name, task):
    assert (task.__doc__ or "").strip(), f"{name} has no docstring"
    undocumented = [argument.name for argument in task.get_arguments() if not argument.help]
    assert undocumented == [], f"inv {name}: flags without help: {undocumented}"


@pytest.mark.parametrize("workflow", sorted((ROOT / ".github" / "workflows").glob("*.y*ml")),
                         ids=lambda path: path.name)
def test_the_fork_ci_workflows_are_valid(workflow):
    checked = subprocess.run([sys.executable, "-m", "check_jsonschema", "--builtin-schema", "vendor.github-workflows",
                              str(workflow)], capture_output=True, text=True)
    assert checked.returncode == 0, checked.stdout + checked.stderr


def test_the_dockerfile_passes_hadolint():
    hadolint = Path(sys.executable).parent / "hadolint"
    linted = subprocess.run([str(hadolint), str(ROOT / "Dockerfile")], capture_output=True, text=True)
    assert linted.returncode == 0, linted.stdout + linted.stderr


DATA_SCIENCE_CODE = """import sys
sys.path.insert(0, "tools")
from helpers import *
import numpy as np, pandas as pd
import os

def fit(X, y, l=0.1, cache={}):
    f = lambda v: v * l
    return [f(x) for x in X]  # """ + "a comment that runs on " * 8 + "\n"


# What pyproject.toml, as the template ships it, forgives the job's code (its per-file-ignores).
JOB_LENIENCY = {"E501", "E401", "E402", "E701", "E702", "E711", "E712", "E731", "E741", "F401", "F403", "F405",
                "W", "I", "B", "UP", "SIM"}


def ruff(path: str, code: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "ruff", "check", "--stdin-filename", path, "-"], cwd=ROOT,
                          input=code, capture_output=True, text=True)


def job_lint_rules() -> dict[str, list[str]]:
    """A file in each place the fork's pyproject.toml lints as its own (its per-file-ignores), with
    the codes it ignores there: `src/**` -> `src/train.py`. A fork names its own places."""
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())
    ignores = pyproject.get("tool", {}).get("ruff", {}).get("lint", {}).get("per-file-ignores", {})
    return {pattern.replace("**/", "").replace("**", "train.py").replace("*", "train"): codes
            for pattern, codes in ignores.items()}


@pytest.mark.parametrize("path", ["docker_tasks/train.py", "tasks.py"])
def test_lint_holds_the_tasks_to_more_than_what_breaks_code(path):
    assert ruff(path, DATA_SCIENCE_CODE).returncode == 1
    broken = ruff(path, "print(undefined_name)\n")
    assert broken.returncode == 1 and "F821" in broken.stdout


@pytest.mark.parametrize("path, ignored", job_lint_rules().items())
def test_lint_holds_the_job_to_what_breaks_code(path, ignored):
    broken = ruff(path, "print(undefined_name)\n")
    assert broken.returncode == 1 and "F821" in broken.stdout
    if set(ignored) >= JOB_LENIENCY:  # where the fork keeps the template's leniency
        checked = ruff(path, DATA_SCIENCE_CODE)
        assert checked.returncode == 0, checked.stdout


def test_make_run_mounts_a_data_folder_and_passes_arguments(tmp_path):
    planned = subprocess.run(["make", "--no-print-directory", "-n", "run", f"VENV={tmp_path / 'venv'}", "DATA=./data",
                              "ARGS=train --data /app/data/train.csv"], cwd=ROOT, capture_output=True, text=True,
                             check=True).stdout.splitlines()
    assert planned[-1].endswith(f'inv run --volume "{ROOT / "data"}:/app/data:ro" -- train --data /app/data/train.csv')
