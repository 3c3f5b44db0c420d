"""The sample job keeps the job contract it declares in pyproject.toml (yours to replace)."""

from pathlib import Path

from docker_tasks import job

ROOT = Path(__file__).resolve().parents[2]


def test_the_sample_job_keeps_its_own_contract():
    declared = job.read(ROOT)
    assert declared.shard_command == ("predict",) and declared.merge_command == ("merge",)
    assert job.sharding_problem(declared, job.job_sources(ROOT)) is None
    assert job.unnamed_commands(declared, job.job_sources(ROOT)) == []
