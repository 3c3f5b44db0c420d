from pathlib import Path

import pytest

from docker_tasks import commands, shards
from docker_tasks.errors import TaskError
from docker_tasks.run_options import Hardening, RunPlan, create_kwargs, parse_gpus, parse_ipc, shm_size_for


def test_the_build_command_uses_buildx_and_loads_the_image():
    argv = commands.buildx_build(
        Path("/repo"), ["app:abc", "app:latest"], {"dockertasks.project": "app"}, {"BASE_IMAGE": "py"},
        platform="linux/amd64", no_cache=True,
    )
    assert commands.show(argv) == (
        "docker buildx build --output type=docker,compression=uncompressed --provenance false --progress auto "
        "--tag app:abc --tag app:latest --label dockertasks.project=app --build-arg BASE_IMAGE=py "
        "--platform linux/amd64 --no-cache /repo"
    )


def test_a_push_has_buildkit_compress_a_copy_of_the_local_image_into_the_engine(tmp_path):
    argv = commands.compress_command("r.io/team/app:1.0", "zstd", tmp_path / "metadata.json")
    assert commands.show(argv) == (
        "docker buildx build --output type=image,name=r.io/team/app:1.0,compression=zstd,"
        "force-compression=true,oci-mediatypes=true --provenance false --progress auto "
        f"--metadata-file {tmp_path}/metadata.json -"
    )
    assert commands.compress_dockerfile("app:1.0") == "FROM app:1.0\n"
    assert "--metadata-file" not in commands.compress_command("r.io/app:1", "gzip", None)


def test_the_run_command_masks_every_environment_value():
    plan = RunPlan(
        image="app:latest", name="app-1", labels={"dockertasks.project": "app"},
        command=["predict", "--input", "x y.csv"], environment={"TOKEN": "s3cret", "EMPTY": ""},
        ports={"80/tcp": [("", 8080), ("127.0.0.1", None)]}, volumes=["/h/out:/app/output"],
        user="1000:1000", entrypoint="python", gpus=parse_gpus("all"),
    )
    line = commands.show(commands.docker_run(plan))
    assert "s3cret" not in line
    assert line == (
        "docker run --rm --init --name app-1 --read-only --tmpfs=/tmp:rw,nosuid,nodev,size=512m --cap-drop ALL "
        "--security-opt no-new-privileges --label dockertasks.project=app "
        "--env 'TOKEN=***' --env 'EMPTY=***' --publish 8080:80/tcp --publish 127.0.0.1::80/tcp "
        "--volume /h/out:/app/output --user 1000:1000 --entrypoint python --gpus all "
        "app:latest predict --input 'x y.csv'"
    )


def test_a_detached_run_is_never_removed_on_exit():
    plan = RunPlan(image="i", name="n", labels={}, detach=True, hardening=Hardening(False, False, False))
    assert commands.show(commands.docker_run(plan)) == "docker run --detach --init --name n i"


def test_the_images_command_filters_by_label():
    assert commands.docker_images({"label": ["dockertasks.project=app"]}) == [
        "docker", "images", "--filter", "label=dockertasks.project=app",
    ]


def test_the_hardening_shows_in_the_run_command():
    line = commands.show(commands.docker_run(RunPlan(image="i", name="n", labels={})))
    assert "--read-only --tmpfs=/tmp:rw,nosuid,nodev,size=512m --cap-drop ALL --security-opt no-new-privileges" in line


def test_a_memory_limit_shows_in_the_run_command_without_swap():
    line = commands.show(commands.docker_run(RunPlan(image="i", name="n", labels={}, memory="2g")))
    assert "--memory 2048m --memory-swap 2048m i" in line  # one form, which docker reads as we do


def test_every_shard_and_the_merge_show_the_gpus_they_get():
    plan = RunPlan(image="i", name="n", labels={}, gpus=parse_gpus('"device=0,1"'))
    lines = [commands.show(commands.docker_run(shard)) for shard in shards.shard_plans(plan, 3, ['predict'])]
    assert ["--gpus device=0" in lines[0], "--gpus device=1" in lines[1], "--gpus device=0" in lines[2]] == [True] * 3
    assert """--gpus '"device=0,1"'""" in commands.show(commands.docker_run(shards.merge_plan(plan, ['merge'])))
    two_each = shards.shard_plans(RunPlan(image="i", name="n", labels={}, gpus=parse_gpus("4")), 3, ["p"], 2)
    assert [shard.gpus["device_ids"] for shard in two_each] == [["0", "1"], ["2", "3"], ["0", "1"]]
    assert all(shard.gpus["count"] == 0 for shard in two_each)  # devices, not a count of any


def test_shards_are_not_given_every_gpu():
    with pytest.raises(TaskError, match="--gpus all would give every shard every GPU"):
        shards.shard_plans(RunPlan(image="i", name="n", labels={}, gpus=parse_gpus("all")), 2, ["p"])
    with pytest.raises(TaskError, match="--gpus-per-shard 3: give 1 to 2"):
        shards.shard_plans(RunPlan(image="i", name="n", labels={}, gpus=parse_gpus("2")), 2, ["p"], 3)


def test_shared_memory_and_ipc_show_in_the_run_command_and_gpus_get_room_by_default():
    plan = RunPlan(image="i", name="n", labels={}, gpus=parse_gpus("1"),
                   shm_size=shm_size_for(None, {"count": 1}, None), ipc="shareable")
    assert "--shm-size 2048m --ipc shareable" in commands.show(commands.docker_run(plan))
    assert create_kwargs(plan)["shm_size"] == 2 << 30 and create_kwargs(plan)["ipc_mode"] == "shareable"
    assert shm_size_for(None, None, None) is None and shm_size_for(None, {"count": 1}, "host") is None
    assert shm_size_for("8g", None, None) == "8g"
    with pytest.raises(TaskError, match="--ipc 'hosts': give one of private, shareable, host, none"):
        parse_ipc("hosts")


def test_a_dry_run_prints_the_steps_that_a_run_carries_out(capsys):
    done = []
    steps = [commands.Step(["docker", "rm", "app-1"], lambda: done.append("rm") or "removed: app-1", "stopped"),
             commands.Step(["docker", "rmi", "app:a b"], lambda: done.append("rmi") or "removed: app:a b")]
    commands.carry_out(steps, dry_run=True)
    assert capsys.readouterr().out == "docker rm app-1   # stopped\ndocker rmi 'app:a b'\n" and done == []
    commands.carry_out(steps, dry_run=False)
    assert capsys.readouterr().out == "removed: app-1\nremoved: app:a b\n" and done == ["rm", "rmi"]
    assert commands.remark("kept", dry_run=True) == "# kept" and commands.remark("kept", dry_run=False) == "kept"


def test_an_image_of_several_names_quotes_them_as_one_csv_field():
    assert commands.image_output(["r.io/app:1"], "gzip", push=True) == (
        "type=image,name=r.io/app:1,push=true,compression=gzip,force-compression=true")
    assert commands.image_output(["r.io/app:1", "r.io/app:latest"], "zstd") == (
        'type=image,"name=r.io/app:1,r.io/app:latest",compression=zstd,force-compression=true,'
        "oci-mediatypes=true")


def test_a_build_attaches_provenance_only_when_asked():
    plain = commands.buildx_build(Path("/repo"), [], {}, {})
    attested = commands.buildx_build(Path("/repo"), [], {}, {}, provenance=True, output="type=image,name=x,push=true")
    assert plain[plain.index("--provenance") + 1] == "false"
    assert attested[attested.index("--provenance") + 1] == "mode=max"
    assert commands.with_metadata_file(attested, Path("/m.json"))[-3:] == ["--metadata-file", "/m.json", "/repo"]
