from pathlib import Path

import pytest

from docker_tasks.errors import TaskError
from docker_tasks.run_options import (
    RunPlan,
    create_kwargs,
    gpus_flag,
    parse_gpus,
    parse_memory,
    parse_ports,
    parse_volume,
)


@pytest.mark.parametrize("spec, expected", [
    ("8080:80", {"80/tcp": [("", 8080)]}),
    ("80", {"80/tcp": [("", None)]}),
    ("127.0.0.1:8080:80/udp", {"80/udp": [("127.0.0.1", 8080)]}),
    ("127.0.0.1::80", {"80/tcp": [("127.0.0.1", None)]}),
    ("8000-8001:9000-9001", {"9000/tcp": [("", 8000)], "9001/tcp": [("", 8001)]}),
], ids=["host-container", "container-only", "ip-and-proto", "ip-random-port", "range"])
def test_ports_in_docker_run_grammar(spec, expected):
    assert parse_ports([spec]) == expected


def test_one_container_port_published_twice():
    assert parse_ports(["8080:80", "8081:80"]) == {"80/tcp": [("", 8080), ("", 8081)]}


@pytest.mark.parametrize("spec, message", [
    ("99999:80", "not a port number from 1 to 65535"),
    ("0:80", "not a port number"),
    ("http:80", "not a port number"),
    ("8080:", "not in docker's form"),
    ("1:2:3:4", "not in docker's form"),
    ("8080:80/icmp", "protocol 'icmp'"),
    ("8001-8000:80-81", "runs backwards"),
    ("8000-8002:80-81", "differ in length"),
], ids=["out-of-range", "zero", "name", "empty-container", "too-many-parts", "protocol", "backwards", "lengths"])
def test_malformed_ports_show_the_expected_form(spec, message):
    with pytest.raises(TaskError, match=message) as error:
        parse_ports([spec])
    assert "--port" in str(error.value)


def test_volume_paths_are_made_absolute(tmp_path):
    (tmp_path / "data").mkdir()
    assert parse_volume("./data:/app/data:ro", tmp_path) == f"{tmp_path / 'data'}:/app/data:ro"
    assert parse_volume(f"{tmp_path}:/mnt", Path("/")) == f"{tmp_path}:/mnt"


def test_named_volumes_pass_through(tmp_path):
    assert parse_volume("model-cache:/cache", tmp_path) == "model-cache:/cache"


@pytest.mark.parametrize("spec, message", [
    ("./missing:/data", "does not exist on this machine"),
    ("./data", "not in docker's form"),
    ("./data:relative", "must be absolute"),
    ("./data:/data:rx", "unknown option 'rx'"),
    ("bad name!:/data", "neither a path nor a volume name"),
    ("a:b:c:d", "not in docker's form"),
])
def test_malformed_volumes(tmp_path, spec, message):
    (tmp_path / "data").mkdir()
    with pytest.raises(TaskError, match=message):
        parse_volume(spec, tmp_path)


@pytest.mark.parametrize("spec, fields", [
    ("all", {"count": -1, "device_ids": None}),
    ("2", {"count": 2}),
    ('"device=0,1"', {"count": 0, "device_ids": ["0", "1"]}),
    ("count=all,capabilities=compute", {"count": -1, "capabilities": [["compute"]]}),
    ("driver=nvidia,count=1", {"driver": "nvidia", "count": 1}),
])
def test_gpus_in_docker_run_grammar(spec, fields):
    request = parse_gpus(spec)
    assert {key: request[key] for key in fields} == fields


@pytest.mark.parametrize("spec, shown", [
    ("all", "all"), ("count=all", "all"), ("2", "2"), ('"device=0,1"', '"device=0,1"'),
    ("device=GPU-3f2a", "device=GPU-3f2a"), ("driver=nvidia,count=1", "driver=nvidia,1"),
    ('count=all,"capabilities=compute,utility"', 'all,"capabilities=compute,utility"'),
])
def test_the_gpus_flag_shown_is_the_request_made(spec, shown):
    assert gpus_flag(parse_gpus(spec)) == shown
    assert parse_gpus(gpus_flag(parse_gpus(spec))) == parse_gpus(spec)


@pytest.mark.parametrize("spec", ["", "many", "count=x", "device="])
def test_malformed_gpus(spec):
    with pytest.raises(TaskError, match="--gpus"):
        parse_gpus(spec)


@pytest.mark.parametrize("spec, expected", [
    ("512m", 512 << 20), ("2g", 2 << 30), ("2G", 2 << 30), ("1.5g", 3 << 29), ("2gb", 2 << 30),
    ("10485760b", 10 << 20), ("8192k", 8 << 20), ("1t", 1 << 40), ("2048", 2 << 30), (2048, 2 << 30),
])
def test_memory_in_one_grammar_for_run_and_batch(spec, expected):
    assert parse_memory(spec) == expected


@pytest.mark.parametrize("spec, mib, flag", [
    ("2g", 2048, "2048m"), ("512m", 512, "512m"), ("2048", 2048, "2048m"), ("1.5g", 1536, "1536m"),
    ("10000000b", 10, "10000000b"),
])
def test_memory_for_batch_in_mib_and_for_docker_run_unambiguous(spec, mib, flag):
    from docker_tasks.run_options import memory_flag, memory_mib

    assert memory_mib(spec) == mib and memory_flag(spec) == flag


@pytest.mark.parametrize("spec, message", [
    ("lots", "is not an amount of memory"), ("2 gigs", "is not an amount of memory"), ("-1g", "is not an amount"),
    ("", "is not an amount"), ("5m", "Docker needs at least 6m"), ("0", "Docker needs at least 6m"),
])
def test_malformed_memory(spec, message):
    with pytest.raises(TaskError, match=message):
        parse_memory(spec)


def test_a_memory_limit_leaves_no_swap_on_top():
    kwargs = create_kwargs(RunPlan(image="i", name="n", labels={}, memory="512m"))
    assert kwargs["mem_limit"] == kwargs["memswap_limit"] == 512 << 20


def test_create_kwargs_carry_the_plan_and_always_an_init():
    plan = RunPlan(
        image="app:latest", name="app-1", labels={"k": "v"}, command=["predict"],
        environment={"A": "1"}, ports={"80/tcp": [("", 8080), ("127.0.0.1", None)]},
        volumes=["/h:/c"], user="1000:1000", gpus={"count": -1},
    )
    kwargs = create_kwargs(plan)
    assert kwargs["init"] is True
    assert kwargs["ports"] == {"80/tcp": [{"HostIp": "", "HostPort": "8080"}, {"HostIp": "127.0.0.1", "HostPort": ""}]}
    assert kwargs["device_requests"] == [{"count": -1}]
    assert (kwargs["user"], kwargs["volumes"], kwargs["environment"]) == ("1000:1000", ["/h:/c"], {"A": "1"})
    assert "entrypoint" not in kwargs


def test_create_kwargs_leave_out_what_was_not_asked_for():
    kwargs = create_kwargs(RunPlan(image="app:latest", name="n", labels={}))
    assert not {"entrypoint", "ports", "volumes", "user", "device_requests", "mem_limit", "memswap_limit"} \
        & kwargs.keys()


def test_containers_are_hardened_by_default():
    kwargs = create_kwargs(RunPlan(image="app:latest", name="n", labels={}))
    assert kwargs["read_only"] is True and kwargs["tmpfs"] == {"/tmp": "rw,nosuid,nodev,size=512m"}
    assert kwargs["cap_drop"] == ["ALL"] and kwargs["security_opt"] == ["no-new-privileges"]


def test_each_defence_can_be_turned_off():
    from docker_tasks.run_options import Hardening

    plan = RunPlan(image="i", name="n", labels={},
                   hardening=Hardening(read_only=False, drop_capabilities=False, no_new_privileges=False))
    assert not {"read_only", "tmpfs", "cap_drop", "security_opt"} & create_kwargs(plan).keys()


def test_local_paths_outside_every_mount_are_found(tmp_path):
    from docker_tasks.run_options import unmounted_host_paths

    (tmp_path / "data.csv").write_text("x\n")
    (tmp_path / "output").mkdir()
    (tmp_path / "output" / "model.joblib").write_text("m")
    arguments = ["predict", "--input", "data.csv", f"--model={tmp_path}/output/model.joblib", "output",
                 "/app/output/x.csv", "--flag"]
    assert unmounted_host_paths(arguments, [f"{tmp_path}/output:/app/output"], tmp_path) == ["data.csv"]
    assert unmounted_host_paths(["data.csv"], [f"{tmp_path}:/app/data:ro"], tmp_path) == []
