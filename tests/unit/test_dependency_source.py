"""Where a project keeps its requirements: each form, and each way of getting it wrong, in one line."""

import pytest

from docker_tasks import dependency_source as source
from docker_tasks import job
from docker_tasks.errors import TaskError

PROJECT = '''[project]
name = "churn"
version = "0.1.0"
dependencies = ["pandas>=2.2", "psycopg2>=2.9"]

[project.optional-dependencies]
train = ["xgboost>=2.1"]
'''


def project(tmp_path, *, pyproject: str = "", contract: str = "", requirements: str | None = None,
            uv_lock: str | None = None):
    (tmp_path / "pyproject.toml").write_text(pyproject + (f"\n[tool.dockertasks.job]\n{contract}" if contract else ""))
    if requirements is not None:
        (tmp_path / "requirements.txt").write_text(requirements)
    if uv_lock is not None:
        (tmp_path / "uv.lock").write_text(uv_lock)
    return tmp_path


def detected(root):
    return source.detect(root, job.read(root))


def test_requirements_txt_is_read_as_today(tmp_path):
    found = detected(project(tmp_path, requirements="pandas==3.1.1\n"))
    assert found == source.Source("requirements.txt")
    assert found.lock_args == {"LOCK_SOURCE": "requirements.txt", "LOCK_EXTRAS": ""}


def test_pyproject_dependencies_with_the_groups_the_contract_names(tmp_path):
    found = detected(project(tmp_path, pyproject=PROJECT, contract='extras = ["train"]\n'))
    assert (found.kind, found.extras) == ("pyproject.toml", ("train",))
    assert found.label == "pyproject.toml's [project] dependencies with extras train"
    assert found.lock_args == {"LOCK_SOURCE": "pyproject.toml", "LOCK_EXTRAS": "train"}


def test_a_uv_lock_is_the_lock_of_pyproject_dependencies(tmp_path):
    found = detected(project(tmp_path, pyproject=PROJECT, uv_lock="version = 1\n"))
    assert found.kind == "uv.lock" and "uv lock" in found.how_to_change


def test_two_forms_at_once_are_refused_in_one_line(tmp_path):
    with pytest.raises(TaskError) as refused:
        detected(project(tmp_path, pyproject=PROJECT, requirements="pandas\n"))
    message = str(refused.value)
    assert "lists its requirements twice" in message and 'dependencies = "requirements.txt"' in message
    assert "\n" not in message


def test_the_contract_says_which_wins(tmp_path):
    root = project(tmp_path, pyproject=PROJECT, requirements="pandas\n", contract='dependencies = "pyproject.toml"\n')
    found = detected(root)
    assert found.kind == "pyproject.toml" and "as the job contract says" in found.note


@pytest.mark.parametrize("files, message", [
    ({}, "lists no requirements: write requirements.txt"),
    ({"contract": 'dependencies = "uv.lock"\n', "pyproject": PROJECT}, "but this project has no uv.lock"),
    ({"pyproject": PROJECT, "contract": 'extras = ["serve"]\n'}, "names serve, which pyproject.toml's"),
    ({"requirements": "pandas\n", "contract": 'extras = ["train"]\n'}, "requirements are in requirements.txt"),
    ({"pyproject": '[project]\nname = "x"\nversion = "1"\ndynamic = ["dependencies"]\n'}, "dynamic"),
], ids=["none", "declared-missing", "unknown-extra", "extras-without-pyproject", "dynamic"])
def test_a_wrong_form_is_one_line(tmp_path, files, message):
    with pytest.raises(TaskError) as refused:
        detected(project(tmp_path, **files))
    assert message in str(refused.value) and "\n" not in str(refused.value)


def test_the_digest_follows_what_the_lock_is_made_of(tmp_path):
    root = project(tmp_path, pyproject=PROJECT, contract='extras = ["train"]\n')
    found = detected(root)
    first = source.digest(root, found)
    pyproject = root / "pyproject.toml"
    pyproject.write_text(pyproject.read_text().replace('version = "0.1.0"', 'version = "0.2"'))
    assert source.digest(root, found) == first  # the project's own version is not a requirement
    pyproject.write_text(pyproject.read_text().replace("xgboost>=2.1", "xgboost>=3"))
    assert source.digest(root, found) != first  # a group's requirement is
    assert source.digest(root, source.Source("pyproject.toml")) != source.digest(root, found)


def test_a_lock_problem_names_the_form(tmp_path):
    root = project(tmp_path, pyproject=PROJECT, uv_lock="version = 1\n")
    assert "from uv.lock" in source.lock_problem(root)
