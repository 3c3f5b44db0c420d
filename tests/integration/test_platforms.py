"""Multi-platform images: one build of several platforms, run one of them, push them as one index.

Only the containerd image store keeps such an image; on the classic store the build is refused in
one line (CI runs this file on both stores: .ci/run). The foreign platform (arm64 here) runs under
QEMU, which needs the base image to hold it: `DOCKER_UP_PLATFORMS=linux/amd64,linux/arm64
../shared/ci/docker-up` makes it so, and CI does.
"""

import os
import re
import subprocess

import pytest

from tests.integration.conftest import BASE_IMAGE

pytestmark = pytest.mark.image_store
BOTH = "linux/amd64,linux/arm64"


def ok(result):
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return result


def store() -> str:
    status = subprocess.run(["docker", "info", "--format", "{{json .DriverStatus}}"], capture_output=True,
                            text=True, check=True).stdout
    return "containerd" if "io.containerd.snapshotter" in status else "classic"


def base_holds_arm64() -> bool:
    found = subprocess.run(["docker", "image", "inspect", "--format", '{{index .Config.Labels "local.platforms"}}',
                            BASE_IMAGE or "python:3.11-slim"], capture_output=True, text=True)
    return "linux/arm64" in found.stdout


@pytest.fixture(scope="module")
def both_platforms(make_project):
    if store() == "classic":
        pytest.skip("the classic store keeps one platform per image (its refusal is tested below)")
    if not base_holds_arm64():
        message = f"{BASE_IMAGE} holds no linux/arm64: run DOCKER_UP_PLATFORMS={BOTH} ../shared/ci/docker-up"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    project = make_project()
    built = ok(project.inv("build", "--platform", BOTH))
    assert "for linux/amd64, linux/arm64" in built.stdout
    return project


def test_the_classic_store_refuses_a_multi_platform_build_in_one_line(make_project):
    if store() != "classic":
        pytest.skip("the containerd store builds it (the tests below)")
    project = make_project()
    refused = project.inv("build", "--platform", BOTH)
    assert refused.returncode == 1 and refused.stderr.count("\n") == 1
    assert "the classic image store keeps one platform per image" in refused.stderr
    assert "`inv build --platform linux/amd64`" in refused.stderr
    assert "no images of" in ok(project.inv("images")).stdout


def test_images_shows_both_platforms_and_run_picks_one_under_emulation(both_platforms):
    project = both_platforms
    listing = ok(project.inv("images")).stdout
    assert re.search(r"\bamd64, arm64\b", listing.splitlines()[1])
    machine = ok(project.inv("run", "--platform", "linux/arm64", "--entrypoint", "uname", "--", "-m")).stdout
    assert machine.strip().splitlines()[-1] == "aarch64"
    trained = ok(project.inv("run", "--platform", "linux/arm64", "--", "train"))
    assert "train finished" in trained.stdout and (project.root / "output" / "model.json").is_file()
    refused = project.inv("run", "--platform", "linux/s390x")
    assert refused.returncode == 1
    assert "holds linux/amd64, linux/arm64, not linux/s390x, which --platform asks for" in refused.stderr


def test_push_sends_one_index_of_both_platforms_and_prints_its_digest(both_platforms, registry, tmp_path):
    project = both_platforms
    config = tmp_path / "docker-config"
    config.mkdir()
    env = {"DOCKER_CONFIG": str(config), "REGISTRY_USERNAME": registry.username,
           "REGISTRY_PASSWORD": registry.password, "PLATFORM": BOTH}
    ok(project.inv("login", "--registry", registry.host, env=env))
    pushed = ok(project.inv("push", "--registry", registry.host, "--tag", "latest", env=env)).stdout
    digest = re.search(r"@(sha256:[0-9a-f]{64}), an index of linux/amd64, linux/arm64$", pushed, re.M).group(1)
    assert registry.manifest_digest(project.image_name, "latest") == digest
    index = registry.index(project.image_name, "latest")
    assert sorted(m["platform"]["architecture"] for m in index["manifests"]) == ["amd64", "arm64"]

    project.commit_change("an amd64-only build")
    ok(project.inv("build", "--platform", "linux/amd64"))
    refused = project.inv("push", "--registry", registry.host, "--tag", "latest", env=env)
    assert refused.returncode == 1
    assert "holds linux/amd64, not linux/arm64, which PLATFORM asks for" in refused.stderr


def test_the_release_path_one_reproducible_index_of_both_platforms_with_provenance(both_platforms, make_project,
                                                                                  registry, tmp_path):
    """What the fork's workflow does on a tag: build reproducibly for both platforms, verify, push."""
    project = make_project()
    config = tmp_path / "docker-config"
    config.mkdir()
    env = {"DOCKER_CONFIG": str(config), "REGISTRY_USERNAME": registry.username,
           "REGISTRY_PASSWORD": registry.password, "PLATFORM": BOTH}
    ok(project.inv("build", "--reproducible", env=env))
    assert "✓ yes" in ok(project.inv("verify", env=env)).stdout
    ok(project.inv("tag", "--version", "1.2.3", env=env))
    ok(project.inv("login", "--registry", registry.host, env=env))
    pushed = ok(project.inv("push", "--registry", registry.host, "--version", "1.2.3", env=env)).stdout
    assert re.search(r"@sha256:[0-9a-f]{64}, an index of linux/amd64, linux/arm64 and its provenance$", pushed, re.M)
    index = registry.index(project.image_name, "1.2.3")
    kinds = sorted((m.get("annotations") or {}).get("vnd.docker.reference.type", m["platform"]["architecture"])
                   for m in index["manifests"])
    assert kinds == ["amd64", "arm64", "attestation-manifest", "attestation-manifest"]
    assert "published its SBOM" in pushed
