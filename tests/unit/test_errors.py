import docker.errors
import pytest
import requests

from docker_tasks.errors import engine_lost, explain, job_ending, job_hint, shards_lost


class FakeResponse:
    def __init__(self, status_code, reason="error"):
        self.status_code, self.reason = status_code, reason


def api_error(status, explanation, kind=docker.errors.APIError):
    return kind("500 Server Error", response=FakeResponse(status), explanation=explanation)


@pytest.mark.parametrize("exc, expected", [
    (api_error(404, "No such image: app:latest", docker.errors.ImageNotFound), "inv build"),
    (api_error(500, "driver failed: Bind for 0.0.0.0:8080 failed: port is already allocated"), "--port HOST:CONTAINER"),
    (api_error(409, 'Conflict. The container name "/x" is already in use by container "abc"'), "choose another --name"),
    (api_error(500, 'could not select device driver "" with capabilities: [[gpu]]'), "NVIDIA Container Toolkit"),
    (api_error(400, "invalid reference format: repository name must be lowercase"), "names are lowercase"),
    (requests.exceptions.ConnectionError("Connection aborted"), "Start Docker"),
    (docker.errors.DockerException("Error while fetching server API version"), "Start Docker"),
    (docker.errors.DockerException("Error while fetching server API version: ('Connection aborted.', "
                                   "PermissionError(13, 'Permission denied'))"), "usermod -aG docker"),
    (api_error(500, "something else"), "the Docker engine refused: something else"),
], ids=["image-not-found", "port-in-use", "name-taken", "no-gpu-runtime", "bad-reference", "no-engine",
        "no-engine-sdk", "socket-not-yours", "other"])
def test_each_docker_error_becomes_one_line_with_a_next_step(exc, expected):
    message = explain(exc)
    assert expected in message
    assert "\n" not in message and "Traceback" not in message


@pytest.mark.parametrize("code, out_of_memory, expected", [
    (2, False, "exited with code 2; its output is above"),
    (137, True, "ran out of memory and was killed (exit code 137); its output is above. Give Docker more memory"),
    (137, False, "was killed (exit code 137)"),
    (143, False, "was stopped (exit code 143)"),
], ids=["crash", "out-of-memory", "killed", "stopped"])
def test_a_job_ending_says_what_happened_and_what_to_do(code, out_of_memory, expected):
    ending = job_ending(code, out_of_memory)
    assert ending.startswith(expected) and "\n" not in ending


def test_losing_the_engine_points_at_ps_and_logs_for_that_container():
    message = engine_lost("app-name-1a2b3c")
    assert "`inv ps`" in message and "`inv logs --name app-name-1a2b3c`" in message


def test_losing_the_engine_during_shards_names_the_shards_left():
    message = shards_lost(["app-1-shard0", "app-1-shard2"])
    assert message.startswith("lost the Docker engine while 2 shard(s) ran (app-1-shard0, app-1-shard2)")
    assert "`inv ps`" in message and "\n" not in message


def test_a_write_outside_the_output_folder_names_the_folder_to_use():
    printed = "Traceback (most recent call last):\n...\nOSError: [Errno 30] Read-only file system: 'weights/model.h5'\n"
    assert job_hint(printed, "/app/output") == (
        "It wrote 'weights/model.h5' outside its output folder, and the container's root is read-only: write under "
        "/app/output (output/ on this machine), or /tmp for scratch files")
    assert job_hint("ValueError: bad input\n", "/app/output") == ""


def test_a_file_of_the_checkout_that_the_image_lacks_is_named_with_the_line_that_lets_it_in():
    printed = "FileNotFoundError: [Errno 2] No such file or directory: 'configs/params.json'\n"
    assert job_hint(printed, "/app/output", lambda path: path == "configs/params.json") == (
        "It read 'configs/params.json', which is in your checkout but not in the image: let it in with a line "
        "`!configs/` in .dockerignore, and build again")
    assert job_hint(printed, "/app/output", lambda path: False) == ""  # not ours to explain
    absolute = "FileNotFoundError: [Errno 2] No such file or directory: '/data/x.csv'\n"
    assert job_hint(absolute, "/app/output", lambda path: True) == ""
