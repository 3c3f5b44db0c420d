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
    ("authorization failed: no basic auth credentials", "wants a login, and Docker holds none for it; log in with"),
    ("Get \"https://nohost.invalid/v2/\": dial tcp: lookup nohost.invalid: no such host", "unknown registry host"),
    ("dial tcp 127.0.0.1:5999: connect: connection refused", "does not answer"),
    ("denied: requested access to the resource is denied", "does not let you use that name"),
    ("manifest unknown", "has no such image"),
    ("http: server gave HTTP response to HTTPS client", "speaks plain HTTP"),
    ("something\nelse", "r.io: something else"),
], ids=["credentials", "no-login", "unknown-host", "down", "name-not-allowed", "no-such-tag", "plain-http", "other"])
def test_registry_errors_are_one_line(message, expected):
    explained = registry.explain_registry_error(message, "r.io")
    assert expected in explained and "\n" not in explained


def test_pull_progress_becomes_a_line_per_finished_layer_and_a_digest():
    digest = "sha256:" + "a" * 64
    events = [  # as Docker 26 sends them, on either image store
        {"status": "Pulling from app", "id": "1.0"},
        {"status": "Downloading", "id": "l1", "progressDetail": {"current": 1, "total": 2}},
        {"status": "Pull complete", "id": "l1"},
        {"status": "Already exists", "id": "l2"},
        {"status": f"Digest: {digest}"},
        {"status": "Status: Downloaded newer image for r.io/app:1.0"},
    ]
    *lines, outcome = registry.layer_lines(events)
    assert lines == ["  layer l1: pulled", "  layer l2: already there"]
    assert outcome == registry.Outcome(digest=digest, layers={"l1": "pulled", "l2": "already there"})


@pytest.mark.parametrize("status", [
    "Downloading", "Pulling from sha256:" + "b" * 64, "Digest: sha256:short",
    "Status: Downloaded newer image for r.io/app@sha256:" + "b" * 64,
])
def test_no_digest_is_read_from_other_lines(status):
    assert list(registry.layer_lines([{"status": status}])) == [registry.Outcome()]


def test_an_error_in_the_stream_ends_it():
    events = [{"status": "Pull complete", "id": "l1"}, {"errorDetail": {"message": "unauthorized"},
                                                         "error": "unauthorized"},
              {"status": "Pull complete", "id": "l2"}]
    assert list(registry.layer_lines(events)) == ["  layer l1: pulled",
                                                  registry.Outcome(error="unauthorized", layers={"l1": "pulled"})]


def test_push_progress_becomes_a_line_per_finished_layer_and_the_pushed_digest():
    digest = "sha256:" + "c" * 64
    events = [  # as Docker 26 sends them: the containerd store writes no `aux` digest, only this line
        {"status": "The push refers to repository [r.io/app]"},
        {"status": "Preparing", "id": "l1", "progressDetail": {}},
        {"status": "Pushing", "id": "l1", "progressDetail": {"current": 1, "total": 2}},
        {"status": "Pushed", "id": "l1", "progressDetail": {}},
        {"status": "Layer already exists", "id": "l2", "progressDetail": {}},
        {"status": "Mounted from team/other", "id": "l3", "progressDetail": {}},
        {"status": f"1.0: digest: {digest} size: 856"},
        {"aux": {"Tag": "1.0", "Digest": digest, "Size": 856}, "progressDetail": {}},
    ]
    *lines, outcome = registry.layer_lines(events)
    assert lines == ["  layer l1: pushed", "  layer l2: already there", "  layer l3: mounted from team/other"]
    assert outcome == registry.Outcome(digest=digest, layers={"l1": "pushed", "l2": "already there",
                                                              "l3": "mounted from team/other"})


def blob(hex_digit: str) -> str:
    return "sha256:" + hex_digit * 64


def manifest(*layers: tuple[str, int]) -> dict:
    return {"config": {"digest": blob("f"), "size": 900},
            "layers": [{"digest": digest, "size": size} for digest, size in layers]}


def test_a_push_tally_counts_the_compressed_bytes_sent_and_those_the_registry_had():
    """The containerd store names each layer by its blob's digest; a layer held twice counts once."""
    inspected = {"Descriptor": {}, "OCIManifest": manifest((blob("a"), 70_000_000), (blob("b"), 1_000),
                                                           (blob("e"), 32), (blob("e"), 32), (blob("c"), 400_000))}
    fates = {"a" * 12: "already there", "b" * 12: "mounted from team/other", "e" * 12: "already there",
             "c" * 12: "pushed"}
    tally = registry.push_tally(fates, registry.manifests_of(inspected), [])
    assert tally == registry.Tally(sent=400_000, had=70_001_032, sent_layers=1, layers=4)
    assert registry.tally_line(tally) == ("sent 400.0kB (1 of 4 layers); the registry already had 70.0MB, "
                                          "99.4% of the image's 70.4MB compressed")


def test_the_classic_store_names_layers_by_their_uncompressed_digest():
    inspected = {"SchemaV2Manifest": manifest((blob("a"), 5_000), (blob("b"), 7_000))}
    diff_ids = [blob("1"), blob("2")]
    tally = registry.push_tally({"1" * 12: "already there", "2" * 12: "pushed"}, registry.manifests_of(inspected),
                                diff_ids)
    assert (tally.sent, tally.had) == (7_000, 5_000)


def test_an_index_counts_each_platforms_layers_and_a_shared_one_once():
    def platform(os: str) -> dict:
        return {"Descriptor": {"platform": {"os": os, "architecture": "amd64"}}}

    inspected = [{**platform("linux"), "OCIManifest": manifest((blob("a"), 100), (blob("b"), 200))},
                 {**platform("linux"), "OCIManifest": manifest((blob("a"), 100), (blob("c"), 300))},
                 {**platform("unknown"), "OCIManifest": manifest((blob("d"), 5))}]  # the provenance attestation
    tally = registry.push_tally({"c" * 12: "pushed", "d" * 12: "pushed"}, registry.manifests_of(inspected),
                                [blob("1"), blob("2")])
    assert tally == registry.Tally(sent=300, had=300, sent_layers=1, layers=3)


def test_no_manifest_no_tally():
    assert registry.push_tally({"a" * 12: "pushed"}, registry.manifests_of({"Descriptor": {}}), []) is None


def test_a_push_error_is_buildkits_last_error_line():
    tail = ["#6 pushing 127.0.0.1:5999/exp:x with docker",
            '#6 ERROR: Get "http://127.0.0.1:5999/v2/": dial tcp 127.0.0.1:5999: connect: connection refused',
            "------", '> pushing 127.0.0.1:5999/exp:x with docker:', "------",
            'ERROR: failed to solve: Get "http://127.0.0.1:5999/v2/": connect: connection refused']
    assert registry.push_error(tail) == 'failed to solve: Get "http://127.0.0.1:5999/v2/": connect: connection refused'
    explained = registry.explain_registry_error(registry.push_error(tail), "127.0.0.1:5999")
    assert explained.startswith("the registry 127.0.0.1:5999 does not answer")
    assert registry.push_error([]) == "the push failed, and BuildKit gave no reason"


def test_the_config_digest_is_read_from_buildx_metadata_of_one_image_only():
    metadata = {"containerimage.config.digest": "sha256:c", "containerimage.digest": "sha256:m",
                "image.name": "r.io/app:1"}
    assert registry.config_digest(metadata) == "sha256:c"
    assert registry.config_digest({}) is None
    index = {**metadata, "containerimage.config.digest": "sha256:i", "containerimage.digest": "sha256:i",
             "containerimage.descriptor": {"mediaType": "application/vnd.oci.image.index.v1+json"}}
    assert registry.config_digest(index) is None


def test_pushes_are_recorded(tmp_path):
    when = datetime(2026, 11, 24, tzinfo=UTC)
    registry.record_push(tmp_path, reference="r.io/app:1", digest="sha256:1", image_id="sha256:i", when=when)
    registry.record_push(tmp_path, reference="r.io/app:2", digest="sha256:2", image_id="sha256:i", when=when)
    assert [p["reference"] for p in registry.read_pushes(tmp_path)] == ["r.io/app:1", "r.io/app:2"]
    (tmp_path / registry.PUSH_RECORD).write_text("{broken")
    assert registry.read_pushes(tmp_path) == []


def test_only_a_reproducible_build_of_the_clean_checked_out_commit_goes_with_provenance():
    from docker_tasks import labels
    from docker_tasks.seams.git_state import GitState

    head = GitState(sha="a" * 40, dirty=False)
    reproducible = {labels.REPRODUCIBLE: "true", labels.GIT_SHA: "a" * 40}
    assert registry.provenance_blocker(reproducible, head, "containerd") is None
    assert "everyday build" in registry.provenance_blocker({labels.GIT_SHA: "a" * 40}, head, "containerd")
    elsewhere = registry.provenance_blocker({**reproducible, labels.GIT_SHA: "b" * 40}, head, "containerd")
    assert "built from commit bbbbbbbbbbbb" in elsewhere
    assert registry.provenance_blocker(reproducible, GitState(sha="a" * 40, dirty=True), "containerd") is not None
    assert "attaches no attestations" in registry.provenance_blocker(reproducible, head, "classic")


@pytest.mark.parametrize("held, provenance, said", [
    (["linux/amd64"], False, ""),
    (["linux/amd64"], True, ", an index of the image and its provenance"),
    (["linux/amd64", "linux/arm64"], False, ", an index of linux/amd64, linux/arm64"),
    (["linux/amd64", "linux/arm64"], True, ", an index of linux/amd64, linux/arm64 and its provenance"),
])
def test_a_push_says_what_the_digest_names(held, provenance, said):
    assert registry.what_was_pushed(held, provenance) == said


def test_a_pull_shows_each_moving_layers_bytes_and_speed_until_it_is_done():
    progress = registry.TransferProgress()
    progress.update({"id": "aa11", "status": "Downloading", "progressDetail": {"current": 0, "total": 300_000_000}},
                    now=10.0)
    progress.update({"id": "aa11", "status": "Downloading",
                     "progressDetail": {"current": 100_000_000, "total": 300_000_000}}, now=12.0)
    progress.update({"id": "bb22", "status": "Waiting"}, now=12.0)
    assert progress.lines(now=12.0) == ["  layer aa11: downloading 100.0MB / 300.0MB, 50.0MB/s"]
    progress.update({"id": "aa11", "status": "Extracting",
                     "progressDetail": {"current": 1_000_000, "total": 300_000_000}}, now=13.0)
    assert progress.lines(now=13.0) == ["  layer aa11: unpacking 1.0MB / 300.0MB"]  # a new phase, a new rate
    progress.update({"id": "aa11", "status": "Pull complete"}, now=20.0)
    assert progress.lines(now=20.0) == []


def test_a_push_shows_each_moving_layers_bytes_and_speed_until_it_is_sent():
    progress = registry.TransferProgress()
    progress.update({"id": "aa11", "status": "Pushing", "progressDetail": {"current": 0, "total": 80_000_000}},
                    now=10.0)
    progress.update({"id": "bb22", "status": "Pushing", "progressDetail": {"current": 0, "total": 9_000_000}},
                    now=10.0)
    progress.update({"id": "aa11", "status": "Pushing",
                     "progressDetail": {"current": 40_000_000, "total": 80_000_000}}, now=12.0)
    progress.update({"id": "bb22", "status": "Mounted from team/other", "progressDetail": {}}, now=12.0)
    assert progress.lines(now=12.0) == ["  layer aa11: pushing 40.0MB / 80.0MB, 20.0MB/s"]
    progress.update({"id": "aa11", "status": "Pushed", "progressDetail": {}}, now=14.0)
    assert progress.lines(now=14.0) == []


def test_without_a_terminal_a_pull_prints_only_whole_lines(capsys):
    from docker_tasks.tasks import shipping

    events = [{"id": "aa11", "status": "Downloading", "progressDetail": {"current": 5, "total": 10}},
              {"id": "aa11", "status": "Pull complete"}, {"status": "Digest: sha256:" + "d" * 64}]
    outcome = shipping._follow(iter(events), live=False)
    assert capsys.readouterr().out == "  layer aa11: pulled\n" and outcome.digest == "sha256:" + "d" * 64


def test_in_a_terminal_the_moving_layers_are_redrawn_in_place(capsys):
    from docker_tasks.tasks import shipping

    events = [{"id": "aa11", "status": "Downloading", "progressDetail": {"current": 5_000_000, "total": 9_000_000}},
              {"id": "aa11", "status": "Pull complete"}]
    shipping._follow(iter(events), live=True)
    shown = capsys.readouterr().out
    assert shown == "  layer aa11: downloading 5.0MB / 9.0MB\n\x1b[1F\x1b[J  layer aa11: pulled\n"
