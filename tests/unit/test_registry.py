from datetime import UTC, datetime

import pytest

from docker_tasks import registry
from docker_tasks.errors import TaskError


@pytest.mark.parametrize("image_name, configured, expected", [
    ("app-name", "registry.example.com/team", "registry.example.com/team/app-name"),
    ("app-name", "localhost:5000/", "localhost:5000/app-name"),
    ("123456789012.dkr.ecr.us-east-1.amazonaws.com/app-name", None,
     "123456789012.dkr.ecr.us-east-1.amazonaws.com/app-name"),
    ("registry.example.com/team/app", "elsewhere.example.com", "registry.example.com/team/app"),
])
def test_target_repository(image_name, configured, expected):
    assert registry.target_repository(image_name, configured) == expected


@pytest.mark.parametrize("configured, message", [(None, "no registry to push to"),
                                                 ("https://registry.example.com", "leave out the scheme")])
def test_target_repository_errors(configured, message):
    with pytest.raises(TaskError, match=message):
        registry.target_repository("app-name", configured)


def test_login_server():
    assert registry.login_server("registry.example.com/team", "app") == "registry.example.com"
    assert registry.login_server(None, "localhost:5000/app") == "localhost:5000"
    with pytest.raises(TaskError, match="which registry"):
        registry.login_server(None, "app")


def test_ecr_region():
    assert registry.ecr_region("123456789012.dkr.ecr.eu-west-3.amazonaws.com") == "eu-west-3"
    with pytest.raises(TaskError, match="not an Amazon ECR registry"):
        registry.ecr_region("registry.example.com")


def test_the_login_command_never_carries_the_password():
    argv = registry.login_command("registry.example.com", "me")
    assert argv == ["docker", "login", "--username", "me", "--password-stdin", "registry.example.com"]


@pytest.mark.parametrize("message, expected", [
    ("unauthorized: authentication required", "refused the credentials"),
    ("Get \"https://nohost.invalid/v2/\": dial tcp: lookup nohost.invalid: no such host", "unknown registry host"),
    ("dial tcp 127.0.0.1:5999: connect: connection refused", "does not answer"),
    ("denied: requested access to the resource is denied", "does not let you use that name"),
    ("manifest unknown", "has no such image"),
    ("http: server gave HTTP response to HTTPS client", "speaks plain HTTP"),
    ("something\nelse", "r.io: something else"),
], ids=["credentials", "unknown-host", "down", "name-not-allowed", "no-such-tag", "plain-http", "other"])
def test_registry_errors_are_one_line(message, expected):
    explained = registry.explain_registry_error(message, "r.io")
    assert expected in explained and "\n" not in explained


def test_progress_becomes_a_line_per_finished_layer_and_a_digest():
    digest = "sha256:" + "a" * 64
    events = [
        {"status": "The push refers to repository [r.io/app]"},
        {"status": "Preparing", "id": "l1"},
        {"status": "Pushing", "id": "l1", "progressDetail": {"current": 1, "total": 2}},
        {"status": "Pushed", "id": "l1"},
        {"status": "Layer already exists", "id": "l2"},
        {"status": "Mounted from team/base", "id": "l3"},
        {"status": f"latest: digest: {digest} size: 1234"},
        {"aux": {"Tag": "latest", "Digest": digest, "Size": 1234}},
    ]
    *lines, outcome = registry.layer_lines(events)
    assert lines == ["  layer l1: pushed", "  layer l2: already there", "  layer l3: mounted"]
    assert outcome == registry.Outcome(digest=digest)


def test_the_containerd_store_reports_the_digest_only_in_a_status_line():
    digest = "sha256:8c3f8814183980346d786dc09a4e9dada2f82b1705780b4037fbfcaa2cbb4a89"
    events = [  # as Docker 26 with the containerd image store sends them
        {"status": "The push refers to repository [127.0.0.1:5555/probe]"},
        {"status": "Pushing", "progressDetail": {"current": 79428643, "total": 79428643}, "id": "096eace27405"},
        {"status": "Pushed", "progressDetail": {}, "id": "096eace27405"},
        {"status": f"1.0: digest: {digest} size: 406"},
    ]
    *lines, outcome = registry.layer_lines(events)
    assert lines == ["  layer 096eace27405: pushed"]
    assert outcome == registry.Outcome(digest=digest)


@pytest.mark.parametrize("status", [
    "Pushing", "The push refers to repository [r.io/sha256:" + "b" * 64 + "]", "digest: sha256:short size: 1",
])
def test_no_digest_is_read_from_other_lines(status):
    assert list(registry.layer_lines([{"status": status}])) == [registry.Outcome()]


def test_a_pull_reports_its_digest_too():
    digest = "sha256:" + "c" * 64
    *_, outcome = registry.layer_lines([{"status": "Pull complete", "id": "l1"}, {"status": f"Digest: {digest}"},
                                         {"status": "Status: Downloaded newer image for r.io/app@" + digest}])
    assert outcome == registry.Outcome(digest=digest)


def test_an_error_in_the_stream_ends_it():
    events = [{"status": "Pushed", "id": "l1"}, {"errorDetail": {"message": "unauthorized"}, "error": "unauthorized"},
              {"status": "Pushed", "id": "l2"}]
    assert list(registry.layer_lines(events)) == ["  layer l1: pushed", registry.Outcome(error="unauthorized")]


@pytest.mark.parametrize("image, target, refused", [
    ({"Os": "linux", "Architecture": "amd64"}, "linux/amd64", False),
    ({"Os": "linux", "Architecture": "arm64", "Variant": "v8"}, "linux/arm64", False),
    ({"Os": "linux", "Architecture": "arm64", "Variant": "v8"}, "linux/amd64", True),
    ({"Os": "linux", "Architecture": "arm64"}, None, False),
])
def test_platform_mismatch(image, target, refused):
    reason = registry.platform_mismatch(image, target)
    assert bool(reason) == refused
    if refused:
        assert "exec format error" in reason and f"inv build --platform {target}" in reason


def test_pushes_are_recorded(tmp_path):
    when = datetime(2026, 11, 24, tzinfo=UTC)
    registry.record_push(tmp_path, reference="r.io/app:1", digest="sha256:1", image_id="sha256:i", when=when)
    registry.record_push(tmp_path, reference="r.io/app:2", digest="sha256:2", image_id="sha256:i", when=when)
    assert [p["reference"] for p in registry.read_pushes(tmp_path)] == ["r.io/app:1", "r.io/app:2"]
    (tmp_path / registry.PUSH_RECORD).write_text("{broken")
    assert registry.read_pushes(tmp_path) == []
