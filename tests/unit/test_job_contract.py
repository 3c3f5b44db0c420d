import pytest

from docker_tasks import job
from docker_tasks.errors import TaskError

SHARDING_SOURCE = {"src/main.py": 'import os\nindex = int(os.environ["SHARD_INDEX"])\nif cmd == "score": ...\n'}


def test_a_job_that_declares_nothing_writes_to_app_output_and_does_not_shard():
    assert job.from_table({}) == job.Job(output_dir="/app/output")
    assert "does not run in shards" in job.Job().describe()


def test_a_full_declaration():
    declared = job.from_table({"output_dir": "/work/results/", "shard_command": ["score", "--fast"],
                               "merge_command": "combine --all", "parts": "chunk-*.parquet"})
    assert declared == job.Job("/work/results", ("score", "--fast"), ("combine", "--all"), "chunk-*.parquet")
    assert declared.describe() == ("the job writes to /work/results; each shard runs `score --fast`, "
                                   "then `combine --all` once")


@pytest.mark.parametrize("table, message", [
    ({"output": "/x"}, "unknown keys output; it knows name, output_dir"),
    ({"output_dir": "results"}, "output_dir in [tool.dockertasks.job] in pyproject.toml must be an absolute folder"),
    ({"output_dir": "/"}, "must be an absolute folder"),
    ({"shard_command": [1]}, "shard_command in [tool.dockertasks.job] in pyproject.toml must be a list of words"),
    ({"shard_command": ["score"], "merge_command": [""]}, "merge_command in"),
    ({"merge_command": ["merge"]}, "has a merge_command but no shard_command"),
    ({"parts": "out/part-*.csv"}, "parts in [tool.dockertasks.job] in pyproject.toml must be a file pattern"),
], ids=["unknown-key", "relative", "root", "not-words", "empty-word", "merge-alone", "parts-path"])
def test_a_wrong_declaration_is_one_line(table, message):
    with pytest.raises(TaskError, match="^.*$") as raised:
        job.from_table(table)
    assert message in str(raised.value) and "\n" not in str(raised.value)


def test_a_job_declares_its_command_and_its_default_arguments():
    declared = job.from_table({"command": ["python", "-m", "churn"], "default_args": "train --data x.parquet",
                               "extras": ["train"], "dependencies": "pyproject.toml"})
    assert (declared.command, declared.default_args) == (("python", "-m", "churn"), ("train", "--data", "x.parquet"))
    assert (declared.extras, declared.dependencies) == (("train",), "pyproject.toml")
    assert job.from_table({}).command == ("python", "src/main.py")  # the sample's, when none is declared


@pytest.mark.parametrize("table, message", [
    ({"command": []}, "command in [tool.dockertasks.job] in pyproject.toml is empty"),
    ({"command": [3]}, 'e.g. command = ["python", "-m", "churn"]'),
    ({"dependencies": "setup.py"}, "must name the file the image installs from"),
], ids=["empty-command", "not-words", "unknown-file"])
def test_a_wrong_command_or_dependency_file_is_one_line(table, message):
    with pytest.raises(TaskError) as raised:
        job.from_table(table)
    assert message in str(raised.value) and "\n" not in str(raised.value)


def test_read_takes_the_pyproject_of_the_project(tmp_path):
    assert job.read(tmp_path) == job.Job()
    (tmp_path / "pyproject.toml").write_text('[tool.dockertasks.job]\nshard_command = ["score"]\n')
    assert job.read(tmp_path).shard_command == ("score",)
    (tmp_path / "pyproject.toml").write_text("[tool.dockertasks.job\n")
    with pytest.raises(TaskError, match="pyproject.toml is not valid TOML"):
        job.read(tmp_path)


def test_the_sharded_tasks_say_what_the_job_lacks():
    assert "declares no shard_command" in job.sharding_problem(job.Job(), SHARDING_SOURCE)
    unaware = {"src/main.py": "print('the whole job, every time')\n"}
    assert "nothing in src/ reads SHARD_INDEX or SHARD_COUNT" in job.sharding_problem(
        job.Job(shard_command=("score",)), unaware)
    assert job.sharding_problem(job.Job(shard_command=("score",)), SHARDING_SOURCE) is None


def test_require_sharding_refuses_in_one_line(tmp_path):
    (tmp_path / "src").mkdir()
    (tmp_path / "src" / "main.py").write_text(SHARDING_SOURCE["src/main.py"])
    declared = job.Job(shard_command=("score",))
    assert job.require_sharding(declared, tmp_path) is declared
    with pytest.raises(TaskError, match="declares no shard_command"):
        job.require_sharding(job.Job(), tmp_path)


def test_commands_left_over_from_the_sample_are_pointed_out():
    declared = job.Job(shard_command=("score",), merge_command=("merge",))
    assert job.unnamed_commands(declared, SHARDING_SOURCE) == ["merge"]


@pytest.mark.parametrize("command, merged", [(["score"], True), (["score", "--input", "x"], True),
                                             (["train"], False), ([], False)])
def test_shards_are_merged_only_after_the_shard_command(command, merged):
    assert job.Job(shard_command=("score",), merge_command=("merge",)).merges_after(command) is merged
    assert job.Job(shard_command=("score",)).merges_after(command) is False
