import json
import subprocess
from datetime import UTC, datetime

import pytest

from docker_tasks import stores
from docker_tasks.errors import TaskError
from docker_tasks.seams import engine


def test_docker_host_means_no_context():
    assert engine.context_name({"DOCKER_HOST": "tcp://example:2375", "DOCKER_CONTEXT": "x"}) is None


def test_docker_context_variable_wins_over_the_config(tmp_path, monkeypatch):
    (tmp_path / "config.json").write_text(json.dumps({"currentContext": "from-config"}))
    monkeypatch.setenv("DOCKER_CONFIG", str(tmp_path))
    assert engine.context_name({"DOCKER_CONTEXT": "from-env"}) == "from-env"
    assert engine.context_name({}) == "from-config"


@pytest.mark.parametrize("config", [None, {}], ids=["no-config", "no-current-context"])
def test_without_a_current_context_it_is_the_default(tmp_path, monkeypatch, config):
    if config is not None:
        (tmp_path / "config.json").write_text(json.dumps(config))
    monkeypatch.setenv("DOCKER_CONFIG", str(tmp_path))
    assert engine.context_name({}) == "default"


def fake_docker_cli(folder, exit_code):
    """A stand-in `docker` command whose `buildx version` answers with `exit_code`."""
    script = folder / "docker"
    script.write_text(f"#!/bin/sh\nexit {exit_code}\n")
    script.chmod(0o755)
    return str(folder)


def test_a_missing_buildx_plugin_says_how_to_install_it(tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", fake_docker_cli(tmp_path, 1))
    with pytest.raises(TaskError, match="buildx plugin .* is missing: install it"):
        engine.require_buildx()


def test_a_missing_docker_command_says_so(tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(TaskError, match="docker command is not installed"):
        engine.require_buildx()


def test_buildx_present(tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", fake_docker_cli(tmp_path, 0))
    engine.require_buildx()


def test_the_engine_and_the_pure_modules_agree_on_when_a_container_has_ended():
    assert engine.ENDED == stores.ENDED


def test_engine_times_keep_microseconds_of_the_nanoseconds():
    assert stores.engine_time("2026-11-24T12:00:07.123456789Z") == datetime(2026, 11, 24, 12, 0, 7, 123456,
                                                                             tzinfo=UTC)
    assert stores.engine_time("2026-11-24T12:00:07Z") == datetime(2026, 11, 24, 12, 0, 7, tzinfo=UTC)


class EngineThatIsStoppedWhileCreating:
    """Just enough of docker-py's client for a stop (Ctrl-C, SIGTERM) that lands as the engine
    creates the container, before the task holds it: what the engine holds, and what was asked."""

    def __init__(self, foreign: dict | None = None):
        import docker.errors

        self.held = dict(foreign or {})  # name: labels
        self.asked: list[tuple[str, str]] = []
        self.not_found = docker.errors.NotFound
        self.api, self.containers = self, self

    def create(self, **kwargs):
        self.held[kwargs["name"]] = kwargs["labels"]
        raise KeyboardInterrupt  # the signal, as create returns

    def inspect_container(self, name):
        if name not in self.held:
            raise self.not_found(f"no such container: {name}")
        return {"Config": {"Labels": self.held[name]}, "State": {"ExitCode": 143}}

    def stop(self, name, timeout):
        self.asked.append(("stop", name))

    def remove_container(self, name, force=False):
        self.asked.append(("remove", name))
        self.held.pop(name)

    remove_image = remove_volume = None  # never asked for here


def plan_of(name: str) -> dict:
    """docker-py's create arguments for a container of the project's, as run_options.create_kwargs makes them."""
    from docker_tasks.run_options import RunPlan, create_kwargs

    return create_kwargs(RunPlan(image="app:latest", name=name, labels={"dockertasks.project": "app"}))


def test_a_stop_while_the_container_is_created_stops_and_removes_it_by_name():
    fake = EngineThatIsStoppedWhileCreating()
    with pytest.raises(KeyboardInterrupt):
        engine.run_and_follow(fake, plan_of("app-1a2b3c"), remove=True)
    assert fake.asked == [("stop", "app-1a2b3c"), ("remove", "app-1a2b3c")] and fake.held == {}


def test_a_stop_while_shards_start_stops_the_one_being_created():
    fake = EngineThatIsStoppedWhileCreating()
    with pytest.raises(KeyboardInterrupt):
        engine.run_many(fake, [plan_of("app-shard0"), plan_of("app-shard1")], at_once=2, report=print, remove=True)
    assert fake.asked == [("stop", "app-shard0"), ("remove", "app-shard0")] and fake.held == {}


def test_a_stop_never_touches_another_container_of_that_name():
    """`inv run --name web` when a container `web` of something else exists: creating fails,
    and a stop meanwhile leaves that container alone."""
    fake = EngineThatIsStoppedWhileCreating(foreign={"web": {"com.example.other": "yes"}})
    fake.create = lambda **kwargs: (_ for _ in ()).throw(KeyboardInterrupt)  # before the engine answers
    with pytest.raises(KeyboardInterrupt):
        engine.run_and_follow(fake, plan_of("web"), remove=True)
    assert fake.asked == [] and fake.held == {"web": {"com.example.other": "yes"}}


@pytest.mark.parametrize("reference, plain_http", [
    ("127.0.0.1:5000/app@sha256:abc", True), ("[::1]:5000/app@sha256:abc", True),
    ("localhost:5000/app@sha256:abc", True), ("registry.example.com/team/app@sha256:abc", False),
    ("123456789012.dkr.ecr.eu-west-1.amazonaws.com/app@sha256:abc", False),
])
def test_a_pushed_manifest_is_read_over_plain_http_from_loopback_alone(monkeypatch, reference, plain_http):
    asked = []

    def docker_cli(*args, timeout=None):
        asked.append(args)
        return subprocess.CompletedProcess(args, 0, stdout='{"SchemaV2Manifest": {}}', stderr="")

    monkeypatch.setattr(engine, "_docker_cli", docker_cli)
    assert engine.registry_manifests(reference) == {"SchemaV2Manifest": {}}
    assert ("--insecure" in asked[0]) is plain_http and asked[0][-1] == reference


def test_a_registry_that_does_not_answer_leaves_the_pushed_image_without_a_tally(monkeypatch):
    def docker_cli(*args, timeout=None):
        raise subprocess.TimeoutExpired(["docker", *args], timeout)

    monkeypatch.setattr(engine, "_docker_cli", docker_cli)
    assert engine.registry_manifests("registry.example.com/app@sha256:abc") is None
