import pytest

from docker_tasks.errors import TaskError
from docker_tasks.tasks import workflow


def test_the_error_line_of_a_failed_build_is_kept():
    tail = ["#9 ERROR: process \"/bin/sh -c uv pip sync\" did not complete successfully: exit code: 1",
            "------", "ERROR: failed to solve: process \"/bin/sh -c uv pip sync\" did not complete successfully"]
    assert workflow.build_failure(tail) == (
        ': failed to solve: process "/bin/sh -c uv pip sync" did not complete successfully')
    assert workflow.build_failure(["all fine"]) == ""


def test_a_build_arg_carrying_a_dotenv_value_is_refused():
    with pytest.raises(TaskError, match="--build-arg TOKEN: its value comes from .env"):
        workflow.check_build_args({"TOKEN": "s3cr3t-value"}, {"API_TOKEN": "s3cr3t-value"})
    workflow.check_build_args({"PIP_INDEX": "https://pypi.org"}, {"API_TOKEN": "s3cr3t-value", "EMPTY": ""})
