"""How the tasks reach the engine: Docker contexts, a plain `docker build`, and engine-side errors."""

import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from tests.integration.conftest import BASE_IMAGE

REPOSITORY = Path(__file__).resolve().parents[2]


@pytest.fixture
def docker_config(tmp_path):
    """A Docker CLI config folder of the test's own, so that your contexts are never touched."""
    config = tmp_path / "docker-config"
    config.mkdir()
    return config


def create_context(config, name, host):
    subprocess.run(["docker", "context", "create", name, "--docker", f"host={host}"], check=True,
                   capture_output=True, env={"DOCKER_CONFIG": str(config), "PATH": "/usr/bin:/bin:/usr/local/bin"})


def test_the_active_docker_context_is_honoured(built, docker_config):
    create_context(docker_config, "it-good", "unix:///var/run/docker.sock")
    create_context(docker_config, "it-broken", "unix:///nonexistent/docker.sock")
    (docker_config / "config.json").write_text(json.dumps({"currentContext": "it-broken"}))
    broken = built.inv("images", env={"DOCKER_CONFIG": str(docker_config)})
    assert broken.returncode == 1
    assert broken.stderr.startswith("error: cannot reach the Docker engine")
    assert "/nonexistent/docker.sock" in broken.stderr
    assert len(broken.stderr.strip().splitlines()) == 1

    chosen = built.inv("images", env={"DOCKER_CONFIG": str(docker_config), "DOCKER_CONTEXT": "it-good"})
    assert chosen.returncode == 0, chosen.stderr
    assert "latest" in chosen.stdout


def test_docker_host_wins_over_the_context(built, docker_config):
    create_context(docker_config, "it-broken", "unix:///nonexistent/docker.sock")
    (docker_config / "config.json").write_text(json.dumps({"currentContext": "it-broken"}))
    environment = {"DOCKER_CONFIG": str(docker_config), "DOCKER_HOST": "unix:///var/run/docker.sock"}
    result = built.inv("images", env=environment)
    assert result.returncode == 0, result.stderr


def test_an_unknown_context_is_one_line(built, docker_config):
    result = built.inv("images", env={"DOCKER_CONFIG": str(docker_config), "DOCKER_CONTEXT": "no-such-context"})
    assert result.returncode == 1
    assert "no-such-context" in result.stderr and "docker context ls" in result.stderr


def test_gpus_become_a_device_request_and_a_clear_error_without_a_gpu_runtime(built, engine):
    info = engine.info()
    if "nvidia" in (info.get("Runtimes") or {}):
        pytest.skip("this engine has a GPU runtime")
    no_runtime = ("error: the Docker engine has no GPU runtime: install the NVIDIA Container Toolkit and restart "
                  "Docker, or run without --gpus")
    for args in (["--gpus", "all"], ["--shards", "2", "--gpus", "2"]):  # one container, and shards sharing GPUs
        result = built.inv("run", *args)
        assert result.returncode == 1
        assert result.stderr.strip() == no_runtime
    ours = {"label": [f"dockertasks.project={built.image_name}", "dockertasks.image"]}
    assert engine.containers.list(all=True, filters=ours) == []  # none left, not started


def test_a_plain_docker_build_works_without_the_tasks(built, engine):
    tag = f"{built.image_name}-plain:test"
    base_arg = ["--build-arg", f"BASE_IMAGE={BASE_IMAGE}"]
    command = ["docker", "build", "--quiet", "--tag", tag, *base_arg, "."]
    try:
        refused = subprocess.run(command, cwd=built.root, capture_output=True, text=True, timeout=900)
        assert refused.returncode != 0 and "add --build-context launcher=docker_tasks/launcher" in refused.stderr
        command[2:2] = ["--build-context", "launcher=docker_tasks/launcher"]  # the image's entrypoint
        result = subprocess.run(command, cwd=built.root, capture_output=True, text=True, timeout=900)
        assert result.returncode == 0, result.stderr[-3000:]
        output = engine.containers.run(tag, command=["train", "--n-estimators", "5", "--output-dir", "/tmp/out"],
                                       remove=True)
        assert b"train finished" in output
    finally:
        subprocess.run(["docker", "rmi", "--force", tag], capture_output=True)


def test_a_socket_you_may_not_use_says_how_to_get_access():
    """The engine runs but its socket is root's, as for a new Linux user outside the docker group."""
    if os.geteuid() != 0 or shutil.which("setpriv") is None:
        pytest.skip("needs root and setpriv, to ask as another user")
    folder = Path(tempfile.mkdtemp(prefix="dt-sock-", dir="/tmp"))  # short: unix socket paths are limited
    folder.chmod(0o755)
    with socket.socket(socket.AF_UNIX) as listener:
        listener.bind(str(folder / "docker.sock"))
        listener.listen()
        (folder / "docker.sock").chmod(0o660)
        as_nobody = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"]
        environment = {"PATH": os.environ["PATH"], "HOME": str(folder), "DOCKER_HOST": f"unix://{folder}/docker.sock"}
        result = subprocess.run([*as_nobody, sys.executable, "-m", "invoke", "ps"], cwd=REPOSITORY,
                                env=environment, capture_output=True, text=True)
    shutil.rmtree(folder)
    assert result.returncode == 1 and "Traceback" not in result.stdout + result.stderr, result.stderr[-2000:]
    assert result.stderr.strip() == (
        f"error: you may not use the Docker engine at unix://{folder}/docker.sock (permission denied): add "
        "yourself to the docker group with `sudo usermod -aG docker $USER`, then log out and back in; or use "
        "Docker Desktop or rootless Docker")
