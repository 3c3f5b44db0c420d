"""`inv run`, `inv images` and `inv clean` against the real engine, on the session's build."""

import json
import os
import time
import urllib.request

import pytest

from tests.integration.support import free_port, in_a_terminal

JOB_OWNER = (4321, 4321)  # when the tests run as root, the output folder is handed to this user


def ok(result):
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return result


def containers_of(engine, project):
    """The containers `inv run` made for this project (they carry the image label as well)."""
    selector = {"label": [f"dockertasks.project={project.image_name}", "dockertasks.image"]}
    return engine.containers.list(all=True, filters=selector)


@pytest.fixture
def output_dir(built):
    """A fresh output/ folder, owned by a non-root user when the tests run as root."""
    output = built.root / "output"
    if output.exists():
        for item in output.iterdir():
            item.unlink()
    output.mkdir(exist_ok=True)
    if os.getuid() == 0:
        os.chown(output, *JOB_OWNER)
    return output


def test_a_foreground_run_takes_env_and_env_files_and_writes_as_the_folder_owner(built, engine, output_dir):
    (built.root / "job.env").write_text('# settings for this run\nexport RANDOM_SEED=7\nLOG_LEVEL="DEBUG"\n')
    result = built.inv("run", "--env", "N_ESTIMATORS=9", "--env-file", "job.env")
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    assert "train finished" in result.stdout
    metrics = json.loads((output_dir / "metrics.json").read_text())
    assert (metrics["n_estimators"], metrics["random_seed"]) == (9, 7)
    owner = output_dir.stat()
    for written in output_dir.iterdir():
        assert (written.stat().st_uid, written.stat().st_gid) == (owner.st_uid, owner.st_gid)
    assert containers_of(engine, built) == []  # --rm is the default for foreground runs


def test_arguments_after_the_double_dash_reach_the_job_and_its_exit_code_comes_back(built, output_dir):
    result = built.inv("run", "--", "predict", "--input", "/app/output/missing.csv")
    assert result.returncode == 2
    assert "input file not found: /app/output/missing.csv" in result.stdout
    assert result.stderr.strip().splitlines()[-1].startswith("error: the job in")
    assert "Traceback" not in result.stdout + result.stderr


def test_a_local_file_that_is_not_mounted_is_pointed_out(built, output_dir):
    inputs = built.root / "inputs"
    inputs.mkdir(exist_ok=True)
    (inputs / "mydata.csv").write_text("a,b\n1,2\n")
    unmounted = built.inv("run", "--", "predict", "--input", "inputs/mydata.csv")
    assert unmounted.returncode == 2 and "input file not found" in unmounted.stdout
    assert (f"warning: inputs/mydata.csv is on this machine but in no mounted folder, so the job cannot see it; "
            f"mount its folder, e.g. --volume {inputs}:/app/data:ro, and pass /app/data/mydata.csv instead"
            ) in unmounted.stdout
    assert built.inv("run", "--", "train", "--n-estimators", "5").returncode == 0
    mounted = built.inv("run", "--volume", f"{inputs}:/app/data:ro", "--", "predict", "--input", "/app/data/mydata.csv")
    assert "warning:" not in mounted.stdout
    assert "input is missing 30 column(s) the model needs" in mounted.stdout, mounted.stdout[-2000:]  # read it


def test_a_detached_run_publishes_its_port(built, engine):
    port = free_port()
    result = built.inv("run", "--detach", "--port", f"127.0.0.1:{port}:8000", "--name", f"{built.image_name}-web",
                       "--entrypoint", "python", "--", "-m", "http.server", "8000")
    assert result.returncode == 0, result.stderr
    assert f"started {built.image_name}-web" in result.stdout
    body = None
    deadline = time.monotonic() + 30
    while body is None and time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=2) as response:
                body = response.read().decode()
        except OSError:
            time.sleep(0.3)
    assert body is not None and "Directory listing" in body
    engine.containers.get(f"{built.image_name}-web").remove(force=True)


def test_a_missing_image_is_one_line(built):
    result = built.inv("run", "--image", f"{built.image_name}:no-such-tag")
    assert result.returncode == 1
    assert result.stderr.strip().startswith("error: image not found")
    assert len(result.stderr.strip().splitlines()) == 1


def test_a_dry_run_starts_nothing_and_prints_no_secret(built, engine, canary):
    result = built.inv("run", "--dry-run", "--env", "API_KEY=very-secret-value")
    assert result.returncode == 0
    assert result.stdout.startswith("docker run --rm --init")
    assert "very-secret-value" not in result.stdout and canary not in result.stdout  # .env holds the canary
    assert "SECRET_TOKEN=***" in result.stdout
    assert containers_of(engine, built) == []


def test_images_lists_this_projects_builds(built):
    result = built.inv("images")
    assert result.returncode == 0
    header, *rows = result.stdout.strip().splitlines()
    assert header.split()[:3] == ["BUILD", "VERSIONS", "IMAGE"]
    assert any(row.startswith(built.head(short=True)) and "latest" in row for row in rows)


def test_clean_removes_only_this_projects_stopped_containers(built, engine, output_dir):
    kept = built.inv("run", "--no-rm", "--", "predict", "--input", "/nowhere.csv")
    assert kept.returncode == 2
    stopped = containers_of(engine, built)
    assert len(stopped) == 1
    decoy = engine.containers.create(f"{built.image_name}:latest", name=f"{built.image_name}-decoy")
    try:
        assert built.inv("clean", "--dry-run").returncode == 0
        assert len(containers_of(engine, built)) == 1
        result = built.inv("clean")
        assert result.returncode == 0, result.stderr
        assert f"removed: container {stopped[0].name}" in result.stdout
        assert containers_of(engine, built) == []
        decoy.reload()  # still there: made by hand from the project's image, with a name like the project's
    finally:
        decoy.remove(force=True)


def test_the_model_cache_keeps_what_one_run_downloaded_for_the_next_until_clean_all(make_project, engine):
    """The first `from_pretrained` writes into HF_HOME; the next run finds it there, under the
    hardened defaults (read-only root), whichever user the job runs as."""
    project = make_project()
    ok(project.inv("build"))
    volume = f"{project.image_name}-cache"
    ok(project.inv("run", "--entrypoint", "sh", "--", "-c", 'mkdir -p "$HF_HOME" && echo weights > "$HF_HOME/w.bin"'))
    again = ok(project.inv("run", "--entrypoint", "sh", "--", "-c", 'cat "$HF_HOME/w.bin"; echo "$TORCH_HOME"'))
    assert again.stdout.split() == ["weights", "/cache/torch"]
    assert engine.volumes.get(volume).attrs["Labels"] == {"dockertasks.project": project.image_name,
                                                          "dockertasks.volume": "model-cache"}
    without = ok(project.inv("run", "--no-cache-volume", "--entrypoint", "sh", "--", "-c",
                             'echo "home=${HF_HOME:-none}"; ls /cache'))
    assert "home=none" in without.stdout and "w.bin" not in without.stdout and "huggingface" not in without.stdout
    shown = ok(project.inv("clean", "--all", "--dry-run")).stdout
    assert f"docker volume rm {volume}   # volume {volume} (model cache, " in shown
    refused = project.inv("clean", "--all")  # no terminal to ask in
    assert refused.returncode == 1 and engine.volumes.list(filters={"name": volume})
    cleaned = ok(project.inv("clean", "--all", "--yes")).stdout
    assert f"removed: volume {volume} (model cache, " in cleaned
    assert not engine.volumes.list(filters={"name": volume})


def test_inv_shell_opens_the_image_in_a_terminal_with_src_mounted_read_only(make_project, engine):
    project = make_project()
    ok(project.inv("build"))
    (project.root / "src" / "edited.py").write_text("import sys\nprint('edited, not rebuilt', sys.stdin.isatty())\n")
    ran = in_a_terminal(project, "shell", "--", "python", "src/edited.py")
    assert ran.returncode == 0 and "edited, not rebuilt True" in ran.stdout, ran.stdout + ran.stderr
    typed = in_a_terminal(project, "shell", typed="echo in-the-image-$((40+2)) $XDG_CACHE_HOME; exit 3\n")
    assert "in-the-image-42 /cache" in typed.stdout and typed.returncode == 3, typed.stdout
    written = in_a_terminal(project, "shell", "--", "touch", "/app/src/new.py")
    assert written.returncode != 0 and "Read-only file system" in written.stdout
    piped = ok(project.inv("shell", "--", "python", "-c", "import sys; print(sys.stdin.isatty())"))  # no terminal
    assert piped.stdout.strip() == "False"
    assert engine.containers.list(all=True, filters={"name": f"{project.image_name}-shell"}) == []
