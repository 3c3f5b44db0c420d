"""The figures and clean-ups whose meaning depends on the engine's image store, on the store CI
runs them on (both, in turn: see .ci/run)."""

import re
import subprocess

import pytest

pytestmark = pytest.mark.image_store


def ok(result):
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return result


@pytest.fixture(scope="module")
def image_store() -> str:
    """The store, read with the docker CLI rather than the tasks' own code."""
    status = subprocess.run(["docker", "info", "--format", "{{json .DriverStatus}}"], capture_output=True,
                            text=True, check=True).stdout
    return "containerd" if "io.containerd.snapshotter" in status else "classic"


def mb(text: str) -> float:
    number, unit = re.fullmatch(r"([\d.]+)(B|kB|MB|GB)", text).groups()
    return float(number) * {"B": 1e-6, "kB": 1e-3, "MB": 1, "GB": 1e3}[unit]


def test_doctor_names_the_engine_and_its_store(built, image_store):
    shown = built.inv("doctor").stdout  # other checks (no .env in this copy) may fail; the first line may not
    store = "the containerd image store" if image_store == "containerd" else "the classic image store (overlay2)"
    assert re.match(rf"✓ Docker Engine \d+\.\d+\S* \(API 1\.\d+\), {re.escape(store)}\n✓ buildx ", shown)


def test_images_shows_the_unpacked_size_on_either_store(built, engine, image_store):
    """And PUSHED, which a push fills in (test_registry.py); this image was never pushed."""
    listing = ok(built.inv("images")).stdout.splitlines()
    headers, row = listing[0].split(), listing[1].split()
    headers.remove("ID")  # "IMAGE ID" is one column of two words
    shown = dict(zip(headers, row, strict=False))
    files = engine.containers.run(f"{built.image_name}:latest", entrypoint="du", command=["-sxb", "/"], user="0",
                                  remove=True, labels={"dockertasks.project": built.image_name})
    in_the_image = int(files.split()[0]) / 1e6
    assert shown["PUSHED"] == "-"
    assert 0.85 < mb(shown["UNPACKED"]) / in_the_image < 1.25  # bytes of files against the blocks they take
    cli = subprocess.run(["docker", "images", "--format", "{{.Size}}", f"{built.image_name}:latest"],
                         capture_output=True, text=True, check=True).stdout.strip()
    if image_store == "containerd":
        assert mb(shown["STORED"]) < mb(shown["UNPACKED"]) / 2
        assert abs(mb(cli) - mb(shown["UNPACKED"]) - mb(shown["STORED"])) < 2  # docker images shows the sum
        assert "the containerd image store also keeps each image's layers as archives" in listing[-1]
    else:
        assert "STORED" not in headers and abs(mb(cli) - mb(shown["UNPACKED"])) < 2


def test_an_image_replaced_by_a_rebuild_is_cleaned_up_on_either_store(make_project, engine, image_store):
    """The classic store keeps an image whose tags a rebuild took, dangling; the containerd store
    deletes it, even while a stopped container still refers to it."""
    project = make_project()
    ok(project.inv("build"))
    replaced = engine.images.get(f"{project.image_name}:latest").id
    assert project.inv("run", "--no-rm", "--", "nonsense").returncode == 2  # a stopped container of it
    ok(project.inv("build", "--build-arg", "TITLE=another-title"))  # same commit, same tags, another image
    current = engine.images.get(f"{project.image_name}:latest").id
    assert current != replaced
    ours = {"label": f"dockertasks.project={project.image_name}"}
    listed = {image.id for image in engine.images.list(filters=ours)}
    assert listed == ({replaced, current} if image_store == "classic" else {current})
    listing = ok(project.inv("images")).stdout
    assert ("<untagged>" in listing) == (image_store == "classic")

    cleaned = ok(project.inv("clean")).stdout
    assert ("(dangling)" in cleaned) == (image_store == "classic")
    assert re.search(r"^reclaimed [\d.]+k?M?G?B of image layers", cleaned, re.M)
    assert ("docker buildx prune" in cleaned) == (image_store == "containerd")
    assert {image.id for image in engine.images.list(filters=ours)} == {current}
    assert engine.containers.list(all=True, filters=ours) == []

