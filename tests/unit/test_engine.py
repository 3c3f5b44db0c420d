import json

import pytest

from docker_tasks import engine


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
