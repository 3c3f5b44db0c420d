import docker.errors
import pytest
import requests

from docker_tasks.errors import explain


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
    (api_error(500, "something else"), "the Docker engine refused: something else"),
], ids=["image-not-found", "port-in-use", "name-taken", "no-gpu-runtime", "bad-reference", "no-engine",
        "no-engine-sdk", "other"])
def test_each_docker_error_becomes_one_line_with_a_next_step(exc, expected):
    message = explain(exc)
    assert expected in message
    assert "\n" not in message and "Traceback" not in message
