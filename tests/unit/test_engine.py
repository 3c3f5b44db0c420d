import json
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


def test_engine_times_keep_microseconds_of_the_nanoseconds():
    assert stores.engine_time("2026-11-24T12:00:07.123456789Z") == datetime(2026, 11, 24, 12, 0, 7, 123456,
                                                                             tzinfo=UTC)
    assert stores.engine_time("2026-11-24T12:00:07Z") == datetime(2026, 11, 24, 12, 0, 7, tzinfo=UTC)
