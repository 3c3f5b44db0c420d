"""Registries: where an image goes, how to log in, and what a push said (pure functions)."""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from docker_tasks import labels, records, stores
from docker_tasks.errors import TaskError
from docker_tasks.tags import check_image_name, registry_host

ECR_HOST = re.compile(r"^\d{12}\.dkr\.ecr\.(?P<region>[a-z0-9-]+)\.amazonaws\.com(\.cn)?$")
PUSH_RECORD = Path(".dockertasks") / "pushes.json"
SBOM_FOLDER = Path(".dockertasks") / "sbom"  # a copy of each SBOM pushed (sbom.py)
REGISTRY_FORM = "a host with an optional path, e.g. registry.example.com/team or localhost:5000"


def target_repository(image_name: str, registry: str | None) -> str:
    """Where pushes go: IMAGE_NAME itself when it names a registry, else REGISTRY/IMAGE_NAME."""
    if registry_host(image_name):
        return image_name
    if not registry:
        raise TaskError("no registry to push to: set REGISTRY (flag --registry, the environment or .env), "
                        f"{REGISTRY_FORM}, or give IMAGE_NAME a registry prefix")
    registry = registry.rstrip("/")
    if "://" in registry:
        raise TaskError(f"registry {registry!r}: leave out the scheme; give {REGISTRY_FORM}")
    return check_image_name(f"{registry}/{image_name}")


def login_server(registry: str | None, image_name: str) -> str:
    """The host `docker login` needs: from REGISTRY (which may carry a path), else from IMAGE_NAME."""
    if registry:
        return registry.split("://")[-1].split("/")[0]
    host = registry_host(image_name)
    if host is None:
        raise TaskError(f"which registry? give --registry ({REGISTRY_FORM}) or set REGISTRY")
    return host


def ecr_region_of(image_name: str) -> str | None:
    """The AWS region of IMAGE_NAME's ECR registry (or of a registry host); None for another registry, or none."""
    found = ECR_HOST.match(image_name.split("/")[0])
    return found["region"] if found else None


def ecr_region(server: str) -> str:
    region = ecr_region_of(server)
    if region is None:
        raise TaskError(f"{server} is not an Amazon ECR registry "
                        "(ACCOUNT.dkr.ecr.REGION.amazonaws.com); leave out --ecr for other registries")
    return region


def login_command(server: str, username: str) -> list[str]:
    """`docker login`, with the password on standard input: it never appears in an argument list."""
    return ["docker", "login", "--username", username, "--password-stdin", server]


def explain_registry_error(message: str, server: str) -> str:
    """One line for what a registry or the engine said about a push, a pull or a login."""
    message = " ".join(message.split())
    lowered = message.lower()
    if "no basic auth credentials" in lowered:  # what the engine says when docker holds no login for it
        return f"{server} wants a login, and Docker holds none for it; log in with `inv login --registry {server}`"
    if "unauthorized" in lowered or "authentication required" in lowered or "incorrect username" in lowered:
        return f"{server} refused the credentials ({message}); log in with `inv login --registry {server}`"
    if "no such host" in lowered or "server misbehaving" in lowered:
        return f"unknown registry host {server}: check REGISTRY or IMAGE_NAME for typos"
    if "connection refused" in lowered or "i/o timeout" in lowered or "connection reset" in lowered:
        return f"the registry {server} does not answer ({message}); is it running and reachable?"
    if "denied" in lowered or "name unknown" in lowered or "not allowed" in lowered or "forbidden" in lowered:
        return f"{server} does not let you use that name ({message}); check the repository and your rights"
    if "manifest unknown" in lowered or "not found" in lowered:
        return f"{server} has no such image ({message}); check the tag or digest"
    if "http response to https client" in lowered:
        return f"{server} speaks plain HTTP; add it to the engine's insecure-registries, or serve it over TLS"
    return f"{server}: {message}"


@dataclass
class Outcome:
    """How a pull or a push ended: the digest the registry reported, or the error it gave."""

    digest: str | None = None
    error: str | None = None
    layers: dict[str, str] = field(default_factory=dict)  # each layer's id in the progress: what became of it


# The digest in a status line: `Digest: sha256:...` after a pull, `TAG: digest: sha256:... size: N`
# after a push.
DIGEST_LINE = re.compile(r"(?:^|: )digest: (sha256:[0-9a-f]{64})\b", re.IGNORECASE)

FINISHED_LAYER = {"Pull complete": "pulled", "Already exists": "already there", "Pushed": "pushed",
                  "Layer already exists": "already there"}


def finished(status: str) -> str | None:
    """What became of a layer, from the status that ends its progress; None for the others. A
    push mounts a layer that the registry holds in another repository rather than send it."""
    if status.startswith("Mounted from "):
        return f"mounted from {status.removeprefix('Mounted from ')}"
    return FINISHED_LAYER.get(status)


def layer_lines(events: Iterable[dict]) -> Iterator[str | Outcome]:
    """Turn the engine's JSON progress of a pull or a push into one line per finished layer, then
    the outcome."""
    digest, layers = None, {}
    for event in events:
        if "error" in event or "errorDetail" in event:
            yield Outcome(digest, (event.get("errorDetail") or {}).get("message") or event.get("error"), layers)
            return
        status = event.get("status", "")
        if event.get("id") and finished(status):
            layers[event["id"]] = finished(status)
            yield f"  layer {event['id']}: {finished(status)}"
        found = DIGEST_LINE.search(status)
        digest = found.group(1) if found else digest
    yield Outcome(digest, layers=layers)


@dataclass(frozen=True)
class Tally:
    """What a push moved: the compressed bytes of the layers it sent and of those the registry
    already had, counting a layer the image holds twice once."""

    sent: int
    had: int
    sent_layers: int
    layers: int

    @property
    def image(self) -> int:
        return self.sent + self.had


def manifests_of(inspected: dict | list) -> list[dict]:
    """The image manifests of what `docker manifest inspect --verbose` printed: one for an image,
    one a platform for an index, whose attestations (platform unknown/unknown) hold no layers."""
    entries = inspected if isinstance(inspected, list) else [inspected]
    images = [entry for entry in entries
              if ((entry.get("Descriptor") or {}).get("platform") or {}).get("os") != "unknown"]
    return [entry.get("OCIManifest") or entry.get("SchemaV2Manifest") or {} for entry in images]


def push_tally(layers: Mapping[str, str], manifests: Iterable[dict], diff_ids: Sequence[str]) -> Tally | None:
    """Bytes sent and bytes the registry had, from what the push said of each layer (`layers`, by
    the short id the engine shows) and the manifests the registry now serves, whose blobs carry
    their layers' compressed sizes. The containerd store names a layer by its blob's digest, the classic
    one by its uncompressed digest (`diff_ids`, the image's, in the order of the manifest's
    layers). A blob the push did not name was there already. None when no manifest came back."""
    blobs: dict[str, tuple[int, bool]] = {}
    manifests = [m for m in manifests if m.get("layers")]
    for manifest in manifests:
        for index, layer in enumerate(manifest["layers"]):
            digest = layer["digest"]
            names = {_short(digest)}
            if len(manifests) == 1 and index < len(diff_ids):
                names.add(_short(diff_ids[index]))
            sent = any(layers.get(name) == "pushed" for name in names) or blobs.get(digest, (0, False))[1]
            blobs[digest] = (layer.get("size", 0), sent)
    if not blobs:
        return None
    sent = [size for size, was_sent in blobs.values() if was_sent]
    return Tally(sum(sent), sum(size for size, was_sent in blobs.values() if not was_sent), len(sent), len(blobs))


def _short(digest: str) -> str:
    return digest.removeprefix("sha256:")[:12]


def tally_line(tally: Tally) -> str:
    """`sent 1.2MB (1 of 14 layers); the registry already had 167.3MB, 99.3% of the image's 168.5MB compressed`."""
    from docker_tasks.tables import human_size

    share = f"{100 * tally.had / tally.image:.1f}%" if tally.image else "all"
    return (f"sent {human_size(tally.sent)} ({tally.sent_layers} of {tally.layers} layers); the registry already "
            f"had {human_size(tally.had)}, {share} of the image's {human_size(tally.image)} compressed")


class TransferProgress:
    """Bytes and speed of each layer a pull or a push is moving, from the engine's JSON progress,
    for a terminal to redraw in place (shipping._follow); without one, only layer_lines' are shown."""

    MOVING = {"Downloading": "downloading", "Extracting": "unpacking", "Pushing": "pushing"}

    def __init__(self) -> None:
        self.layers: dict[str, tuple[str, int, int, float]] = {}  # id: phase, bytes so far, of total, since

    def update(self, event: dict, now: float) -> None:
        layer, status = event.get("id"), event.get("status", "")
        detail = event.get("progressDetail") or {}
        if not layer:
            return
        if status in self.MOVING and detail.get("total"):
            phase = self.MOVING[status]
            since = self.layers[layer][3] if layer in self.layers and self.layers[layer][0] == phase else now
            self.layers[layer] = (phase, detail.get("current", 0), detail["total"], since)
        elif finished(status) or status == "Download complete":
            self.layers.pop(layer, None)

    def lines(self, now: float) -> list[str]:
        from docker_tasks.tables import human_size

        shown = []
        for layer, (phase, done, total, since) in self.layers.items():
            speed = done / (now - since) if now - since >= 0.5 else 0
            rate = f", {human_size(int(speed))}/s" if speed else ""
            shown.append(f"  layer {layer}: {phase} {human_size(done)} / {human_size(total)}{rate}")
        return shown


def push_error(tail: Iterable[str]) -> str:
    """What BuildKit said went wrong with a push (or the compressed copy for one): its last `ERROR:` line."""
    errors = [line.split("ERROR:", 1)[1].strip() for line in tail if "ERROR:" in line]
    return errors[-1] if errors else "the push failed, and BuildKit gave no reason"


INDEX_TYPES = ("application/vnd.oci.image.index.v1+json", "application/vnd.docker.distribution.manifest.list.v2+json")


def config_digest(metadata: dict) -> str | None:
    """The digest of the image's config, from the metadata file BuildKit writes for an image
    (`docker buildx build --metadata-file`). An index (several platforms, or an attestation) has a
    config per image, none of its own, though BuildKit writes one's digest there."""
    is_index = (metadata.get("containerimage.descriptor") or {}).get("mediaType") in INDEX_TYPES
    return None if is_index else metadata.get("containerimage.config.digest")


def read_pushes(root: Path) -> list[dict]:
    return records.read_list(root / PUSH_RECORD)


def what_was_pushed(platforms: list[str], provenance: bool) -> str:
    """`, an index of linux/amd64, linux/arm64 and its provenance`; nothing for one image alone."""
    if len(platforms) <= 1 and not provenance:
        return ""
    images = ", ".join(platforms) if len(platforms) > 1 else "the image"
    return f", an index of {images}" + (" and its provenance" if provenance else "")


def provenance_blocker(image_labels: dict, git, store: str) -> str | None:
    """Why an image cannot be pushed with a provenance attestation, or None when it can. The push
    rebuilds it from BuildKit's cache, so that the attestation is the build's own; that gives the
    very image only for a reproducible build of the commit checked out. The classic store's
    builder makes no attestations at all."""
    if store == stores.CLASSIC:
        return ("with the classic image store, the engine's builder attaches no attestations (BuildKit: "
                "\"Attestation is not supported for the docker driver\"); the containerd image store does "
                "(docs.docker.com/engine/storage/containerd)")
    if image_labels.get(labels.REPRODUCIBLE) != "true":
        return ("an everyday build records the time it was built, so no rebuild gives it again; "
                "`inv build --reproducible` makes an image that carries its provenance "
                "(docs/releases.md, \"Provenance\")")
    if git is None or git.sha is None or git.dirty or image_labels.get(labels.GIT_SHA) != git.sha:
        return (f"it was built from commit {image_labels.get(labels.GIT_SHA, '?')[:12]}, and the checkout is not that "
                "commit, clean; check it out to push it with its provenance")
    return None


def record_push(root: Path, *, reference: str, digest: str, image_id: str, when: datetime,
                config: str | None = None, compression: str | None = None, provenance: bool = False,
                sbom: str | None = None, tally: Tally | None = None) -> None:
    """Append a push to the local, git-ignored record that `inv images` shows. `config` is the digest
    of the image's config, the same in the registry as here: the pushed layers are compressed, so the
    registry's manifest digest differs from the local image id on the containerd store."""
    records.append_to_list(root / PUSH_RECORD, {
        "reference": reference, "digest": digest, "image_id": image_id, "config": config,
        "compression": compression, "provenance": provenance, "sbom": sbom,
        "sent_bytes": tally.sent if tally else None, "pushed_bytes": tally.image if tally else None,
        "pushed_at": when.isoformat(timespec="seconds")})
