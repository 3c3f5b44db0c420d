import hashlib
from datetime import UTC, datetime, timedelta

from docker_tasks import records, tables

STARTED = datetime(2026, 11, 24, 12, 0, tzinfo=UTC)
IMAGE = {"Id": "sha256:abc", "Config": {"Labels": {"dockertasks.git.sha": "f" * 40, "dockertasks.git.dirty": "true"}}}


def test_fingerprints_of_a_file_and_a_folder(tmp_path):
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "a.csv").write_bytes(b"x,y\n1,2\n")
    (tmp_path / "data" / "b.csv").write_bytes(b"z\n")
    single = records.fingerprint(tmp_path / "data" / "a.csv")
    assert single["sha256"] == hashlib.sha256(b"x,y\n1,2\n").hexdigest() and single["bytes"] == 8
    folder = records.fingerprint(tmp_path / "data")
    assert (folder["bytes"], folder["files"]) == (10, 2)
    (tmp_path / "data" / "b.csv").write_bytes(b"Z\n")
    assert records.fingerprint(tmp_path / "data")["sha256"] != folder["sha256"]


def test_a_record_keeps_env_keys_but_never_values(tmp_path):
    (tmp_path / "in").mkdir()
    (tmp_path / "in" / "x.csv").write_text("1\n")
    record = records.new_record(
        name="app-1", image=IMAGE, reference="app:latest", command=["predict", "--input", "/data/x.csv"],
        entrypoint=None, env_keys={"TOKEN": "s3cret", "A": "1"},
        binds=[f"{tmp_path / 'in'}:/data:ro", f"{tmp_path / 'out'}:/app/output"], output_target="/app/output",
        started=STARTED, detached=False,
    )
    assert record["env_keys"] == ["A", "TOKEN"] and "s3cret" not in str(record)
    assert record["image"] == {"reference": "app:latest", "id": "sha256:abc", "git_sha": "f" * 40, "git_dirty": True}
    assert [i["mounted_at"] for i in record["inputs"]] == ["/data"]
    assert record["exit_code"] is None and record["host_architecture"]


def test_records_are_written_read_newest_first_and_tabled(tmp_path):
    first = records.new_record(name="a", image=IMAGE, reference="app:1", command=None, entrypoint=None,
                               env_keys=[], binds=[], output_target="/app/output", started=STARTED, detached=True)
    second = records.new_record(name="b", image=IMAGE, reference="app:2", command=["train"], entrypoint=None,
                                env_keys=[], binds=[], output_target="/app/output",
                                started=STARTED + timedelta(minutes=1), detached=False)
    records.write(tmp_path, first)
    records.write(tmp_path, records.finished(second, STARTED + timedelta(minutes=1, seconds=3), 0))
    (tmp_path / "run-record-broken.json").write_text("{")
    found = records.read_all(tmp_path)
    assert [r["container"] for r in found] == ["b", "a"]
    assert tables.run_rows(found) == [
        ("2026-11-24 12:01:00", "b", "app:2", "ffffffffffff-dirty", "0", "3.0", "0B", "train"),
        ("2026-11-24 12:00:00", "a", "app:1", "ffffffffffff-dirty", "detached", "-", "0B", "-"),
    ]


def detached_record(container_id="c1"):
    return records.new_record(name="a", image=IMAGE, reference="app:1", command=None, entrypoint=None, env_keys=[],
                              binds=[], output_target="/app/output", started=STARTED, detached=True,
                              container_id=container_id)


def container(status, exit_code=0, container_id="c1"):
    return {"Id": container_id, "State": {"Status": status, "ExitCode": exit_code,
                                          "FinishedAt": "2026-11-24T12:00:07.123456789Z"}}


def test_a_detached_run_is_settled_from_its_exited_container():
    settled = records.settle(detached_record(), container("exited", 143))
    assert settled["exit_code"] == 143 and settled["ended_at"] == "2026-11-24T12:00:07.123+00:00"
    assert tables.run_rows([settled])[0][4:6] == ("143", "7.1")


def test_a_run_is_not_settled_while_running_when_gone_ended_or_renamed():
    assert records.settle(detached_record(), container("running")) is None
    assert records.settle(detached_record(), None) is None
    assert records.settle(records.finished(detached_record(), STARTED, 0), container("exited", 1)) is None
    assert records.settle(detached_record(), container("exited", 1, container_id="c2")) is None  # the name's reuse


def test_a_foreground_run_that_lost_its_engine_is_unknown_until_settled():
    lost = {**detached_record(), "detached": False}
    assert tables.run_rows([lost])[0][4] == "unknown"
    assert tables.run_rows([records.settle(lost, container("exited", 143))])[0][4] == "143"
