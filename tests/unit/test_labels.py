from datetime import UTC, datetime

import pytest

from docker_tasks import labels

CREATED = datetime(2026, 11, 24, 12, tzinfo=UTC)


def test_image_labels_carry_the_project_and_the_git_state():
    assert labels.for_image("app-name", sha="f" * 40, dirty=True, build_tag="ffff-dirty-12345678") == {
        "dockertasks.project": "app-name",
        "dockertasks.git.sha": "f" * 40,
        "dockertasks.git.dirty": "true",
        "dockertasks.build-tag": "ffff-dirty-12345678",
    }


def test_without_git_the_revision_label_says_none():
    assert labels.for_image("app", sha=None, dirty=False, build_tag="no-git-1")["dockertasks.git.sha"] == "none"


def test_container_labels_and_the_project_filter():
    assert labels.for_container("app", "app:latest") == {
        "dockertasks.project": "app", "dockertasks.image": "app:latest",
    }
    assert labels.project_filter("app") == {"label": ["dockertasks.project=app"]}
    assert labels.container_filter("app") == {"label": ["dockertasks.project=app", "dockertasks.image"]}


@pytest.mark.parametrize("url, expected", [
    ("https://user:token@github.com/team/repo.git", "https://github.com/team/repo.git"),
    ("https://github.com/team/repo.git", "https://github.com/team/repo.git"),
    ("git@github.com:team/repo.git", "git@github.com:team/repo.git"),
    (None, ""),
])
def test_source_urls_lose_their_credentials(url, expected):
    assert labels.without_credentials(url) == expected


def test_oci_build_args():
    assert labels.oci_build_args("app", sha="a" * 40, describe="v1.0-3-gaaaa", remote_url="https://x:y@host/r.git",
                                 created=CREATED) == {
        "GIT_SHA": "a" * 40,
        "BUILD_DATE": "2026-11-24T12:00:00+00:00",
        "VERSION": "v1.0-3-gaaaa",
        "SOURCE_URL": "https://host/r.git",
        "TITLE": "app",
    }


@pytest.mark.parametrize("image_labels, dirty", [
    ({"dockertasks.git.dirty": "true"}, True), ({"dockertasks.git.dirty": "false"}, False), ({}, False), (None, False),
])
def test_built_dirty(image_labels, dirty):
    assert labels.built_dirty(image_labels) is dirty
