import dataclasses

import pytest

from docker_tasks import settings
from docker_tasks.job import Job
from docker_tasks.run_options import Hardening, RunPlan
from docker_tasks.tasks import swarm, workflow


@pytest.fixture
def project(tmp_path):
    """A project whose job shards."""
    (tmp_path / ".env").write_text("IMAGE_NAME=app-name\n")
    return dataclasses.replace(settings.load({}, tmp_path), job=Job(shard_command=("score",)))


def test_the_swarm_service_is_a_replicated_job_with_a_shared_volume(project):
    spec = workflow.job_spec(project, image="reg:5000/app-name:abc", command=["predict"], env_files=[],
                             environ={})
    spec = dataclasses.replace(spec, environment={"A": "1"})
    kwargs = swarm.service_kwargs(spec, name="app-name-shards-1", shards_count=4, at_once=2,
                                     volume="app-name-shards")
    assert kwargs["mode"] == {"ReplicatedJob": {"MaxConcurrent": 2, "TotalCompletions": 4}}
    assert kwargs["env"] == ["HF_HOME=/cache/huggingface", "TORCH_HOME=/cache/torch", "XDG_CACHE_HOME=/cache", "A=1",
                             "SHARD_COUNT=4", "SWARM_TASK_SLOT={{.Task.Slot}}"]
    assert kwargs["restart_policy"]["Condition"] == "none"
    line = " ".join(swarm.service_command(kwargs))
    assert "--replicas 4 --max-concurrent 2" in line and "A=***" in line
    assert "--mount type=volume,source=app-name-shards,target=/app/output" in line
    assert "--mount type=volume,source=app-name-cache,target=/cache" in line  # the model cache, as `inv run` has
    assert "--env XDG_CACHE_HOME=/cache" in line
    alone = swarm.service_kwargs(spec, name="s", shards_count=1, at_once=1, volume="v", model_cache=False)
    assert [m["Target"] for m in alone["mounts"]] == ["/app/output", "/tmp"]
    assert "XDG_CACHE_HOME=/cache" not in alone["env"]


def test_the_swarm_service_has_the_defences_of_a_local_run(project):
    spec = RunPlan(image="i", name="app-name", labels={}, command=["predict"])
    kwargs = swarm.service_kwargs(spec, name="s", shards_count=1, at_once=1, volume="v")
    assert kwargs["read_only"] is True and kwargs["cap_drop"] == ["ALL"]
    assert {"Target": "/tmp", "Type": "tmpfs", "TmpfsOptions": {"SizeBytes": 512 << 20}}.items() <= \
        kwargs["mounts"][-1].items()
    line = " ".join(swarm.service_command(kwargs))
    assert "--init --read-only --cap-drop ALL" in line
    assert f"--mount type=tmpfs,target=/tmp,tmpfs-size={512 << 20}" in line
    bare = swarm.service_kwargs(dataclasses.replace(spec, hardening=Hardening(False, False, False)), name="s",
                                   shards_count=1, at_once=1, volume="v")
    assert not bare["read_only"] and not bare["cap_drop"] and len(bare["mounts"]) == 2  # output and model cache
