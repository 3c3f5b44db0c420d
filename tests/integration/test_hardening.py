"""Bad input, faults and secrets: every failure is one clear line, nothing is lost, nothing leaks.

The bad-input cases form one table (BAD_INPUTS); docs/troubleshooting.md shows
the same cases and what the user sees.
"""

import os
import shutil
import signal
import socket
import subprocess
import tarfile
import time
import uuid
import zlib
from dataclasses import dataclass, field

import pytest

from tests.integration.conftest import git
from tests.integration.support import PrivateEngine, free_port, renew_requirements_step, requirements_step_ran


@dataclass
class Case:
    args: list[str]
    message: str
    exit_code: int = 1
    env: dict = field(default_factory=dict)
    project: str = "built"  # or "no-git", "no-commit"
    setup: str | None = None  # a name from SETUPS


BAD_INPUTS = {
    "engine-not-running": Case(["images"], "cannot reach the Docker engine at unix:///nonexistent/docker.sock",
                               env={"DOCKER_HOST": "unix:///nonexistent/docker.sock"}),
    "engine-port-closed": Case(["ps"], "cannot reach the Docker engine at tcp://127.0.0.1:",
                               setup="closed-port"),
    "buildx-missing": Case(["build"], "the docker buildx plugin (BuildKit) is missing: install it", setup="no-buildx"),
    "not-a-git-repository": Case(["tag", "--version", "1.0"], "is not in a git repository", project="no-git"),
    "no-commits": Case(["tag", "--version", "1.0"], "the git repository has no commits yet", project="no-commit"),
    "invalid-image-name": Case(["build", "--dry-run"], "image name 'Bad_Name' is not valid",
                               env={"IMAGE_NAME": "Bad_Name"}),
    "invalid-tag": Case(["build", "--tag", "two words"], "tag 'two words' is not a valid Docker tag"),
    "invalid-version": Case(["tag", "--version", "-1"], "version '-1' is not a valid Docker tag"),
    "malformed-env": Case(["run", "--env", "1X=2"], "--env '1X': expected KEY=VALUE"),
    "malformed-port": Case(["run", "--port", "80:80:80:80"], "--port '80:80:80:80' is not in docker's form"),
    "port-out-of-range": Case(["run", "--port", "70000:80"], "'70000' is not a port number from 1 to 65535"),
    "port-in-use": Case(["run", "--port", "{port}:8000"], "a published port is already in use", setup="busy-port"),
    "malformed-volume": Case(["run", "--volume", "nowhere"], "--volume 'nowhere' is not in docker's form"),
    "volume-path-missing": Case(["run", "--volume", "./missing:/data"], "does not exist on this machine"),
    "env-file-missing": Case(["run", "--env-file", "missing.env"], "env file not found: "),
    "env-file-unreadable": Case(["run", "--env-file", "binary.env"], "cannot read env file", setup="binary-env"),
    "env-file-invalid-line": Case(["run", "--env-file", "broken.env"], "broken.env, line 2: cannot parse",
                                  setup="broken-env"),
    "image-not-found": Case(["run", "--image", "dockertasks-none:nope"], "image not found: dockertasks-none:nope"),
    "container-name-taken": Case(["run", "--name", "{taken}"], "that container name is taken", setup="taken-name"),
    "job-crashes": Case(["run", "--", "predict", "--input", "/nowhere.csv"], "exited with code 2", exit_code=2),
    "writes-outside-output": Case(["run", "--entrypoint", "python", "--", "-c",  # a job that logs its error
                                   "import sys\ntry: open('weights.h5', 'w')\nexcept OSError as e: sys.exit(str(e))"],
                                  "It wrote 'weights.h5' outside its output folder, and the container's root is "
                                  "read-only: write under /app/output"),
    "malformed-memory": Case(["run", "--memory", "lots"], "--memory 'lots' is not an amount of memory"),
    "bad-timeout": Case(["stop", "--all", "--timeout", "soon"], "--timeout expects a whole number, not 'soon'"),
    "unknown-signal": Case(["kill", "--all", "--signal", "NOPE"], "--signal 'NOPE' is not a signal"),
}


@pytest.fixture(scope="module")
def projects(built, make_project):
    no_commit = make_project(with_git=False)
    git(no_commit.root, "init", "-q")
    return {"built": built, "no-git": make_project(with_git=False), "no-commit": no_commit}


@pytest.fixture
def arranged(case_name, projects, engine, tmp_path):
    """What a case needs around it: the project, the environment, values for the args' {placeholders}."""
    case = BAD_INPUTS[case_name]
    project = projects[case.project]
    env, values, cleanup = dict(case.env), {}, []
    if case.setup == "closed-port":
        env["DOCKER_HOST"] = f"tcp://127.0.0.1:{free_port()}"
    elif case.setup == "no-buildx":
        shim = tmp_path / "bin"
        shim.mkdir()
        (shim / "docker").write_text(
            "#!/bin/sh\n"
            'if [ "$1" = buildx ]; then echo "docker: \'buildx\' is not a docker command." >&2; exit 1; fi\n'
            f'exec {shutil.which("docker")} "$@"\n'
        )
        (shim / "docker").chmod(0o755)
        env["PATH"] = f"{shim}:{os.environ['PATH']}"
    elif case.setup == "busy-port":
        listener = socket.socket()
        listener.bind(("0.0.0.0", 0))
        listener.listen()
        values["port"] = listener.getsockname()[1]
        cleanup.append(listener.close)
    elif case.setup == "binary-env":
        (project.root / "binary.env").write_bytes(b"\xff\xfe\x00garbage")
    elif case.setup == "broken-env":
        (project.root / "broken.env").write_text("GOOD=1\nthis line is not an assignment\n")
    elif case.setup == "taken-name":
        values["taken"] = f"{project.image_name}-taken-{uuid.uuid4().hex[:6]}"
        engine.containers.create(f"{project.image_name}:latest", name=values["taken"],
                                 labels={"dockertasks.project": project.image_name})
    yield project, env, values
    for step in cleanup:
        step()


@pytest.mark.parametrize("case_name", BAD_INPUTS)
def test_bad_input_is_one_line_with_a_non_zero_exit(case_name, arranged):
    case = BAD_INPUTS[case_name]
    project, env, values = arranged
    result = project.inv(*(arg.format(**values) for arg in case.args), env=env)
    message = result.stderr.strip()
    assert result.returncode == case.exit_code, result.stdout[-2000:] + message[-2000:]
    assert "Traceback" not in result.stdout + result.stderr
    last = message.splitlines()[-1]
    assert last.startswith("error: ") and case.message in last, message[-2000:]
    if case.args[0] != "build":  # a build streams BuildKit's output before its error line
        assert len(message.splitlines()) == 1, message


def ok(result):
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return result


@pytest.mark.parametrize("breakage", ["bad-requirement", "broken-dockerfile"])
def test_a_failed_build_shows_why_and_keeps_the_previous_images(make_project, engine, breakage):
    project = make_project()
    ok(project.inv("build"))
    before = {tag: engine.images.get(f"{project.image_name}:{tag}").id for tag in ("latest", project.head(True))}
    if breakage == "bad-requirement":
        with open(project.root / "requirements.txt", "a") as requirements:
            requirements.write("dockertasks-no-such-package-anywhere==0.0.1\n")
        lock = (project.root / "requirements.lock").read_text()
        failed = project.inv("lock")  # where a requirement meets the package index now
        assert failed.returncode == 1 and "Traceback" not in failed.stdout + failed.stderr
        last = failed.stderr.strip().splitlines()[-1]
        assert last.startswith("error: could not resolve requirements.txt: ") and last.endswith("is unchanged")
        assert "dockertasks-no-such-package-anywhere" in last
        assert (project.root / "requirements.lock").read_text() == lock
        failed = project.inv("build")
        assert failed.returncode == 1 and "run `inv lock`" in failed.stderr.strip().splitlines()[-1]
    else:
        with open(project.root / "Dockerfile", "a") as dockerfile:
            dockerfile.write('RUN echo "step that breaks" && exit 3\n')
        failed = project.inv("build")
        assert failed.returncode == 1
        last = failed.stderr.strip().splitlines()[-1]
        assert last.startswith("error: the build failed: ") and "Traceback" not in failed.stdout + failed.stderr
        assert "exit code: 3" in failed.stdout + failed.stderr  # the failing step's own output
    after = {tag: engine.images.get(f"{project.image_name}:{tag}").id for tag in before}
    assert after == before
    ran = engine.containers.run(f"{project.image_name}:latest", command=["train", "--n-estimators", "5",
                                "--output-dir", "/tmp/out"], remove=True)
    assert b"train finished" in ran


def test_detached_head_builds_with_the_commit(make_project, engine):
    project = make_project()
    git(project.root, "checkout", "-q", "--detach")
    ok(project.inv("build"))
    engine.images.get(f"{project.image_name}:{project.head(True)}")


@pytest.mark.image_store  # what `docker save` holds differs between the stores
def test_secrets_reach_no_image_layer_no_history_and_no_output(make_project, engine):
    project = make_project()
    canaries = {name: f"canary-{name}-{uuid.uuid4().hex}" for name in ("dotenv", "envfile", "flag")}
    (project.root / ".env").write_text(f"API_TOKEN={canaries['dotenv']}\nIMAGE_NAME={project.image_name}\n")
    (project.root / "job.env").write_text(f'export DB_PASSWORD="{canaries["envfile"]}"\n')
    in_code = f"in-code-{uuid.uuid4().hex}"  # what the scan must find, so that it is seen to look inside layers
    project.commit_change(in_code)
    outputs = [
        ok(project.inv("build")),
        ok(project.inv("run", "--env-file", "job.env", "--env", f"OTHER_SECRET={canaries['flag']}",
                       "--", "train", "--n-estimators", "5")),
        ok(project.inv("run", "--dry-run", "--env-file", "job.env", "--env", f"OTHER_SECRET={canaries['flag']}")),
        ok(project.inv("images")), ok(project.inv("ps")), ok(project.inv("runs")),
    ]
    refused = project.inv("build", "--build-arg", f"TOKEN={canaries['dotenv']}")
    assert refused.returncode == 1 and "its value comes from .env" in refused.stderr
    outputs.append(refused)
    printed = "".join(r.stdout + r.stderr for r in outputs)
    history = subprocess.run(["docker", "history", "--no-trunc", f"{project.image_name}:latest"],
                             capture_output=True, text=True, check=True).stdout
    saved = save_contains(f"{project.image_name}:latest", [c.encode() for c in [*canaries.values(), in_code]])
    assert saved[in_code.encode()], "the scan of `docker save` did not find what src/ holds"
    for name, canary in canaries.items():
        assert canary not in printed, f"the {name} secret was printed"
        assert canary not in history, f"the {name} secret is in docker history"
        assert not saved[canary.encode()], f"the {name} secret is in the image"
    records = "".join(p.read_text() for p in (project.root / "output").glob("run-record-*.json"))
    assert "DB_PASSWORD" in records and "OTHER_SECRET" in records  # the keys, never the values
    assert not any(canary in records for canary in canaries.values())


@pytest.mark.image_store
def test_a_build_secret_reaches_the_step_that_reads_it_and_nothing_else(make_project, engine):
    """`inv build --secret id=index_url,env=...`: the Dockerfile installs from that index, and the
    value is in no layer, history, label or output. The secret index is PyPI itself, with a user
    name that is the canary."""
    project = make_project()
    canary = f"canary-{uuid.uuid4().hex}"
    in_code = f"in-code-{uuid.uuid4().hex}"
    renew_requirements_step(project.root, in_code)  # a step taken from the cache reads no secret
    project.commit_change(in_code)
    env = {"PRIVATE_INDEX_URL": f"https://{canary}@pypi.org/simple"}
    secret = ["--secret", "id=index_url,env=PRIVATE_INDEX_URL"]
    outputs = [ok(project.inv("build", *secret, "--dry-run", env=env)), ok(project.inv("build", *secret, env=env))]
    assert requirements_step_ran(outputs[1].stdout)
    assert "--secret id=index_url,env=PRIVATE_INDEX_URL" in outputs[0].stdout
    outputs += [ok(project.inv("images", env=env)), ok(project.inv("run", "--", "train", env=env))]
    printed = "".join(r.stdout + r.stderr for r in outputs)
    image = engine.images.get(f"{project.image_name}:latest")
    history = subprocess.run(["docker", "history", "--no-trunc", f"{project.image_name}:latest"],
                             capture_output=True, text=True, check=True).stdout
    saved = save_contains(f"{project.image_name}:latest", [canary.encode(), in_code.encode()])
    assert saved[in_code.encode()], "the scan of `docker save` did not find what src/ holds"
    assert not saved[canary.encode()], "the secret is in the image"
    assert canary not in printed and canary not in history and canary not in repr(image.attrs)


def save_contains(image: str, needles: list[bytes]) -> dict[bytes, bool]:
    """Stream `docker save` and look for each needle in every file of it, the image's layers
    unpacked: the containerd image store saves them gzip-compressed, where no needle would show."""
    found = dict.fromkeys(needles, False)
    with (subprocess.Popen(["docker", "save", image], stdout=subprocess.PIPE) as saving,
          tarfile.open(fileobj=saving.stdout, mode="r|") as saved):
        for member in saved:
            if member.isfile():
                for needle in scan(saved.extractfile(member), needles):
                    found[needle] = True
    assert saving.returncode == 0
    return found


def scan(stream, needles: list[bytes]) -> set[bytes]:
    """The needles in a file of `docker save`: a layer (plain or gzip), a config or a manifest."""
    head = stream.read(4)
    if head.startswith(b"\x28\xb5\x2f\xfd"):
        pytest.fail("a layer of the image is zstd-compressed, which this scan cannot read")
    unpack = zlib.decompressobj(wbits=31) if head.startswith(b"\x1f\x8b") else None
    overlap, seen, previous = max(map(len, needles)), set(), b""
    block = head
    while block:
        data = unpack.decompress(block) if unpack else block
        while unpack and unpack.eof and unpack.unused_data:  # a layer of several gzip members
            rest, unpack = unpack.unused_data, zlib.decompressobj(wbits=31)
            data += unpack.decompress(rest)
        window = previous + data
        seen |= {needle for needle in needles if needle in window}
        previous = window[-overlap:]
        block = stream.read(1 << 20)
    return seen


def test_ctrl_c_stops_a_foreground_run(make_project, engine):
    project = make_project()
    ok(project.inv("build"))
    name = f"{project.image_name}-interrupted"
    running = project.start("run", "--name", name, "--env", "N_ESTIMATORS=200000")
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        found = engine.containers.list(filters={"name": name})
        if found and b"training on" in found[0].logs():
            break
        time.sleep(0.3)
    running.send_signal(signal.SIGINT)
    _, stderr = running.communicate(timeout=30)
    assert running.returncode == 130
    assert f"stopping {name}" in stderr and "Traceback" not in stderr
    assert engine.containers.list(all=True, filters={"name": name}) == []  # stopped, and removed (--rm)


def started_training(engine, name_prefix: str, count: int = 1, timeout: float = 60) -> None:
    """Wait until `count` containers named from `name_prefix` are running the job."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = engine.containers.list(filters={"name": name_prefix})
        if len(found) >= count and all(b"training on" in container.logs() for container in found):
            return
        time.sleep(0.3)
    raise AssertionError(f"{count} container(s) {name_prefix}* did not start training")


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGHUP], ids=["SIGTERM", "SIGHUP"])
def test_sigterm_or_sighup_stops_a_foreground_run_and_its_shards(make_project, engine, signum):
    """What a cancelled CI job, a `kill` or a closed terminal does to `inv run`: the task stops
    what it started, as for Ctrl-C, and exits 143."""
    project = make_project()
    ok(project.inv("build"))
    for extra, count in (([], 1), (["--shards", "2"], 2)):
        name = f"{project.image_name}-{signal.Signals(signum).name.lower()}-{count}"
        running = project.start("run", "--name", name, *extra, "--", "train", "--n-estimators", "200000")
        started_training(engine, name, count)
        running.send_signal(signum)
        _, stderr = running.communicate(timeout=60)
        assert running.returncode == 143, stderr
        assert stderr.strip().splitlines()[-1] == (f"error: stopped by {signal.Signals(signum).name}; what the task "
                                                   "had started is stopped")
        assert "Traceback" not in stderr
        assert engine.containers.list(all=True, filters={"name": name}) == []  # stopped, and removed


def test_sigterm_to_a_build_cancels_the_build_rather_than_waiting_for_it(make_project, engine):
    """A slow step (a fork's big download, say) is still going when the task gets SIGTERM: the
    task stops docker's build too, so it ends without an image, long before the step would."""
    project = make_project()
    dockerfile = project.root / "Dockerfile"
    marker = f"slow-step-{project.image_name}"
    stage = "FROM dependencies AS code-everyday\n"
    dockerfile.write_text(dockerfile.read_text().replace(stage, f"{stage}RUN echo {marker} && sleep 300\n", 1))
    building = project.start("build")
    for line in building.stdout:
        if marker in line and "RUN" not in line:  # the step's own output: it is running
            break
    building.send_signal(signal.SIGTERM)
    try:
        _, stderr = building.communicate(timeout=120)
    finally:
        building.kill()  # if it waited for the step after all
    assert building.returncode == 143, stderr
    assert stderr.strip().splitlines()[-1] == "error: stopped by SIGTERM; what the task had started is stopped"
    assert not engine.images.list(name=project.image_name)


def test_two_builds_at_once_both_finish_with_the_right_tags(make_project, engine):
    first = make_project()
    second = make_project()
    second.image_name = first.image_name
    second.commit_change("a different commit")
    builds = [subprocess.Popen([*p.invoke_command(), "build"], cwd=p.root, env=p.environment(),
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True) for p in (first, second)]
    for build in builds:
        output, _ = build.communicate(timeout=900)
        assert build.returncode == 0, output[-3000:]
    for project in (first, second):
        image = engine.images.get(f"{first.image_name}:{project.head(True)}")
        assert image.labels["dockertasks.git.sha"] == project.head()


def test_the_job_runs_hardened_and_cannot_write_outside_its_folders(built, engine):
    name = f"{built.image_name}-hardened"
    ok(built.inv("run", "--detach", "--name", name, "--entrypoint", "sh", "--", "-c",
                 "touch /tmp/ok && touch /app/output/ok && ! touch /app/x 2>/dev/null && sleep 30"))
    container = engine.containers.get(name)
    host = container.attrs["HostConfig"]
    assert host["ReadonlyRootfs"] is True and host["CapDrop"] == ["ALL"]
    assert host["SecurityOpt"] == ["no-new-privileges"] and "/tmp" in host["Tmpfs"] and host["Init"] is True
    deadline = time.monotonic() + 20
    while not (built.root / "output" / "ok").exists() and time.monotonic() < deadline:
        time.sleep(0.2)
    container.reload()
    assert container.status == "running"  # every touch went as expected
    container.remove(force=True)
    (built.root / "output" / "ok").unlink()


@pytest.fixture
def private_engine(built):
    """An engine of this test's own, holding a copy of the built image: restarting it touches
    nothing anyone else runs, and the host's network must look the same afterwards."""
    if reason := PrivateEngine.available():
        pytest.skip(reason)
    interfaces = socket.if_nameindex()
    private = PrivateEngine()
    try:
        private.start()
        private.load(f"{built.image_name}:latest")
        yield private
    finally:
        private.close()
    assert socket.if_nameindex() == interfaces


def test_after_an_engine_restart_ps_and_logs_tell_the_truth(built, private_engine):
    name = f"{built.image_name}-survivor"
    ok(built.inv("run", "--detach", "--name", name, "--entrypoint", "sh", "--", "-c", "echo before; sleep 600",
                 env=private_engine.env))
    deadline = time.monotonic() + 30
    while "before" not in built.inv("logs", "--name", name, env=private_engine.env).stdout:
        assert time.monotonic() < deadline, "the detached job printed nothing"
        time.sleep(0.3)
    assert " Up " in row_of(name, ok(built.inv("ps", env=private_engine.env)).stdout)
    assert exit_in_runs(built, name, private_engine.env) == "detached"

    private_engine.restart()

    # The engine stopped the job on its way down (SIGTERM, through the container's init): not "Up".
    assert "Exited (143)" in row_of(name, ok(built.inv("ps", env=private_engine.env)).stdout)
    assert ok(built.inv("logs", "--name", name, env=private_engine.env)).stdout.strip() == "before"
    assert exit_in_runs(built, name, private_engine.env) == "143"
    ok(built.inv("rm", "--name", name, env=private_engine.env))
    assert name not in ok(built.inv("ps", env=private_engine.env)).stdout
    assert exit_in_runs(built, name, private_engine.env) == "143"  # kept in the record, with the container gone


def test_losing_the_engine_during_a_foreground_run_is_one_line_that_says_where_to_look(built, private_engine):
    name = f"{built.image_name}-followed"
    with built.start("run", "--name", name, "--entrypoint", "sh", "--", "-c", "echo before; sleep 600",
                     env=private_engine.env) as following:
        assert following.stdout.readline().strip() == "before"
        private_engine.stop()
        out, err = following.communicate(timeout=120)
    assert following.returncode == 1 and "Traceback" not in out + err
    assert err.strip().splitlines() == [
        f"error: lost the Docker engine while {name} ran: it stopped or restarted, so how the job ended is not "
        f"known here. Once the engine is back, `inv ps` shows how it ended and `inv logs --name {name}` what it "
        "printed"]
    assert exit_in_runs(built, name, private_engine.env) == "unknown"  # the engine is not there to ask
    private_engine.start()
    assert "Exited (143)" in row_of(name, ok(built.inv("ps", env=private_engine.env)).stdout)  # kept, as it says
    assert ok(built.inv("logs", "--name", name, env=private_engine.env)).stdout.strip() == "before"
    assert exit_in_runs(built, name, private_engine.env) == "143"


def test_losing_the_engine_during_sharded_runs_names_the_shards_left(built, private_engine):
    name = f"{built.image_name}-sharded"
    with built.start("run", "--shards", "2", "--name", name, "--entrypoint", "sh", "--", "-c", "sleep 600",
                     env=private_engine.env) as running:
        while "shard 2/2: started" not in running.stdout.readline():
            assert running.poll() is None, running.stderr.read()
        private_engine.stop()
        out, err = running.communicate(timeout=120)
    assert running.returncode != 0 and "Traceback" not in out + err
    # The engine stops the shards before it stops answering, so a shard's end may still be seen.
    unseen = [f"{name}-shard{i}" for i in (0, 1) if f"shard {i + 1}/2: exit code 143" not in out]
    expected = (f"error: lost the Docker engine while {len(unseen)} shard(s) ran ({', '.join(unseen)}): it stopped "
                "or restarted. Once the engine is back, `inv ps` shows how they ended and `inv logs --name NAME` "
                "what each printed; then run the shards again") if unseen else \
        "error: shard(s) 0, 1 of 2 failed (first exit code 143)"
    assert len(err.strip().splitlines()) == 1 and err.startswith(expected), err
    private_engine.start()
    listing = ok(built.inv("ps", env=private_engine.env)).stdout
    assert all("Exited (143)" in row_of(shard, listing) for shard in unseen)  # kept, as the message says


def test_a_job_out_of_memory_is_told_apart_from_a_crash(built):
    result = built.inv("run", "--memory", "64m", "--entrypoint", "python", "--", "-c", "hog = 'x' * (1 << 30)")
    assert result.returncode == 137, result.stderr[-2000:]
    assert result.stderr.strip().splitlines()[-1].startswith(
        f"error: the job in {built.image_name}:latest ran out of memory and was killed (exit code 137)")


def exit_in_runs(project, name: str, env: dict) -> str:
    """The EXIT column of `inv runs` for the named container's run."""
    return row_of(name, ok(project.inv("runs", env=env)).stdout).split()[5]  # STARTED is two words


def row_of(name: str, listing: str) -> str:
    return next((line for line in listing.splitlines() if name in line.split()), f"no row for {name}:\n{listing}")
