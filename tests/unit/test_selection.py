import pytest

from docker_tasks import selection
from docker_tasks.errors import TaskError
from docker_tasks.settings import parse_keep

OURS = [
    {"Id": "aaa111", "Names": ["/app-1"], "State": "running", "Created": 10},
    {"Id": "bbb222", "Names": ["/app-2"], "State": "exited", "Created": 20},
]
EVERYONE = ["app-1", "app-2", "app-name-lookalike", "postgres"]


def pick(**options):
    return selection.pick_containers(OURS, all_names=EVERYONE, project="app", task="stop", **options)


def test_pick_by_name_or_id_prefix():
    assert pick(name="app-2", every=False) == [OURS[1]]
    assert pick(name="aaa1", every=False) == [OURS[0]]


def test_pick_all():
    assert pick(name=None, every=True) == OURS


@pytest.mark.parametrize("options, message", [
    ({"name": "app-name-lookalike", "every": False}, "was not started by this project's tasks"),
    ({"name": "missing", "every": False}, "no container named missing; `inv ps` lists"),
    ({"name": None, "every": False}, "which container?"),
    ({"name": "app-1", "every": True}, "either --name or --all"),
])
def test_pick_refuses_what_is_not_ours_or_unclear(options, message):
    with pytest.raises(TaskError, match=message):
        pick(**options)


def test_newest_container():
    assert selection.newest(OURS) == OURS[1]
    assert selection.newest([]) is None


@pytest.mark.parametrize("value, name", [("KILL", "SIGKILL"), ("sigterm", "SIGTERM"), ("9", "SIGKILL"),
                                         (" HUP ", "SIGHUP")])
def test_signals_by_name_or_number(value, name):
    assert selection.parse_signal(value) == name


@pytest.mark.parametrize("value", ["NOPE", "999", "", "-9"])
def test_unknown_signals(value):
    with pytest.raises(TaskError, match="is not a signal"):
        selection.parse_signal(value)


def test_version_tags_leave_out_the_build_tag_and_latest():
    image = {"RepoTags": ["app:abc", "app:latest", "app:2.0", "reg.io/app:2.0", "other:1"],
             "Labels": {"dockertasks.build-tag": "abc"}}
    assert selection.repo_tags(image, "app") == ["abc", "latest", "2.0"]
    assert selection.version_tags(image, "app") == ["2.0"]


@pytest.mark.parametrize("version", ["2.0", "v2.0.1", "2024-11-24"])
def test_valid_versions(version):
    assert selection.check_version(version) == version


@pytest.mark.parametrize("version, message", [
    ("latest", "moves with every build"),
    ("2.0/1", "not a valid Docker tag"),
    (".hidden", "not a valid Docker tag"),
    ("", "not a valid Docker tag"),
])
def test_invalid_versions_explain_why(version, message):
    with pytest.raises(TaskError, match=message):
        selection.check_version(version)


@pytest.mark.parametrize("version, git_tag", [("2.0", "v2.0"), ("v2.0", "v2.0")])
def test_git_tag_names(version, git_tag):
    assert selection.git_tag_name(version) == git_tag


@pytest.mark.parametrize("value", ["x", "-1", "1.5", ""])
def test_keep_must_be_a_whole_number(value):
    with pytest.raises(TaskError, match="how many of the newest builds"):
        parse_keep(value)


def test_keep_orders_builds_within_one_second():
    builds = [{"Id": f"i{n}", "RepoTags": [f"app:build{n}"], "Labels": {"dockertasks.build-tag": f"build{n}"},
               "Created": created} for n, created in enumerate([100.1, 100.7, 100.4])]
    assert [i["Id"] for i in selection.superseded(builds, "app", keep=1)] == ["i2", "i0"]


def test_keep_counts_builds_not_their_pushed_copies_or_sboms():
    def image(number, created, *tags):
        return {"Id": f"i{number}", "RepoTags": list(tags), "Created": created,
                "Labels": {"dockertasks.build-tag": f"build{number}"}}
    images = [image(0, 100, "app:build0"), image(1, 200, "app:build1", "app:latest"),
              image(2, 201, "localhost:5000/app:build1"), image(3, 202, "localhost:5000/app:latest"),
              image(4, 203, "localhost:5000/app:sha256-ab12.sbom")]
    assert selection.superseded(images, "app", keep=2) == []
    assert [i["Id"] for i in selection.superseded(images, "app", keep=1)] == ["i0"]


@pytest.mark.parametrize("tags, removed, kept", [
    (["app:abc", "app:latest"], ["app:abc", "app:latest"], []),
    (["app:abc", "reg.io/team/app:abc"], ["app:abc"], ["reg.io/team/app:abc"]),
    (["reg.io/team/app:abc"], [], ["reg.io/team/app:abc"]),
    ([], ["sha256:" + "1" * 64], []),
    (["<none>:<none>"], ["sha256:" + "1" * 64], []),
], ids=["ours", "also-elsewhere", "only-elsewhere", "untagged", "none-none"])
def test_removing_an_image_untags_only_the_project_s_references(tags, removed, kept):
    image = {"Id": "sha256:" + "1" * 64, "RepoTags": tags}
    assert selection.removal_references(image, "app") == removed
    assert selection.foreign_tags(image, "app") == kept
