from datetime import UTC, datetime

import pytest

from docker_tasks.errors import TaskError
from docker_tasks.tags import build_tag, check_image_name, check_tag, split_reference, tags_for_build

NOW = datetime(2026, 11, 24, 17, 5, 9, tzinfo=UTC)
CLEAN = ("aaaaaaaaaaaa", None)  # (short SHA, digest of the uncommitted changes), as git_state.read gives them
DIRTY = ("aaaaaaaaaaaa", "0123abcd")


@pytest.mark.parametrize("tag", ["2.0", "v3", "2.0.1-rc1", "latest", "_x", "A" * 128])
def test_valid_tags_pass(tag):
    assert check_tag(tag) == tag


@pytest.mark.parametrize(
    "tag", ["", ".2", "-rc", "2.0/1", "2 0", "v1+build", "A" * 129, "é"],
    ids=["empty", "leading-dot", "leading-dash", "slash", "space", "plus", "too-long", "non-ascii"],
)
def test_invalid_tags_explain_the_grammar(tag):
    with pytest.raises(TaskError, match="letters, digits, '_', '.' and '-'"):
        check_tag(tag)


@pytest.mark.parametrize("name", [
    "app-name", "team/app-name", "registry.example.com/team/app-name", "localhost:5000/app",
    "123456789012.dkr.ecr.us-east-1.amazonaws.com/app-name", "a__b", "a.b_c--d",
])
def test_valid_image_names(name):
    assert check_image_name(name) == name


@pytest.mark.parametrize("name", ["App-Name", "app-", "-app", "team//app", "", "app name", "bad_host!/app"])
def test_invalid_image_names(name):
    with pytest.raises(TaskError, match="image name"):
        check_image_name(name)


@pytest.mark.parametrize("reference, expected", [
    ("app:1.0", ("app", "1.0")),
    ("host:5000/app:1.0", ("host:5000/app", "1.0")),
    ("host:5000/app", ("host:5000/app", None)),
    ("app@sha256:" + "0" * 64, ("app", None)),
    ("app", ("app", None)),
])
def test_split_reference(reference, expected):
    assert split_reference(reference) == expected


def test_a_clean_tree_is_tagged_with_its_short_sha():
    assert build_tag(*CLEAN, NOW) == "aaaaaaaaaaaa"


def test_a_dirty_tree_never_takes_the_clean_sha_tag():
    assert build_tag(*DIRTY, NOW) == "aaaaaaaaaaaa-dirty-0123abcd"


def test_without_git_the_tag_is_a_dated_fallback():
    assert build_tag(None, None, NOW) == "no-git-20261124170509"


def test_build_tags_add_latest_and_extras_without_duplicates():
    assert tags_for_build("reg.io/app", build_tag(*CLEAN, NOW), ["2.0", "latest"]) == [
        "reg.io/app:aaaaaaaaaaaa", "reg.io/app:latest", "reg.io/app:2.0",
    ]


def test_build_tags_reject_a_bad_extra_tag():
    with pytest.raises(TaskError, match="tag '-x'"):
        tags_for_build("app", "aaaaaaaaaaaa", ["-x"])
