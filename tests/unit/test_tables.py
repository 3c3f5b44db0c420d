from datetime import UTC, datetime, timedelta

import pytest

from docker_tasks import stores, tables

NOW = datetime(2026, 11, 24, 12, tzinfo=UTC)


@pytest.mark.parametrize("size, shown", [(0, "0B"), (999, "999B"), (1500, "1.5kB"), (543_100_000, "543.1MB"),
                                         (2_000_000_000_000, "2000.0GB")])
def test_human_size(size, shown):
    assert tables.human_size(size) == shown


@pytest.mark.parametrize("ago, shown", [(timedelta(seconds=5), "5s ago"), (timedelta(minutes=3), "3m ago"),
                                        (timedelta(hours=2, minutes=5), "2h ago"), (timedelta(days=3), "3d ago")])
def test_human_age(ago, shown):
    assert tables.human_age(NOW - ago, NOW) == shown


def test_image_rows_newest_first_with_build_and_version_tags():
    summaries = [
        {"Id": "sha256:" + "1" * 64, "RepoTags": ["app:aaa"], "Size": 1000, "Created": NOW.timestamp() - 7200,
         "Labels": {"dockertasks.git.sha": "a" * 40, "dockertasks.git.dirty": "false",
                    "dockertasks.build-tag": "aaa"}},
        {"Id": "sha256:" + "2" * 64, "RepoTags": ["app:bbb-dirty-1234", "app:latest", "app:2.0", "reg.io/app:bbb"],
         "Size": 2000, "Created": NOW.timestamp() - 60,
         "Labels": {"dockertasks.git.sha": "b" * 40, "dockertasks.git.dirty": "true",
                    "dockertasks.build-tag": "bbb-dirty-1234", "dockertasks.platforms": "linux/amd64,linux/arm64"}},
        {"Id": "sha256:" + "3" * 64, "RepoTags": [], "Size": 10, "Created": NOW.timestamp() - 3 * 86400,
         "Os": "linux", "Architecture": "arm", "Variant": "v7",
         "Labels": {"dockertasks.git.sha": "c" * 40, "dockertasks.build-tag": "ccc"}},
    ]
    assert tables.image_rows(summaries, NOW, "app") == [
        ("bbb-dirty-1234", "latest, 2.0, reg.io/app:bbb", "222222222222", "amd64, arm64", "2.0kB", "-", "1m ago",
         "b" * 12, "yes"),
        ("aaa", "-", "111111111111", "amd64", "1.0kB", "-", "2h ago", "a" * 12, "no"),
        ("<untagged>", "-", "333333333333", "arm/v7", "10B", "-", "3d ago", "c" * 12, "no"),
    ]


def test_the_containerd_store_shows_unpacked_and_stored_sizes():
    summary = {"Id": "sha256:" + "1" * 64, "RepoTags": ["app:aaa"], "Size": 702_109_631,
               "InspectedSize": 168_508_183, "Created": NOW.timestamp(), "Labels": {"dockertasks.build-tag": "aaa"}}
    headers = tables.image_headers("containerd")
    (row,) = tables.image_rows([summary], NOW, "app", "containerd")
    assert dict(zip(headers, row, strict=True))["UNPACKED"] == "533.6MB"
    assert dict(zip(headers, row, strict=True))["STORED"] == "168.5MB"
    assert "STORED" not in tables.image_headers("classic")
    assert len(tables.image_rows([summary], NOW, "app")[0]) == len(tables.image_headers("classic"))


@pytest.mark.parametrize("store", ["classic", "containerd"])
def test_both_stores_show_the_size_the_latest_push_recorded(store):
    image_id = "sha256:" + "1" * 64
    summary = {"Id": image_id, "RepoTags": ["app:aaa"], "Size": 5_000_000, "Created": NOW.timestamp(),
               "Labels": {"dockertasks.build-tag": "aaa"}}
    pushes = [{"image_id": image_id, "pushed_bytes": 1_500_000, "sent_bytes": 1_500_000},
              {"image_id": image_id, "pushed_bytes": 1_600_000, "sent_bytes": 100_000},
              {"image_id": "sha256:" + "2" * 64, "pushed_bytes": 9}]

    def shown(image, records) -> dict:
        (row,) = tables.image_rows([image], NOW, "app", store, tables.pushed_sizes(records))
        return dict(zip(tables.image_headers(store), row, strict=True))

    def pushed(records) -> str:
        return shown(summary, records)["PUSHED"]

    assert pushed(pushes) == "1.6MB"
    # the copy inv push named for the registry: on the containerd store, its id is the pushed digest
    copy = {**summary, "Id": "sha256:" + "3" * 64, "RepoTags": ["reg.io/app:aaa"]}
    row = shown(copy, pushes + [{"image_id": image_id, "digest": copy["Id"], "pushed_bytes": 1_700_000}])
    assert (row["BUILD"], row["VERSIONS"], row["PUSHED"]) == ("-", "reg.io/app:aaa", "1.7MB")
    assert pushed(pushes + [{"image_id": image_id}]) == "?"  # recorded by a machinery that kept no size
    assert pushed(pushes[2:]) == "-"
    assert "PUSHED" in stores.SIZE_NOTE[store] and "UNPACKED" in stores.SIZE_NOTE[store]


def test_container_rows_show_the_tag_and_published_ports():
    summaries = [{
        "Names": ["/app-1"], "Status": "Up 2 minutes", "Image": "sha256:abc", "Created": NOW.timestamp() - 120,
        "Labels": {"dockertasks.image": "app:latest"},
        "Ports": [{"IP": "0.0.0.0", "PrivatePort": 8000, "PublicPort": 8080, "Type": "tcp"},
                  {"IP": "::", "PrivatePort": 8000, "PublicPort": 8080, "Type": "tcp"},
                  {"PrivatePort": 9000, "Type": "tcp"}],
    }]
    assert tables.container_rows(summaries, NOW, "app") == [
        ("app-1", "Up 2 minutes", "latest", "0.0.0.0:8080->8000/tcp, [::]:8080->8000/tcp", "2m ago"),
    ]


def test_render_aligns_columns():
    assert tables.render(("A", "LONGER"), [("xyz", "1")]).splitlines() == ["A    LONGER", "xyz  1"]


def test_pushes_show_their_provenance_and_sbom():
    pushes = [{"image_id": "sha256:" + "1" * 64, "reference": "r.io/app:1.0", "digest": "sha256:" + "d" * 64,
               "pushed_at": "2026-11-27T05:00:00+00:00", "provenance": True, "sbom": "r.io/app:sha256-dd.sbom"},
              {"image_id": "sha256:" + "2" * 64, "reference": "r.io/app:x", "digest": "sha256:e",
               "pushed_at": "2026-11-26T05:00:00+00:00"}]
    assert tables.pushed_lines(pushes, ["sha256:" + "1" * 64]) == [
        f"  111111111111  r.io/app@sha256:{'d' * 64}  (1.0, 2026-11-27T05:00:00+00:00, with provenance)",
        "                SBOM: r.io/app:sha256-dd.sbom",
    ]
