import pytest

from docker_tasks import shards
from docker_tasks.errors import TaskError
from docker_tasks.run_options import RunPlan

PLAN = RunPlan(image="app:latest", name="app-1", labels={"k": "v"}, environment={"A": "1"})


def test_each_shard_is_told_its_place_and_runs_the_job_s_shard_command():
    plans = shards.shard_plans(PLAN, 3, ("score", "--fast"))
    assert [p.name for p in plans] == ["app-1-shard0", "app-1-shard1", "app-1-shard2"]
    assert [p.environment for p in plans] == [
        {"A": "1", "SHARD_INDEX": str(i), "SHARD_COUNT": "3"} for i in range(3)
    ]
    assert all(p.command == ["score", "--fast"] and p.labels == {"k": "v"} for p in plans)


def test_a_command_given_after_the_double_dash_wins():
    given = RunPlan(image="app:latest", name="app-1", labels={}, command=["score", "--input", "big.csv"])
    assert shards.shard_plans(given, 2, ("score",))[1].command == ["score", "--input", "big.csv"]


def test_the_merge_runs_after_in_the_foreground():
    merge = shards.merge_plan(PLAN, ("combine",))
    assert (merge.name, merge.command, merge.detach) == ("app-1-merge", ["combine"], False)


@pytest.mark.parametrize("count, parallel, cpus, at_once", [(4, None, 2, 2), (4, 3, 2, 3), (1, None, 8, 1)])
def test_how_many_run_at_once(count, parallel, cpus, at_once):
    assert shards.check_counts(count, parallel, cpus) == at_once


@pytest.mark.parametrize("count, parallel, message", [(0, None, "--shards 0"), (2, 0, "--parallel 0")])
def test_counts_must_be_positive(count, parallel, message):
    with pytest.raises(TaskError, match=message):
        shards.check_counts(count, parallel, 2)


def test_the_combined_status_is_the_first_failure():
    assert shards.combined_status([0, 0, 0]) == 0
    assert shards.combined_status([0, 3, 1]) == 3
