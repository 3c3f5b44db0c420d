import subprocess
import sys
from pathlib import Path

import pytest

from docker_tasks.errors import TaskError
from docker_tasks.tasks import building


def test_the_error_line_of_a_failed_build_is_kept():
    tail = ["#9 ERROR: process \"/bin/sh -c uv pip sync\" did not complete successfully: exit code: 1",
            "------", "ERROR: failed to solve: process \"/bin/sh -c uv pip sync\" did not complete successfully"]
    assert building.build_failure(tail) == (
        ': failed to solve: process "/bin/sh -c uv pip sync" did not complete successfully')
    assert building.build_failure(["all fine"]) == ""


SYNC_FAILED = ['#9 ERROR: process "/bin/sh -c uv pip sync" did not complete successfully: exit code: 1',
               'ERROR: failed to solve: process "/bin/sh -c export A=1 && uv pip sync" did not complete successfully: '
               'exit code: 1']


def test_uvs_cause_line_completes_its_error_line():
    tail = ["#8 0.349 error: No solution found when resolving dependencies",
            "#8 0.349   cause: Because nothing-such was not found in the package registry", *SYNC_FAILED]
    assert building.build_failure(tail) == (
        ": No solution found when resolving dependencies: Because nothing-such was not found in the package registry")


def test_the_failing_steps_own_error_line_wins_over_buildkits():
    tail = ["#9 0.210 error: No solution found when resolving dependencies", *SYNC_FAILED,
            "0.210 error: No solution found when resolving dependencies"]
    assert building.build_failure(tail) == ": No solution found when resolving dependencies"
    assert building.build_failure(SYNC_FAILED) == ": failed to solve: a RUN step failed (exit code: 1)"


@pytest.mark.parametrize("line", [
    "#9 0.210   cause: Hash mismatch for `six==1.16.0`",
    "#9 0.120 error: In `--require-hashes` mode, all requirements must have a hash, but none were provided for: six",
], ids=["mismatch", "missing"])
def test_a_lock_whose_hashes_do_not_match_says_to_run_inv_lock(line):
    found = building.build_failure(["#9 0.210 error: Failed to download `six==1.16.0`", line, *SYNC_FAILED])
    assert found.startswith(": requirements.lock does not match the files the package index serves (")
    assert line.split(" ", 2)[2].strip()[:60] in found and found.endswith("run `inv lock`, and build again")


def test_a_build_arg_carrying_a_dotenv_value_is_refused():
    with pytest.raises(TaskError, match="--build-arg TOKEN: its value comes from .env"):
        building.check_build_args({"TOKEN": "s3cr3t-value"}, {"API_TOKEN": "s3cr3t-value"})
    building.check_build_args({"PIP_INDEX": "https://pypi.org"}, {"API_TOKEN": "s3cr3t-value", "EMPTY": ""})


def test_a_build_imports_only_what_it_needs():
    """Every code change pays for what `inv build` imports at its start: not Docker's, git's or AWS's
    libraries, nor the modules of running, listing or pushing, nor a failed build's diagnosis."""
    shown = "import sys, tasks; from docker_tasks.tasks import building; print(*sorted(sys.modules))"
    loaded = set(subprocess.run([sys.executable, "-c", shown], cwd=Path(__file__).resolve().parents[2],
                                capture_output=True, text=True, check=True).stdout.split())
    assert loaded >= {"docker_tasks.tasks.building", "docker_tasks.seams.engine", "docker_tasks.settings"}
    unneeded = {"docker", "git", "boto3", "botocore", "dotenv", "docker_tasks.tasks.workflow",
                *(f"docker_tasks.{name}" for name in ("build_failure", "records", "registry", "run_options", "tables"))}
    assert loaded & unneeded == set()
