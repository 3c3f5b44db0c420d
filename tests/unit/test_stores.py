import pytest

from docker_tasks import stores

# What Docker 26.1 answered here, on each store (trimmed to the fields read).
CONTAINERD_INFO = {"Driver": "overlayfs", "DriverStatus": [["driver-type", "io.containerd.snapshotter.v1"]],
                   "ServerVersion": "26.1.5+dfsg1"}
CLASSIC_INFO = {"Driver": "overlay2", "DriverStatus": [["Backing Filesystem", "extfs"], ["Supports d_type", "true"],
                                                      ["Using metacopy", "false"], ["Native Overlay Diff", "true"]],
                "ServerVersion": "26.1.5+dfsg1"}
VERSION = {"Version": "26.1.5+dfsg1", "ApiVersion": "1.45"}


@pytest.mark.parametrize("info, store", [
    (CONTAINERD_INFO, stores.CONTAINERD), (CLASSIC_INFO, stores.CLASSIC), ({}, stores.CLASSIC),
    ({"DriverStatus": None}, stores.CLASSIC),
], ids=["containerd", "overlay2", "empty", "no-status"])
def test_image_store(info, store):
    assert stores.image_store(info) == store


def test_the_engine_is_described_with_its_store():
    assert stores.engine_from(CONTAINERD_INFO, VERSION).described == \
        "Docker Engine 26.1.5+dfsg1 (API 1.45), the containerd image store"
    assert stores.engine_from(CLASSIC_INFO, VERSION).described == \
        "Docker Engine 26.1.5+dfsg1 (API 1.45), the classic image store (overlay2)"


@pytest.mark.parametrize("version, numbers", [
    ("26.1.5+dfsg1", (26, 1)), ("20.10.24", (20, 10)), ("v25.0.0-rc.1", (25, 0)), ("dev", None), ("", None),
])
def test_version_numbers(version, numbers):
    assert stores.version_numbers(version) == numbers


@pytest.mark.parametrize("version", ["20.10.0", "20.10.24+dfsg1", "23.0.6", "29.0.0", "master-dev"])
def test_engines_the_tasks_work_with(version):
    assert stores.too_old(version) is None


@pytest.mark.parametrize("version", ["19.03.15", "18.09.1", "20.9.0", "1.13.1"])
def test_older_engines_are_refused_with_the_fix(version):
    reason = stores.too_old(version)
    assert reason.startswith(f"Docker Engine {version} is older than 20.10, the oldest these tasks work with")
    assert "upgrade Docker to 20.10 or newer" in reason and "\n" not in reason


@pytest.mark.parametrize("output, version", [
    ("github.com/docker/buildx 0.13.1+ds1 0.13.1+ds1-3\n", "0.13.1+ds1"),
    ("github.com/docker/buildx v0.17.1-desktop.1 257815a6fb\n", "0.17.1-desktop.1"),
    ("", None), ("docker: 'buildx' is not a docker command.", None),
])
def test_buildx_version(output, version):
    assert stores.buildx_version(output) == version


@pytest.mark.parametrize("output, version", [
    ("Name: default\nDriver: docker\nNodes:\nBuildKit version: v0.13.2\nPlatforms: linux/amd64\n", "0.13.2"),
    ("Nodes:\nBuildKit version: v0.0.0+unknown\n", None),  # Debian's engine
    ("Name: default\n", None),
])
def test_buildkit_version(output, version):
    assert stores.buildkit_version(output) == version


@pytest.mark.parametrize("listed, inspected, store, unpacked", [
    (702_109_631, 168_508_183, stores.CONTAINERD, 533_601_448),  # an image of this project, Docker 26
    (485_000_000, 485_000_000, stores.CLASSIC, 485_000_000),
    (1000, 0, stores.CONTAINERD, 1000),  # not inspected: the listed figure, rather than a wrong one
    (1000, 2000, stores.CONTAINERD, 1000),
])
def test_unpacked_size_means_the_same_on_both_stores(listed, inspected, store, unpacked):
    assert stores.unpacked_size(listed, inspected, store) == unpacked

