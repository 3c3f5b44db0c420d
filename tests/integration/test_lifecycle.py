"""Versions, containers and images against the real engine: only this project's are ever touched."""

import json
import os
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest

from tests.integration.conftest import BASE_IMAGE  # present after any build

pytestmark = pytest.mark.image_store  # images: how they are listed, sized, removed, pushed



def ok(result):
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return result


def one_line_error(result, expected):
    assert result.returncode != 0
    message = result.stderr.strip()
    assert len(message.splitlines()) == 1 and "Traceback" not in message, message
    assert expected in message, message


def image_id(engine, reference):
    return engine.images.get(reference).id


@pytest.fixture(scope="module")
def project(make_project):
    project = make_project()
    ok(project.inv("build"))
    return project


def test_a_version_tag_names_the_current_commits_image(project, engine):
    ok(project.inv("tag", "--version", "2.0"))
    build = f"{project.image_name}:{project.head(True)}"
    assert image_id(engine, f"{project.image_name}:2.0") == image_id(engine, build)
    listing = ok(project.inv("images")).stdout
    assert any(row.startswith(project.head(True)) and "2.0" in row for row in listing.splitlines())


@pytest.mark.parametrize("version, message", [
    (".2", "is not a valid Docker tag: a tag is 1 to 128 characters"),
    ("2.0/beta", "is not a valid Docker tag"),
    ("latest", "`latest` moves with every build"),
])
def test_the_tag_grammar_is_explained(project, version, message):
    one_line_error(project.inv("tag", "--version", version), message)


def test_a_dirty_build_needs_allow_dirty_and_a_version_moves_only_with_force(make_project, engine):
    project = make_project()
    ok(project.inv("build"))
    ok(project.inv("tag", "--version", "1.0"))
    (project.root / "src" / "main.py").write_text((project.root / "src" / "main.py").read_text() + "# dirty\n")
    ok(project.inv("build"))
    dirty = next(t for t in engine.images.get(f"{project.image_name}:latest").tags if "-dirty-" in t)
    one_line_error(project.inv("tag", "--version", "1.1"), "was built from uncommitted changes")
    ok(project.inv("tag", "--version", "1.1", "--allow-dirty"))
    assert image_id(engine, f"{project.image_name}:1.1") == image_id(engine, dirty)

    one_line_error(project.inv("tag", "--version", "1.0", "--allow-dirty"), "already names another image")
    assert image_id(engine, f"{project.image_name}:1.0") != image_id(engine, dirty)
    ok(project.inv("tag", "--version", "1.0", "--allow-dirty", "--force"))
    assert image_id(engine, f"{project.image_name}:1.0") == image_id(engine, dirty)


def test_git_tag_marks_the_images_commit(project):
    ok(project.inv("tag", "--version", "2.1", "--git-tag"))

    def git(*args):
        return subprocess.run(["git", *args], cwd=project.root, capture_output=True, text=True).stdout.strip()
    assert git("cat-file", "-t", "v2.1") == "tag"  # annotated
    assert git("rev-list", "-n", "1", "v2.1") == project.head()
    one_line_error(project.inv("tag", "--version", "2.1", "--git-tag"), "git tag v2.1 already exists")


def test_logs_follow_a_detached_run_to_its_end(project):
    name = f"{project.image_name}-talk"
    started = ok(project.inv("run", "--detach", "--name", name, "--entrypoint", "sh", "--",
                             "-c", "for i in 1 2 3; do echo line $i; sleep 0.5; done"))
    assert f"inv logs --follow --name {name}" in started.stdout
    followed = ok(project.inv("logs", "--follow", "--name", name, timeout=60))
    assert followed.stdout.split() == ["line", "1", "line", "2", "line", "3"]
    assert ok(project.inv("logs", "--tail", "1")).stdout.strip() == "line 3"  # the newest container
    ok(project.inv("rm", "--name", name))


def test_stop_lets_the_job_finish_writing_within_the_timeout(make_project, engine):
    project = make_project()
    ok(project.inv("build"))
    name = f"{project.image_name}-long"
    ok(project.inv("run", "--detach", "--name", name, "--env", "N_ESTIMATORS=200000"))
    deadline = time.monotonic() + 60
    while b"training on" not in engine.containers.get(name).logs() and time.monotonic() < deadline:
        time.sleep(0.2)
    started = time.monotonic()
    stopped = ok(project.inv("stop", "--name", name, "--timeout", "10"))
    assert time.monotonic() - started < 10
    assert "(exit code 143)" in stopped.stdout  # the job's own SIGTERM handler, not SIGKILL's 137
    assert b"stopped by SIGTERM" in engine.containers.get(name).logs()
    leftovers = list((project.root / "output").iterdir())
    assert leftovers == [] or all(not p.name.startswith(".") for p in leftovers)
    if (project.root / "output" / "metrics.json").exists():
        json.loads((project.root / "output" / "metrics.json").read_text())


def test_rmi_refuses_an_image_a_container_uses_unless_forced(make_project, engine):
    project = make_project()
    ok(project.inv("build"))
    tag = project.head(True)
    assert project.inv("run", "--no-rm", "--", "predict", "--input", "/nowhere.csv").returncode == 2
    one_line_error(project.inv("rmi", "--tag", tag), "kept, because containers use them")
    engine.images.get(f"{project.image_name}:{tag}")  # still there
    ok(project.inv("rmi", "--tag", tag, "--force"))
    with pytest.raises(Exception, match="not found|No such image"):
        engine.images.get(f"{project.image_name}:{tag}")


def test_keep_leaves_the_newest_builds_latest_and_versions(make_project, engine):
    project = make_project()
    builds = []
    for number in range(4):
        if number:
            project.commit_change(f"change {number}")
        ok(project.inv("build"))
        builds.append(project.head(True))
        if number == 0:
            ok(project.inv("tag", "--version", "0.1"))
    ok(project.inv("rmi", "--keep", "1"))
    remaining = {t.split(":")[-1] for i in engine.images.list(project.image_name) for t in i.tags}
    assert remaining == {builds[0], "0.1", builds[3], "latest"}


def test_clean_dry_run_changes_nothing(make_project, engine):
    project = make_project()
    ok(project.inv("build"))
    project.commit_change("second build")
    ok(project.inv("build"))
    assert project.inv("run", "--no-rm", "--", "nonsense").returncode == 2

    def snapshot():
        selector = {"label": f"dockertasks.project={project.image_name}"}
        return (sorted(c.id for c in engine.containers.list(all=True, filters=selector)),
                sorted(i.id for i in engine.images.list(filters=selector)))

    before = snapshot()
    planned = ok(project.inv("clean", "--dry-run", "--keep", "0"))
    assert "docker rm" in planned.stdout and "docker rmi" in planned.stdout and "dry run" in planned.stdout
    assert snapshot() == before
    cleaned = ok(project.inv("clean", "--keep", "0"))
    assert "reclaimed" in cleaned.stdout
    containers, images = snapshot()
    assert containers == [] and len(images) == 1  # latest stays


def test_the_dry_run_of_a_removal_shows_the_references_the_removal_untags(make_project, engine):
    project = make_project()
    ok(project.inv("build"))
    image = engine.images.get(f"{project.image_name}:latest")
    elsewhere = f"{project.image_name}-elsewhere:kept"
    image.tag(*elsewhere.split(":"))
    try:
        tags = {f"{project.image_name}:{t}" for t in (project.head(True), "latest")}
        planned = ok(project.inv("rmi", "--all", "--dry-run")).stdout.splitlines()
        shown = [line.split("#")[0].split()[2:] for line in planned if line.startswith("docker rmi ")]
        assert sorted(shown) == sorted([tag] for tag in tags)  # one command a reference, as the removal untags
        assert f"# kept: image {image.short_id.removeprefix('sha256:')[:12]}, also tagged {elsewhere}" in planned
        ran = ok(project.inv("rmi", "--all")).stdout
        assert f"kept: image {image.short_id.removeprefix('sha256:')[:12]}, also tagged {elsewhere}" in ran
        assert engine.images.get(elsewhere).id == image.id  # what the dry run said would stay, stayed
    finally:
        engine.images.remove(elsewhere, force=True)


def test_clean_all_asks_and_refuses_without_a_terminal(project):
    one_line_error(project.inv("clean", "--all"), "run it in a terminal to confirm, or add --yes")


# --- decoys ------------------------------------------------------------------------------------

@pytest.fixture
def decoys(make_project, engine):
    """A project with a running and a stopped container of its own, surrounded by things that are not its."""
    project = make_project()
    ok(project.inv("build"))
    ok(project.inv("run", "--detach", "--name", f"{project.image_name}-mine-running",
                   "--entrypoint", "sleep", "--", "600"))
    assert project.inv("run", "--no-rm", "--name", f"{project.image_name}-mine-stopped", "--", "x").returncode == 2
    suffix = uuid.uuid4().hex[:8]
    own_image = f"{project.image_name}:latest"
    made = {
        # started by hand from this project's image: they inherit its labels, but inv run made neither
        "running": engine.containers.run(own_image, entrypoint="sleep", command=["600"], detach=True,
                                         name=f"{project.image_name}-decoy-running"),
        "stopped": engine.containers.create(own_image, name=f"{project.image_name}-decoy-stopped"),
        # unrelated, with a name that starts like the project's
        "lookalike": engine.containers.create(BASE_IMAGE, command=["true"], name=f"{project.image_name}x-{suffix}"),
    }
    images = {
        "other repository": f"dockertasks-decoy-{suffix}:1",
        "same name, no labels": f"{project.image_name}:decoy",
    }
    for reference in images.values():
        repository, tag = reference.rsplit(":", 1)
        engine.images.get(BASE_IMAGE).tag(repository, tag)
    yield project, made, images
    for container in made.values():
        container.remove(force=True)
    for reference in images.values():
        subprocess.run(["docker", "rmi", reference], capture_output=True)


def assert_decoys_intact(engine, made, images):
    for role, container in made.items():
        state = engine.containers.get(container.id).status
        assert state == ("running" if role == "running" else "created"), role
    for reference in images.values():
        engine.images.get(reference)


def test_no_task_touches_what_the_project_did_not_create(decoys, engine):
    project, made, images = decoys
    one_line_error(project.inv("rm", "--name", made["stopped"].name), "was not started by this project's tasks")
    one_line_error(project.inv("kill", "--name", made["running"].name), "was not started by this project's tasks")
    one_line_error(project.inv("rmi", "--tag", "decoy"), "was not built by this project's tasks")
    one_line_error(project.inv("tag", "--version", "9.9", "--source", "decoy"), "was not built by this project's tasks")
    one_line_error(project.inv("stop", "--name", "no-such-container"), "no container named no-such-container")
    assert_decoys_intact(engine, made, images)

    venv = Path(sys.executable).parent.parent
    environment = {**os.environ, "IMAGE_NAME": project.image_name}
    subprocess.run(["make", "clean", f"VENV={venv}"], cwd=project.root, env=environment, check=True,
                   capture_output=True, stdin=subprocess.DEVNULL, timeout=600)
    assert_decoys_intact(engine, made, images)

    one_line_error(project.inv("rm", "--all"), f"still running, so not removed: {project.image_name}-mine-running")
    assert_decoys_intact(engine, made, images)
    ok(project.inv("kill", "--all"))
    assert_decoys_intact(engine, made, images)
    ok(project.inv("rmi", "--all", "--force"))
    assert_decoys_intact(engine, made, images)
    ok(project.inv("clean", "--all", "--yes"))
    assert_decoys_intact(engine, made, images)

    ours = {"label": [f"dockertasks.project={project.image_name}", "dockertasks.image"]}
    assert engine.containers.list(all=True, filters=ours) == []
    assert ok(project.inv("ps")).stdout.startswith("no containers of")


def test_empty_selections_are_a_no_op_with_a_message(make_project):
    project = make_project()
    assert "nothing to stop" in ok(project.inv("stop", "--all")).stdout
    assert "nothing to kill" in ok(project.inv("kill", "--all")).stdout
    assert "nothing to remove" in ok(project.inv("rm", "--all")).stdout
    assert "no images of" in ok(project.inv("rmi", "--all")).stdout
    assert "no containers of" in ok(project.inv("ps")).stdout
