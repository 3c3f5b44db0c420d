from docker_tasks import cleanup


def test_only_stopped_containers_and_dangling_images_are_planned(tmp_path):
    containers = [{"Id": "r", "State": "running"}, {"Id": "s", "State": "exited"}, {"Id": "c", "State": "created"}]
    images = [{"Id": "a", "RepoTags": ["app:latest"]}, {"Id": "d", "RepoTags": ["<none>:<none>"]},
              {"Id": "e", "RepoTags": None}]
    found = cleanup.plan(containers, images, tmp_path)
    assert [c["Id"] for c in found.containers] == ["s", "c"]
    assert [i["Id"] for i in found.images] == ["d", "e"]


def test_caches_are_found_but_not_inside_the_virtualenv_or_git(tmp_path):
    for folder in ("src/__pycache__", ".pytest_cache", "tests/unit/__pycache__", ".venv/lib/__pycache__",
                   ".git/__pycache__", "src/keep"):
        (tmp_path / folder).mkdir(parents=True)
    assert cleanup.cache_dirs(tmp_path) == [
        tmp_path / ".pytest_cache", tmp_path / "src/__pycache__", tmp_path / "tests/unit/__pycache__",
    ]


def test_an_empty_plan_is_empty(tmp_path):
    assert cleanup.plan([], [], tmp_path).empty
