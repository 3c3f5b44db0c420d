"""`inv build` against the real engine: tags, labels, the dirty and no-git cases, the image's safety."""

from datetime import datetime

import pytest

pytestmark = pytest.mark.image_store  # images: how they are listed, sized, removed, pushed


def test_a_build_is_tagged_with_the_commit_and_latest(built, engine):
    image = engine.images.get(f"{built.image_name}:{built.head(short=True)}")
    assert f"{built.image_name}:latest" in image.tags
    assert built.head().startswith(built.head(short=True))


def test_the_labels_match_git(built, engine):
    image = engine.images.get(f"{built.image_name}:latest")
    labels = image.labels
    head = built.head()
    assert labels["dockertasks.project"] == built.image_name
    assert labels["dockertasks.git.sha"] == head
    assert labels["dockertasks.git.dirty"] == "false"
    assert labels["org.opencontainers.image.revision"] == head
    assert labels["org.opencontainers.image.title"] == built.image_name
    created = datetime.fromisoformat(labels["org.opencontainers.image.created"])
    assert created.timestamp() == built.commit_time()  # a clean build is dated by its commit


def test_the_image_runs_as_a_non_root_user(built, engine):
    image = f"{built.image_name}:latest"
    assert engine.images.get(image).attrs["Config"]["User"] == "10001:10001"
    uid = engine.containers.run(image, entrypoint="id", command=["-u"], remove=True,
                                labels={"dockertasks.project": built.image_name})
    assert uid.decode().strip() == "10001"


def test_dotenv_never_reaches_the_image(built, engine, canary):
    image = f"{built.image_name}:latest"
    found = engine.containers.run(image, entrypoint="find", command=["/", "-xdev", "-name", ".env*"], user="0",
                                  remove=True,
                                  labels={"dockertasks.project": built.image_name})
    assert found.decode().strip() == ""
    history = engine.api.history(image)
    assert canary not in repr(engine.images.get(image).attrs) + repr(history)


def test_the_build_context_holds_only_what_the_image_needs(built, engine):
    listing = engine.containers.run(f"{built.image_name}:latest", entrypoint="find", remove=True,
                                    command=["/app", "-not", "-path", "*/__pycache__*"],
                                    labels={"dockertasks.project": built.image_name})
    assert sorted(listing.decode().split()) == sorted(
        ["/app", "/app/output", "/app/requirements.lock", "/app/requirements.txt", "/app/system-packages.txt",
         "/app/build-packages.txt", "/app/pyproject.toml",
         "/app/src", *(f"/app/src/{f.name}" for f in (built.root / "src").glob("*.py"))]
    )


def test_uncommitted_changes_get_a_dirty_tag_of_their_own(make_project, engine):
    project = make_project()
    main = project.root / "src" / "main.py"
    short = project.head(short=True)
    tags = []
    for change in ("# first change\n", "# second change\n"):
        main.write_text(main.read_text() + change)
        result = project.inv("build")
        assert result.returncode == 0, result.stderr[-3000:]
        tags.append(next(t for t in engine.images.get(f"{project.image_name}:latest").tags if "-dirty-" in t))
    assert tags[0] != tags[1]
    assert all(t.startswith(f"{project.image_name}:{short}-dirty-") for t in tags)
    assert engine.images.get(tags[1]).labels["dockertasks.git.dirty"] == "true"
    with pytest.raises(Exception, match="not found|No such image"):
        engine.images.get(f"{project.image_name}:{short}")


def test_outside_git_the_build_warns_and_takes_a_fallback_tag(make_project, engine):
    project = make_project(with_git=False)
    result = project.inv("build")
    assert result.returncode == 0, result.stderr[-3000:]
    assert "warning:" in result.stdout and "not in a git repository" in result.stdout
    tags = engine.images.get(f"{project.image_name}:latest").tags
    assert any(t.startswith(f"{project.image_name}:no-git-") for t in tags)


def test_a_dry_run_prints_the_command_and_builds_nothing(make_project, engine):
    project = make_project()
    result = project.inv("build", "--dry-run")
    assert result.returncode == 0
    assert result.stdout.startswith("docker buildx build --output type=docker,compression=uncompressed ")
    assert engine.images.list(filters={"label": f"dockertasks.project={project.image_name}"}) == []


def test_a_bad_extra_tag_is_refused_before_building(built):
    result = built.inv("build", "--tag", "-bad")
    assert result.returncode == 1
    assert result.stderr.strip().startswith("error: tag '-bad' is not a valid Docker tag")
