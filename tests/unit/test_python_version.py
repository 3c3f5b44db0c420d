"""The job's Python, from .python-version or requires-python, and the slim base image it picks."""

import pytest

from docker_tasks import python_version as python
from docker_tasks.errors import TaskError

PINNED = "ARG BASE_IMAGE=python:3.11-slim@sha256:" + "a" * 64 + "\n"


@pytest.mark.parametrize("text, version", [
    ("3.12\n", "3.12"), ("3.12.4", "3.12"), ("cpython-3.13.1\n", "3.13"), ("# pyenv\n3.10\n", "3.10"),
])
def test_a_python_version_file_names_x_y(text, version):
    assert python.from_version_file(text) == version


@pytest.mark.parametrize("specifier, newest", [
    (">=3.11", "3.13"), (">=3.10,<3.13", "3.12"), ("==3.11.*", "3.11"), ("~=3.10", "3.13"), ("~=3.10.2", "3.10"),
    (">3.11", "3.13"), ("<=3.11", "3.11"), ("!=3.13.*,>=3.9", "3.12"),
])
def test_requires_python_picks_the_newest_version_it_allows(tmp_path, specifier, newest):
    assert python.project_version(tmp_path, {"requires-python": specifier})[0] == newest


def test_the_version_file_wins_and_the_pin_follows_only_its_own_tag(tmp_path):
    (tmp_path / ".python-version").write_text("3.12\n")
    choice = python.choose(tmp_path, {"requires-python": ">=3.10"}, PINNED)
    assert choice.image == "python:3.12-slim" and ".python-version says 3.12" in choice.describe()
    assert "`inv base --update` pins its digest" in choice.describe()
    (tmp_path / ".python-version").write_text("3.11\n")
    assert python.choose(tmp_path, {}, PINNED).image == PINNED.split("=", 1)[1].strip()


def test_a_project_that_names_no_python_keeps_the_dockerfile_default(tmp_path):
    assert python.choose(tmp_path, {}, PINNED) is None


@pytest.mark.parametrize("version_file, project, message", [
    ("3.9\n", {}, "Python 3.9 (from .python-version): the tasks build on the official python:X.Y-slim images of "
                  "3.10 to 3.13"),
    ("latest\n", {}, "names no Python version"),
    (None, {"requires-python": ">=3.14"}, "allows none of Python 3.10, 3.11, 3.12, 3.13"),
    (None, {"requires-python": "3.11"}, "is not a version clause"),
], ids=["too-old", "not-a-version", "none-allowed", "no-operator"])
def test_an_unknown_python_is_one_line(tmp_path, version_file, project, message):
    if version_file:
        (tmp_path / ".python-version").write_text(version_file)
    with pytest.raises(TaskError) as refused:
        python.choose(tmp_path, project, PINNED)
    assert message in str(refused.value) and "\n" not in str(refused.value)
