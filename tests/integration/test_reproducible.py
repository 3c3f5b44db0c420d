"""The same commit gives the same image: the lock, the base image's pin, reproducible builds and
`inv verify`, on real builds."""

import contextlib
import io
import re
import subprocess

import docker.errors
import pytest

from docker_tasks import base_image, lockfile
from tests.integration.conftest import BASE_IMAGE, git
from tests.integration.support import free_port
from tests.integration.test_registry import client_env, login_env, ok  # noqa: F401  (client_env is a fixture)


def failed(result) -> str:
    assert result.returncode != 0, result.stdout[-3000:]
    assert "Traceback" not in result.stderr
    return result.stderr.strip().splitlines()[-1]


def project_images(engine, project) -> list:
    return engine.images.list(filters={"label": f"dockertasks.project={project.image_name}"})


def test_a_stale_lock_is_refused_before_anything_is_built(make_project, engine):
    project = make_project()
    requirements = project.root / "requirements.txt"
    requirements.write_text(requirements.read_text() + "# a comment changes nothing\n")
    ok(project.inv("build", "--dry-run"))
    requirements.write_text(requirements.read_text() + "python-dateutil==2.9.0.post0\n")
    line = failed(project.inv("build"))
    assert line == ("error: requirements.lock is older than requirements.txt, whose requirements have changed since; "
                    "run `inv lock` (or `inv reqs --write`), then build again")
    (project.root / "requirements.lock").unlink()
    assert "there is no requirements.lock" in failed(project.inv("build"))
    assert project_images(engine, project) == []


def test_inv_lock_keeps_the_pins_and_upgrade_moves_them_and_the_build_installs_the_lock(make_project, engine):
    project = make_project()
    requirements = project.root / "requirements.txt"
    requirements.write_text("six==1.16.0\n")
    locked = ok(project.inv("lock")).stdout
    assert "  six 1.17.0 -> 1.16.0" in locked and "wrote requirements.lock: 1 package" in locked
    lock = (project.root / "requirements.lock").read_text()
    assert lockfile.pins(lock) == {"six": "1.16.0"} and lock.count("--hash=sha256:") >= 2

    requirements.write_text("six>=1.15\n")  # allows newer versions: the lock keeps its pin until --upgrade
    assert "no version changed" in ok(project.inv("lock")).stdout
    assert lockfile.pins((project.root / "requirements.lock").read_text()) == {"six": "1.16.0"}
    ok(project.inv("build"))
    shown = engine.containers.run(f"{project.image_name}:latest", entrypoint="python", remove=True,
                                  command=["-c", "import six; print(six.__version__)"])
    assert shown.decode().strip() == "1.16.0"

    upgraded = ok(project.inv("lock", "--upgrade")).stdout
    newest = lockfile.pins((project.root / "requirements.lock").read_text())["six"]
    assert newest != "1.16.0" and f"  six 1.16.0 -> {newest}" in upgraded


def test_the_lock_and_the_build_look_in_the_extra_index_first(make_project, engine):
    """EXTRA_INDEX_URL reaches uv in both (the PyTorch index it is for is not reachable here): one
    that does not answer fails the lock in one line and leaves it as it was; PyPI's own, given as
    the extra one, locks and builds."""
    project = make_project()
    (project.root / "requirements.txt").write_text("six==1.16.0\n")
    before = (project.root / "requirements.lock").read_text()
    refused = project.inv("lock", env={"EXTRA_INDEX_URL": "http://127.0.0.1:9/simple"})
    assert refused.returncode == 1 and len(refused.stderr.strip().splitlines()) == 1
    assert "could not resolve requirements.txt" in refused.stderr and "127.0.0.1:9" in refused.stderr
    assert (project.root / "requirements.lock").read_text() == before
    extra = {"EXTRA_INDEX_URL": "https://pypi.org/simple/"}
    ok(project.inv("lock", env=extra))
    assert "EXTRA_INDEX_URL=https://pypi.org/simple/" in ok(project.inv("build", "--dry-run", env=extra)).stdout
    ok(project.inv("build", env=extra))
    # The builder stage installs from it, so the image's own history does not even name it.
    history = subprocess.run(["docker", "history", "--no-trunc", f"{project.image_name}:latest"],
                             capture_output=True, text=True, check=True).stdout
    assert "EXTRA_INDEX_URL" not in history


def test_a_lock_edited_by_hand_fails_the_build_in_one_line(make_project, engine):
    project = make_project()
    lock = project.root / "requirements.lock"
    lock.write_text(lock.read_text().replace("six==1.17.0", "six==1.16.0"))  # another version, the old hashes
    line = failed(project.inv("build"))
    assert line.startswith("error: the build failed: requirements.lock does not match the files the package index "
                           "serves (cause: Hash mismatch for `six==1.16.0`)")
    assert "run `inv lock`" in line
    assert project_images(engine, project) == []


@pytest.mark.image_store  # what an image id is, and what a push sends, differ between the stores
def test_two_cold_builds_of_a_commit_are_one_image_with_one_pushed_digest(make_project, engine, registry,
                                                                          client_env):  # noqa: F811
    env, _, _ = client_env
    project = make_project()
    ok(project.inv("login", "--registry", registry.host, env=login_env(registry, client_env)))
    ids, digests = [], []
    for _ in range(2):
        built = ok(project.inv("build", "--reproducible", "--no-cache"))
        assert "reproducibly" in built.stdout
        ids.append(engine.images.get(f"{project.image_name}:latest").id)
        # Without provenance: an attestation records when it was made (test_registry checks it).
        pushed = ok(project.inv("push", "--registry", registry.host, "--tag", project.head(True), "--no-provenance",
                                env=env)).stdout
        digests.append(re.search(r"^pushed \S+@(sha256:[0-9a-f]{64})$", pushed, re.M).group(1))
        ok(project.inv("rmi", "--all", "--force"))  # the second build starts with no image, nothing reused
        engine.images.remove(f"{registry.host}/{project.image_name}:{project.head(True)}", force=True)
    assert ids[0] == ids[1]
    assert digests[0] == digests[1] == registry.manifest_digest(project.image_name, project.head(True))


@pytest.mark.image_store  # `docker save` writes each store's own layout
def test_inv_verify_says_yes_for_a_reproducible_build_and_no_for_a_step_that_is_not(make_project, engine):
    project = make_project()
    ok(project.inv("build"))
    assert "built without --reproducible" in failed(project.inv("verify"))

    ok(project.inv("build", "--reproducible"))
    verified = ok(project.inv("verify"))
    assert f"✓ yes: rebuilt without cache, {project.head(True)} gives exactly" in verified.stdout
    tags = {tag for image in engine.images.list(project.image_name) for tag in image.tags}
    assert not [tag for tag in tags if ":verify-" in tag]  # the rebuild's own tag is gone

    dockerfile = project.root / "Dockerfile"
    dockerfile.write_text(dockerfile.read_text().replace("WORKDIR /app\n", "WORKDIR /app\nRUN date +%s%N > built-at\n"))
    git(project.root, "commit", "-qam", "a step whose output depends on the time of the build")
    ok(project.inv("build", "--reproducible"))
    line = failed(project.inv("verify"))
    assert line.startswith(f"error: no: the rebuild of {project.head(True)} differs from "
                           f"{project.image_name}:{project.head(True)}, first in layer ")
    assert "made by `date +%s%N > built-at`: app/built-at has other content" in line

    (project.root / "notes.txt").write_text("uncommitted\n")
    assert "uncommitted changes" in failed(project.inv("verify"))
    assert "uncommitted changes" in failed(project.inv("build", "--reproducible"))


@pytest.mark.image_store  # pushes
def test_inv_base_tells_a_moved_tag_and_update_moves_the_pin(make_project, engine, registry, client_env):  # noqa: F811
    env, _, _ = client_env
    project = make_project()
    ok(project.inv("login", "--registry", registry.host, env=login_env(registry, client_env)))
    auth = {"username": registry.username, "password": registry.password}
    repository = f"{registry.host}/{project.image_name}-python"
    reference = f"{repository}:3.11-slim"
    engine.images.get(BASE_IMAGE).tag(reference)
    digests = []
    try:
        engine.images.push(repository, "3.11-slim", auth_config=auth)
        first = registry.manifest_digest(f"{project.image_name}-python", "3.11-slim")
        digests.append(first)
        dockerfile = project.root / "Dockerfile"
        pinned = re.sub(r"^ARG BASE_IMAGE=\S+$", f"ARG BASE_IMAGE={reference}@{first}", dockerfile.read_text(),
                        flags=re.M)
        dockerfile.write_text(pinned)
        current = ok(project.inv("base", env=env)).stdout
        assert f"✓ the Dockerfile's base image is current: {reference} is now {first[:19]}…" in current
        assert "note: BASE_IMAGE=" in current  # the tests set it: the user's BASE_IMAGE wins, and is named

        # The tag moves: a new image (here the same files with a new label) is pushed under it.
        engine.images.build(fileobj=io.BytesIO(f"FROM {BASE_IMAGE}\nLABEL fixed=security\n".encode()),
                            tag=reference, rm=True)
        engine.images.push(repository, "3.11-slim", auth_config=auth)
        second = registry.manifest_digest(f"{project.image_name}-python", "3.11-slim")
        digests.append(second)
        assert second != first
        line = failed(project.inv("base", env=env))
        assert f"and {reference} is now {second[:19]}…" in line and "`inv base --update` moves the pin" in line
        assert dockerfile.read_text() == pinned

        assert "dry run" in ok(project.inv("base", "--update", "--dry-run", env=env)).stdout
        assert dockerfile.read_text() == pinned
        updated = ok(project.inv("base", "--update", env=env)).stdout
        assert re.search(rf"^  was: {re.escape(first[:19])}…, created \d{{4}}-\d\d-\d\d", updated, re.M)
        assert re.search(rf"^  now: {re.escape(second[:19])}…, created ", updated, re.M)
        assert base_image.dockerfile_pin(dockerfile.read_text()) == base_image.Pin(reference, second)
        assert dockerfile.read_text() == pinned.replace(first, second)
        assert "✓" in ok(project.inv("base", env=env)).stdout
    finally:  # the tags and pulls of this test; never the base image itself
        for name in [reference, *(f"{repository}@{digest}" for digest in digests)]:
            with contextlib.suppress(docker.errors.NotFound):
                engine.images.remove(name)


def test_inv_base_without_a_registry_is_one_line_and_changes_nothing(make_project):
    project = make_project()
    dockerfile = project.root / "Dockerfile"
    unreachable = f"127.0.0.1:{free_port()}/python:3.11-slim@sha256:{'0' * 64}"
    dockerfile.write_text(re.sub(r"^ARG BASE_IMAGE=\S+$", f"ARG BASE_IMAGE={unreachable}", dockerfile.read_text(),
                                 flags=re.M))
    before = dockerfile.read_text()
    line = failed(project.inv("base", "--update"))
    assert line.startswith(f"error: could not ask the registry what {unreachable.split('@')[0]} names now (")
    assert line.endswith("the Dockerfile is unchanged") and dockerfile.read_text() == before


def test_a_project_in_a_folder_of_its_repository_builds_reproducibly_and_its_dry_run_pastes(make_project, engine):
    """A fork that keeps the job in `jobs/churn/` of a bigger repository: the reproducible build is
    of that folder's files in the commit, `inv verify` agrees, and the two lines of the dry run,
    pasted into a shell, give the very image."""
    project = make_project(with_git=False)
    repository = project.root.parent
    (repository / "README.md").write_text("other things live here too\n")
    for args in (("init", "-q"), ("config", "user.email", "tests@example.com"), ("config", "user.name", "Tests"),
                 ("add", "-A"), ("commit", "-qm", "a job in a folder")):
        git(repository, *args)
    ok(project.inv("build", "--reproducible"))
    assert "✓ yes" in ok(project.inv("verify")).stdout
    built = engine.images.get(f"{project.image_name}:latest").id
    shown = ok(project.inv("build", "--reproducible", "--dry-run")).stdout.splitlines()
    assert shown[0].startswith("mkdir -p ") and f"git archive {project.head(True)} | tar -x -C " in shown[0]
    pasted = shown[1].replace(f"--tag {project.image_name}:latest", f"--tag {project.image_name}:pasted")
    for line in (shown[0], pasted):
        subprocess.run(["sh", "-c", line], cwd=project.root, check=True, capture_output=True)
    assert engine.images.get(f"{project.image_name}:pasted").id == built


def test_a_reproducible_dry_run_shows_the_commits_files_and_the_build(make_project):
    project = make_project()
    shown = ok(project.inv("build", "--reproducible", "--dry-run")).stdout.splitlines()
    assert f"git archive {project.head(True)} | tar -x -C " in shown[0]
    assert shown[1].startswith("docker buildx build --output type=docker,compression=uncompressed ")
    assert "--build-arg BUILD_MODE=reproducible" in shown[1]
    assert f"--build-arg SOURCE_DATE_EPOCH={project.commit_time()}" in shown[1]
