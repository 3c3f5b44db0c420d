from docker_tasks import cleanup


def image(image_id, created, *tags, build=None):
    return {"Id": image_id, "Created": created, "RepoTags": [f"app:{t}" for t in tags] or ["<none>:<none>"],
            "Labels": {"dockertasks.build-tag": build or (tags[0] if tags else "")}}


IMAGES = [
    image("new", 50, "c5", "latest"),
    image("v2", 40, "c4", "2.0", build="c4"),
    image("b3", 30, "c3"),
    image("b2", 20, "c2"),
    image("b1", 10, "c1"),
    image("dangling", 5),
]
CONTAINERS = [{"Id": "r", "State": "running"}, {"Id": "s", "State": "exited"}, {"Id": "c", "State": "created"}]


def ids(items):
    return [i["Id"] for i in items]


def test_stopped_containers_dangling_and_superseded_images(tmp_path):
    found = cleanup.plan(CONTAINERS, IMAGES, tmp_path, image_name="app", keep=3, every=False)
    assert ids(found.containers) == ["s", "c"]
    # the 3 newest builds (new, v2, b3) stay; v2 would stay anyway, for its version tag
    assert ids(found.images) == ["dangling", "b2", "b1"]


def test_keep_zero_still_keeps_latest_and_versions(tmp_path):
    found = cleanup.plan([], IMAGES, tmp_path, image_name="app", keep=0, every=False)
    assert ids(found.images) == ["dangling", "b3", "b2", "b1"]


def test_every_takes_running_containers_and_every_image(tmp_path):
    found = cleanup.plan(CONTAINERS, IMAGES, tmp_path, image_name="app", keep=3, every=True)
    assert ids(found.containers) == ["r", "s", "c"]
    assert ids(found.images) == ids(IMAGES)


def test_caches_are_found_but_not_inside_the_virtualenv_or_git(tmp_path):
    for folder in ("src/__pycache__", ".pytest_cache", "tests/unit/__pycache__", ".venv/lib/__pycache__",
                   ".git/__pycache__", "src/keep"):
        (tmp_path / folder).mkdir(parents=True)
    assert cleanup.cache_dirs(tmp_path) == [
        tmp_path / ".pytest_cache", tmp_path / "src/__pycache__", tmp_path / "tests/unit/__pycache__",
    ]


def test_an_empty_plan_is_empty(tmp_path):
    assert cleanup.plan([], [], tmp_path, image_name="app", keep=3, every=False).empty


def test_only_clean_all_takes_the_projects_volumes_and_says_what_each_holds(tmp_path):
    volumes = [{"Name": "app-cache", "Labels": {"dockertasks.volume": "model-cache"}, "Size": 1_234_000_000},
               {"Name": "app-shards", "Labels": {"dockertasks.volume": "swarm-shards"}, "Size": -1}]
    assert cleanup.plan([], [], tmp_path, image_name="app", keep=3, every=False, volumes=volumes).volumes == []
    every = cleanup.plan([], [], tmp_path, image_name="app", keep=3, every=True, volumes=volumes)
    assert every.volumes == volumes and not every.empty
    assert [cleanup.describe_volume(v) for v in volumes] == ["volume app-cache (model cache, 1.2GB)",
                                                             "volume app-shards (swarm shards, size unknown)"]
