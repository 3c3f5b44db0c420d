import pytest

from docker_tasks import base_image

OLD = "sha256:" + "a" * 64
NEW = "sha256:" + "b" * 64
DOCKERFILE = f"# the base\nARG BASE_IMAGE=python:3.11-slim@{OLD}\n\nFROM ${{BASE_IMAGE}} AS uv\nARG UV_VERSION=1\n"


def test_the_pin_is_read_from_the_arg_line():
    assert base_image.dockerfile_pin(DOCKERFILE) == base_image.Pin("python:3.11-slim", OLD)
    assert base_image.dockerfile_pin("ARG BASE_IMAGE=python:3.12\n") == base_image.Pin("python:3.12", None)
    assert base_image.dockerfile_pin("FROM python:3.11\n") is None


def test_moving_the_pin_changes_that_line_and_nothing_else():
    moved = base_image.with_pin(DOCKERFILE, base_image.Pin("python:3.11-slim", NEW))
    assert moved == DOCKERFILE.replace(OLD, NEW)


def test_only_a_digest_can_be_pinned():
    with pytest.raises(ValueError):
        base_image.with_pin(DOCKERFILE, base_image.Pin("python:3.11-slim", "latest"))


@pytest.mark.parametrize(("reference", "repository"), [
    ("python:3.11-slim", "python"),
    ("127.0.0.1:5000/python:3.11-slim", "127.0.0.1:5000/python"),
    ("127.0.0.1:5000/python", "127.0.0.1:5000/python"),
    ("python", "python"),
], ids=["hub", "registry-port-tag", "registry-port-no-tag", "bare"])
def test_the_repository_is_the_reference_without_its_tag(reference, repository):
    assert base_image.Pin(reference, None).repository == repository
