"""Which engine and image store the tasks talk to, and how to read what they report.

Docker keeps images in one of two stores. The classic one (overlay2 and other graph drivers)
keeps unpacked layers only. The containerd image store (the default of Docker Desktop and of
new Docker Engine 29 installs) keeps each layer's archive as it came (compressed from a registry,
uncompressed from this project's builds: commands.LOAD) and unpacks it beside it; its figures differ:

| figure                          | classic store             | containerd store                          |
|---------------------------------|---------------------------|-------------------------------------------|
| `GET /images/json` Size         | unpacked layers           | unpacked layers + stored archives         |
| `GET /images/{id}/json` Size    | unpacked layers           | stored archives (compressed when pulled)  |
| an image replaced by a rebuild  | stays, dangling           | is deleted                                |
| an image's id                   | its config's digest       | its manifest's digest                     |

The functions here are pure: they read the engine's answers, passed in.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime

CONTAINERD = "containerd"
CLASSIC = "classic"

# The oldest engine the tasks work with: Docker 20.10 (API 1.41) brought the Dockerfile frontend
# with RUN --mount built in (the Dockerfile's cache and bind mounts need it, and no `# syntax=`
# line can be pulled where no registry is reachable) and Swarm jobs (`inv swarm-run`).
OLDEST_ENGINE = (20, 10)
UPGRADE = ("upgrade Docker to 20.10 or newer: Docker Desktop 3.0+, or docker-ce from docs.docker.com/engine/install "
           "(Debian and Ubuntu: the docker.io package of a current release)")


@dataclass(frozen=True)
class Engine:
    version: str  # as the engine reports it, e.g. 26.1.5+dfsg1
    api_version: str
    store: str  # CONTAINERD or CLASSIC
    storage_driver: str  # overlay2 (classic); overlayfs, the snapshotter (containerd)

    @property
    def described(self) -> str:
        store = ("the containerd image store" if self.store == CONTAINERD
                 else f"the classic image store ({self.storage_driver})")
        return f"Docker Engine {self.version} (API {self.api_version}), {store}"


def image_store(info: dict) -> str:
    """CONTAINERD when the engine keeps its images in containerd (`docker info`: driver-type
    io.containerd.snapshotter.v1), else CLASSIC."""
    status = dict(pair for pair in info.get("DriverStatus") or [] if len(pair) == 2)
    return CONTAINERD if status.get("driver-type", "").startswith("io.containerd.snapshotter") else CLASSIC


def engine_from(info: dict, version: dict) -> Engine:
    """The engine, from `GET /info` and `GET /version`."""
    return Engine(version=version.get("Version") or info.get("ServerVersion") or "unknown",
                  api_version=version.get("ApiVersion", "unknown"), store=image_store(info),
                  storage_driver=info.get("Driver", "unknown"))


def version_numbers(version: str) -> tuple[int, int] | None:
    """(major, minor) of `26.1.5+dfsg1`, `v25.0.0-rc.1` or `20.10.24`; None when it is not a version."""
    found = re.match(r"v?(\d+)\.(\d+)", version.strip())
    return (int(found[1]), int(found[2])) if found else None


def too_old(version: str) -> str | None:
    """Why the tasks cannot work with this engine version, with the fix; None when they can."""
    numbers = version_numbers(version)
    if numbers is None or numbers >= OLDEST_ENGINE:
        return None
    oldest = ".".join(map(str, OLDEST_ENGINE))
    return (f"Docker Engine {version} is older than {oldest}, the oldest these tasks work with: builds need RUN "
            f"--mount in Dockerfiles and `inv swarm-run` needs Swarm jobs; {UPGRADE}")


def buildx_version(output: str) -> str | None:
    """`0.13.1` from `docker buildx version` (`github.com/docker/buildx v0.13.1 abc123`)."""
    words = output.split()
    return words[1].lstrip("v") if len(words) >= 2 and "buildx" in words[0] else None


def buildkit_version(inspect_output: str) -> str | None:
    """BuildKit's version from `docker buildx inspect`; None when the builder does not say (some
    distributions' engines report `v0.0.0+unknown` for the BuildKit built into them)."""
    found = re.search(r"^\s*BuildKit version:\s*(\S+)", inspect_output, re.M)
    if not found or found[1].startswith(("v0.0.0", "0.0.0")):
        return None
    return found[1].lstrip("v")


ENDED = frozenset({"exited", "dead"})  # a container's State.Status once its process is gone


def engine_time(text: str) -> datetime:
    """A time as the engine writes it (RFC 3339 with nanoseconds, `...:05.123456789Z`)."""
    whole, _, fraction = text.rstrip("Z").partition(".")
    return datetime.fromisoformat(f"{whole}.{(fraction + '000000')[:6]}+00:00")


def image_summary(summary: dict, details: dict) -> dict:
    """A `GET /images/json` summary with what `docker image inspect` adds (engine.images_inspected):
    `Created` to the microsecond rather than the second (builds less than a second apart are
    common, and `--keep` must know which came last), `InspectedSize` (see unpacked_size), and the
    platform the image runs here (Os, Architecture, Variant; see platforms.held)."""
    return {**summary, "Created": engine_time(details["Created"]).timestamp(), "InspectedSize": details.get("Size", 0),
            **{key: details[key] for key in ("Os", "Architecture", "Variant") if details.get(key)}}


def unpacked_size(listed: int, inspected: int, store: str) -> int:
    """What an image's files take unpacked, the figure that means the same on both stores: the
    classic store reports it as is; the containerd store lists unpacked plus compressed content,
    and inspects as compressed content alone."""
    if store == CONTAINERD and 0 < inspected <= listed:
        return listed - inspected
    return listed


PUSHED_NOTE = ("PUSHED: its layers compressed, as the registry held them at its last `inv push`, which says "
               "what each push sent (- never pushed, ? pushed by an older machinery)")
SIZE_NOTE = {
    CLASSIC: ("UNPACKED: its layers on disk, shared ones counted in each image, as `docker images` shows them; "
              f"{PUSHED_NOTE}"),
    CONTAINERD: ("UNPACKED: its layers on disk, shared ones counted in each image; the containerd image store also "
                 "keeps each image's layers as archives (STORED: the base image's compressed, this project's "
                 "uncompressed until `inv push` compresses them), and `docker images` shows the sum; "
                 f"{PUSHED_NOTE}"),
}

RECLAIM_NOTE = {
    CLASSIC: "",
    CONTAINERD: ("; with the containerd image store, layers that BuildKit's build cache also holds stay until "
                 "`docker buildx prune`, which costs the next build its cache"),
}
