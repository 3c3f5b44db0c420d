"""Comparing two image archives, built here by hand in the layout `docker save` writes."""

import gzip
import hashlib
import io
import json
import tarfile

from docker_tasks import image_archive
from docker_tasks.tasks.release import compare, shorten

STEPS = ["RUN |1 A=1 /bin/sh -c useradd app", "COPY . . # buildkit"]


def layer(files: dict[str, tuple[bytes, int]], compress: bool = False) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as archive:
        for name, (content, mtime) in sorted(files.items()):
            info = tarfile.TarInfo(name)
            info.size, info.mtime, info.mode = len(content), mtime, 0o644
            archive.addfile(info, io.BytesIO(content))
    raw = buffer.getvalue()
    return gzip.compress(raw, mtime=0) if compress else raw


def image(path, layers: list[dict], labels: dict | None = None, compress: bool = False):
    """Write an archive of one image whose layers hold `layers`; return its path."""
    blobs = [layer(files, compress) for files in layers]
    uncompressed = [layer(files) for files in layers]
    config = json.dumps({
        "rootfs": {"type": "layers", "diff_ids": [f"sha256:{hashlib.sha256(b).hexdigest()}" for b in uncompressed]},
        "config": {"Labels": labels or {}},
        "history": [{"created_by": "ENV X=1", "empty_layer": True}, *({"created_by": s} for s in STEPS)],
    }).encode()
    members = {f"blobs/sha256/{hashlib.sha256(b).hexdigest()}": b for b in [config, *blobs]}
    manifest = [{"Config": f"blobs/sha256/{hashlib.sha256(config).hexdigest()}",
                 "Layers": [f"blobs/sha256/{hashlib.sha256(b).hexdigest()}" for b in blobs]}]
    members["manifest.json"] = json.dumps(manifest).encode()
    with tarfile.open(path, "w") as archive:
        for name, content in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(content)
            archive.addfile(info, io.BytesIO(content))
    return path


BASE = [{"etc/passwd": (b"app:x:10001", 100)}, {"app/src/main.py": (b"print(1)", 100), "app/z.txt": (b"z", 100)}]


def test_the_same_image_compares_equal_even_when_one_archive_is_compressed(tmp_path):
    assert compare(image(tmp_path / "a.tar", BASE), image(tmp_path / "b.tar", BASE, compress=True)) is None


def test_a_file_with_other_content_is_named_with_its_layer_and_step(tmp_path):
    changed = [BASE[0], {**BASE[1], "app/src/main.py": (b"print(2)", 100)}]
    found = compare(image(tmp_path / "a.tar", BASE), image(tmp_path / "b.tar", changed, compress=True))
    assert found == "first in layer 2 of 2, made by `COPY . .`: app/src/main.py has other content"


def test_a_file_dated_otherwise_is_named_with_both_dates(tmp_path):
    changed = [{"etc/passwd": (b"app:x:10001", 1_800_000_000)}, BASE[1]]
    found = compare(image(tmp_path / "a.tar", BASE), image(tmp_path / "b.tar", changed))
    assert found == ("first in layer 1 of 2, made by `useradd app`: etc/passwd is dated 1970-01-01 00:01:40 in the "
                     "image and 2027-01-15 08:00:00 in the rebuild")


def test_files_only_on_one_side_are_named(tmp_path):
    extra = [BASE[0], {**BASE[1], "app/new.txt": (b"n", 100)}]
    found = compare(image(tmp_path / "a.tar", BASE), image(tmp_path / "b.tar", extra))
    assert found.endswith("app/new.txt is only in the rebuild")
    found = compare(image(tmp_path / "c.tar", extra), image(tmp_path / "d.tar", BASE))
    assert found.endswith("app/new.txt is missing from the rebuild")


def test_same_files_but_other_settings_names_the_settings(tmp_path):
    ours = image(tmp_path / "a.tar", BASE, labels={"v": "1"})
    found = compare(ours, image(tmp_path / "b.tar", BASE, labels={"v": "2"}))
    assert found == "not in its files but in its settings: config.Labels.v"


def test_the_archive_gives_the_config_digest_and_layers(tmp_path):
    read = image_archive.read(image(tmp_path / "a.tar", BASE))
    assert read.config_digest.startswith("sha256:") and len(read.diff_ids) == 2 == len(read.layer_paths)
    assert read.step(0) == STEPS[0]


def test_a_step_is_shown_without_buildkits_argument_prefix_and_cut_to_width():
    assert shorten("RUN |2 A=1 B=2 /bin/sh -c set -e   && apt-get update") == "set -e && apt-get update"
    assert shorten("RUN |1 DATED_RUN=reproducible /usr/local/bin/dated-run -c uv pip sync") == "uv pip sync"
    assert shorten("x" * 200, width=10) == "xxxxxxxxx…"


def test_a_file_whose_content_differs_is_named_before_a_folder_dated_otherwise(tmp_path):
    ours = image(tmp_path / "a.tar", [BASE[0], {**BASE[1], "app": (b"", 100)}])
    theirs = [BASE[0], {**BASE[1], "app": (b"", 200), "app/z.txt": (b"z2", 100)}]
    found = compare(ours, image(tmp_path / "b.tar", theirs))
    assert found.endswith("app/z.txt has other content")
