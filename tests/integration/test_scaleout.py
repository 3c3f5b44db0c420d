"""Sharded runs for real: on the local engine, and as a Swarm job pulling from the loopback registry."""

import signal
import subprocess
import time

import pytest

from tests.integration.conftest import remove_container, remove_project_objects
from tests.integration.test_registry import client_env, login_env  # noqa: F401 (a fixture)

ROWS = 569  # the rows the test job (fixture_job/) scores by default


def data_rows(path) -> int:
    return len(path.read_text().splitlines()) - 1  # below the header
SWARM_RUN = ("swarm-run", "--timeout", "240")  # bounded, so that a stuck shard fails the test


def ok(result):
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return result


@pytest.fixture(scope="module")
def trained(make_project):
    project = make_project()
    ok(project.inv("build"))
    ok(project.inv("run", "--", "train", "--n-estimators", "10"))
    return project


def test_local_shards_run_in_parallel_and_merge(trained):
    result = ok(trained.inv("run", "--shards", "3", "--parallel", "2"))
    assert "running 3 shard(s)" in result.stdout and "2 at once" in result.stdout
    assert all(f"shard {i}/3: exit code 0" in result.stdout for i in (1, 2, 3))
    output = trained.root / "output"
    assert len(list(output.glob("part-*-of-00003.csv"))) == 3
    assert data_rows(output / "predictions-merged.csv") == ROWS


def test_a_failing_shard_fails_the_run_with_its_exit_code(trained, engine):
    result = trained.inv("run", "--shards", "2", "--", "predict", "--input", "/nowhere.csv")
    assert result.returncode == 2
    assert result.stderr.strip().splitlines()[-1].startswith("error: shard(s) 0, 1 of 2 failed (first exit code 2)")
    assert "input file not found" in result.stdout  # the failing shard's last lines
    ours = {"label": [f"dockertasks.project={trained.image_name}", "dockertasks.image"]}
    assert engine.containers.list(all=True, filters=ours) == []  # --rm, as for any foreground run


@pytest.fixture(scope="module")
def swarm(engine):
    """A single-node swarm on loopback; left again at the end if these tests started it."""
    if engine.info()["Swarm"]["LocalNodeState"] == "active":
        yield
        return
    bridge_was_there = bool(engine.networks.list(names=["docker_gwbridge"]))
    subprocess.run(["docker", "swarm", "init", "--advertise-addr", "127.0.0.1"], check=True, capture_output=True)
    yield
    subprocess.run(["docker", "swarm", "leave", "--force"], check=True, capture_output=True)
    if not bridge_was_there:  # made by `swarm init` for this test, and left behind by `swarm leave`
        subprocess.run(["docker", "network", "rm", "docker_gwbridge"], check=True, capture_output=True)


@pytest.fixture
def pushed(make_project, registry, client_env, engine, swarm):  # noqa: F811
    project = make_project()
    env, _, _ = client_env
    ok(project.inv("build"))
    ok(project.inv("login", "--registry", registry.host, env=login_env(registry, client_env)))
    ok(project.inv("push", "--registry", registry.host, env=env))
    reference = f"{registry.host}/{project.image_name}:{project.head(True)}"
    yield project, env, reference
    remove_project_objects(engine, project.image_name)
    volume = f"{project.image_name}-shards"
    deadline = time.monotonic() + 90
    while engine.volumes.list(filters={"name": volume}) and time.monotonic() < deadline:
        # Swarm removes the shards' containers lazily; every container that holds this volume is ours.
        for container in engine.api.containers(all=True, filters={"volume": volume}):
            remove_container(engine, container["Id"])
        subprocess.run(["docker", "volume", "rm", "--force", volume], capture_output=True)
        time.sleep(0.5)
    assert not engine.volumes.list(filters={"name": volume}), f"the volume {volume} was left behind"


def services_of(engine, project):
    return engine.services.list(filters={"label": f"dockertasks.project={project.image_name}"})


@pytest.mark.image_store  # the swarm pulls the pushed image
def test_a_swarm_job_runs_the_shards_merges_and_removes_its_service(pushed, engine):
    project, env, reference = pushed
    ok(project.inv(*SWARM_RUN, "--shards", "1", "--image", reference, "--", "train", "--n-estimators", "10",
                   env=env))
    ran = ok(project.inv(*SWARM_RUN, "--shards", "3", "--parallel", "2", "--image", reference, env=env))
    assert all(f"shard {slot}/3: complete" in ran.stdout for slot in (0, 1, 2))
    assert data_rows(project.root / "output" / "predictions-merged.csv") == ROWS
    assert services_of(engine, project) == []

    failed = project.inv(*SWARM_RUN, "--shards", "2", "--image", reference,
                         "--", "predict", "--input", "/nowhere.csv", env=env)
    assert failed.returncode == 1
    assert "shard(s) 0, 1 of 2 did not complete (failed: task: non-zero exit (2))" in failed.stderr
    assert services_of(engine, project) == []


@pytest.mark.image_store
def test_a_detached_swarm_job_is_reported_and_removed_by_status(pushed, engine):
    project, env, reference = pushed
    started = ok(project.inv(*SWARM_RUN, "--shards", "2", "--detach", "--image", reference,
                             "--", "train", "--n-estimators", "5", env=env))
    assert "inv swarm-status --name" in started.stdout
    deadline = time.monotonic() + 120
    while services_of(engine, project) and time.monotonic() < deadline:
        status = ok(project.inv("swarm-status", env=env))
        time.sleep(1)
    assert services_of(engine, project) == []
    assert "has finished, so its service was removed" in status.stdout


@pytest.mark.image_store  # the swarm pulls the pushed image
def test_sigterm_to_swarm_run_removes_the_service_and_exits_143(pushed, engine):
    project, env, reference = pushed
    running = project.start(*SWARM_RUN, "--shards", "2", "--image", reference, "--", "train", "--n-estimators",
                            "200000", env=env)
    shown, deadline = "", time.monotonic() + 120
    while "created the Swarm job" not in shown and time.monotonic() < deadline:
        shown += running.stdout.readline()
    time.sleep(2)
    running.send_signal(signal.SIGTERM)
    _, stderr = running.communicate(timeout=60)
    assert running.returncode == 143, stderr
    assert "stopped by SIGTERM" in stderr and "Traceback" not in stderr
    assert services_of(engine, project) == []
