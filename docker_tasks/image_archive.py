"""Two images compared from their archives (`docker save`, or BuildKit's docker exporter): equal,
or the first place where they differ, named so that a person can find its cause.

An image is its config (which lists the digest of every layer's uncompressed content) and its
layers; two images with the same config digest hold the same files, with the same times and
owners, and the same settings. Where they differ, the first differing layer is matched to the
Dockerfile step that made it, and its files are compared one by one.
"""

from __future__ import annotations

import hashlib
import json
import tarfile
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path


@dataclass(frozen=True)
class Image:
    """What an archive holds of one image."""

    config_digest: str
    config: dict
    layer_paths: list[str]  # the layers' files within the archive, base first

    @property
    def diff_ids(self) -> list[str]:
        return list(self.config.get("rootfs", {}).get("diff_ids", []))

    def step(self, layer: int) -> str:
        """The Dockerfile step that made a layer, from the image's history."""
        history = self.config.get("history", [])
        steps = [entry.get("created_by", "") for entry in history if not entry.get("empty_layer")]
        return steps[layer] if layer < len(steps) else "an unknown step"


@dataclass(frozen=True)
class Entry:
    """One file of a layer, as the layer records it."""

    kind: str
    mode: int
    owner: str
    size: int
    mtime: int
    link: str
    content: str  # sha256 of a regular file's bytes


def read(archive: Path) -> Image:
    """The (first) image in an archive written by `docker save` or BuildKit's docker exporter."""
    with tarfile.open(archive) as outer:
        manifest = json.load(outer.extractfile("manifest.json"))[0]
        config_bytes = outer.extractfile(manifest["Config"]).read()
    return Image(config_digest=f"sha256:{hashlib.sha256(config_bytes).hexdigest()}",
                 config=json.loads(config_bytes), layer_paths=list(manifest["Layers"]))


def entries(archive: Path, layer_path: str) -> dict[str, Entry]:
    """Every file of one layer of an archive, by path; the layer may be plain or gzip-compressed."""
    found = {}
    with tarfile.open(archive) as outer, tarfile.open(fileobj=outer.extractfile(layer_path), mode="r:*") as layer:
        for member in layer:
            content = ""
            if member.isfile():
                content = hashlib.sha256(layer.extractfile(member).read()).hexdigest()
            found[member.name.removeprefix("./")] = Entry(
                kind=member.type.decode(errors="replace"), mode=member.mode, owner=f"{member.uid}:{member.gid}",
                size=member.size, mtime=int(member.mtime), link=member.linkname, content=content)
    return found


def entry_difference(path: str, ours: Entry | None, theirs: Entry | None) -> str:
    """How one file differs between the image (`ours`) and the rebuild, in words."""
    if ours is None:
        return f"{path} is only in the rebuild"
    if theirs is None:
        return f"{path} is missing from the rebuild"
    if ours.content != theirs.content or ours.size != theirs.size:
        return f"{path} has other content"
    if ours.mtime != theirs.mtime:
        return f"{path} is dated {_when(ours.mtime)} in the image and {_when(theirs.mtime)} in the rebuild"
    for label, mine, other in (("kind", ours.kind, theirs.kind), ("permissions", oct(ours.mode), oct(theirs.mode)),
                               ("owner", ours.owner, theirs.owner), ("link target", ours.link, theirs.link)):
        if mine != other:
            return f"{path} has {label} {mine} in the image and {other} in the rebuild"
    return f"{path} differs in its archive headers"


def first_file_difference(ours: dict[str, Entry], theirs: dict[str, Entry]) -> str | None:
    """The first file that differs, in path order: one whose content differs, or that only one side
    has, before one that differs only in its date or other metadata, which is often a consequence."""
    differing = [path for path in ours.keys() | theirs.keys() if ours.get(path) != theirs.get(path)]

    def only_metadata(path: str) -> bool:
        mine, other = ours.get(path), theirs.get(path)
        return mine is not None and other is not None and (mine.content, mine.size) == (other.content, other.size)

    if not differing:
        return None
    path = min(differing, key=lambda path: (only_metadata(path), path))
    return entry_difference(path, ours.get(path), theirs.get(path))


def config_differences(ours: dict, theirs: dict, prefix: str = "") -> list[str]:
    """The config's fields that differ, as dotted paths (`config.Labels.org.opencontainers.image.version`)."""
    found = []
    for key in sorted(ours.keys() | theirs.keys()):
        mine, other = ours.get(key), theirs.get(key)
        if mine == other:
            continue
        if isinstance(mine, dict) and isinstance(other, dict):
            found += config_differences(mine, other, f"{prefix}{key}.")
        else:
            found.append(f"{prefix}{key}")
    return found


def _when(seconds: int) -> str:
    return datetime.fromtimestamp(seconds, UTC).strftime("%Y-%m-%d %H:%M:%S")
