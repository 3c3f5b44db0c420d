"""Splits the builder's virtualenv into the image's 16 layers of packages (standard library only).

One layer for the whole virtualenv means a one-package change sends all of it again, to the
registry and to every node that pulls. Here each installed distribution goes, with its files, to
one of 16 folders that the Dockerfile copies as layers of their own:

  00       the virtualenv itself (its python, bin/ and the console scripts, pyvenv.cfg), with the
           files no distribution names, and `_venv_layers.pth`, which puts the other folders on
           the import path (site.addsitedir, so the .pth files packages ship work there too);
  01-07    the largest packages, 20 MB and up, each alone, in /opt/venv-layers/<name>;
  08-15    the rest, in eight buckets /opt/venv-layers/bucket-NN, a package's bucket chosen by its
           name, so that it always falls in the same one.

A layer's bytes then depend only on the packages in it: a new version of one package changes its
layer, and the .pth of layer 00 if the set of large packages changes; the registry and the nodes
keep the others. The large packages' folders are named by the package rather than by the slot,
so a package that moves slot, because a larger one came, is still the same layer.

Each layer's folder is on a path no other layer writes to, so no layer hides another's files and
each is a plain copy. (An image of this many layers needs its build-cache export to force one
compression; docker_tasks/build_cache.py says why.)

Distributions that share a top-level folder (nvidia-*'s `nvidia/`, a regular package two of them
write into) and those whose shared libraries find another's through `$ORIGIN/..` (torch and the
nvidia-* libraries) stay together: Python finds a regular package in one folder of the path only,
and the dynamic loader looks where the library says.

Every file and folder is dated 1 January 1980, and the timestamp each bytecode file records of
its source with it, so that a layer does not depend on the day its packages were installed either
(an everyday build's virtualenv keeps its install dates in the build cache; a reproducible one's
bytecode checks hashes, not dates).

Usage (the builder's RUN step): python venv_layers.py VENV LAYERS
"""

from __future__ import annotations

import mmap
import os
import re
import shutil
import sys
import zlib
from pathlib import Path

LAYERS = 16
OWN_LAYERS = range(1, 8)  # 01-07: the largest packages, one each
BUCKETS = range(8, 16)  # 08-15: the rest, by name
OWN_LAYER_BYTES = 20_000_000
VENV_HOME = "opt/venv"  # below /: where layer 00 puts the virtualenv, as the image has it
PACKAGES_ROOT = "opt/venv-layers"  # and where layers 01-15 put their packages
PTH = "_venv_layers.pth"
EPOCH_1980 = 315532800
# `$ORIGIN/../x`, as RPATH and RUNPATH write it, in a shared library's dynamic strings.
ORIGIN = re.compile(rb"\$(?:ORIGIN|\{ORIGIN\})((?:/[^\x00:/]+)+)")


def canonical(name: str) -> str:
    """A distribution's name as PEP 503 compares them: `Scikit_Learn` and `scikit-learn` are one."""
    return re.sub(r"[-_.]+", "-", name).lower()


def top_level(record_path: str) -> str | None:
    """The site-packages entry a RECORD row belongs to: `sklearn/x.py` -> `sklearn`. None for files
    outside site-packages (`../../../bin/x`, console scripts and data files: they stay in the
    virtualenv) and for the shared __pycache__ of top-level modules (it goes with its module)."""
    first = record_path.replace("\\", "/").split("/", 1)[0]
    if not first or first in ("..", ".", "__pycache__") or record_path.startswith("/"):
        return None
    return first


def distributions(site_packages: Path) -> dict[str, set[str]]:
    """Each installed distribution's canonical name -> the top-level entries its RECORD names."""
    owned: dict[str, set[str]] = {}
    for info in sorted(site_packages.glob("*.dist-info")):
        record = info / "RECORD"
        metadata = info / "METADATA"
        name = info.name[: -len(".dist-info")].rsplit("-", 1)[0]
        if metadata.is_file():
            for line in metadata.read_text(encoding="utf-8", errors="replace").splitlines():
                if line.startswith("Name:"):
                    name = line.split(":", 1)[1].strip()
                    break
                if not line:
                    break
        entries = {info.name}
        if record.is_file():
            for row in record.read_text(encoding="utf-8", errors="replace").splitlines():
                entry = top_level(row.split(",", 1)[0])
                if entry:
                    entries.add(entry)
        owned.setdefault(canonical(name), set()).update(entries)
    return owned


def origin_targets(library: Path, site_packages: Path) -> set[str]:
    """The top-level entries of site-packages that a shared library's `$ORIGIN/..` paths lead to."""
    try:
        with library.open("rb") as file, mmap.mmap(file.fileno(), 0, access=mmap.ACCESS_READ) as data:
            found = {match.group(1).decode("utf-8", "replace") for match in ORIGIN.finditer(data)}
    except (OSError, ValueError):  # empty, or not a regular file
        return set()
    targets = set()
    for relative in found:
        target = os.path.normpath(os.path.join(library.parent, relative.lstrip("/")))
        inside = os.path.relpath(target, site_packages)
        if not inside.startswith(".."):
            targets.add(inside.split(os.sep, 1)[0])
    return targets


def groups(owned: dict[str, set[str]], linked: dict[str, set[str]]) -> list[tuple[str, set[str]]]:
    """Distributions that must share a folder, joined: those naming one top-level entry, and those
    whose libraries point into another's (`linked`: distribution -> entries). Each group as (its
    first name, its entries), the first name being the smallest, so that it does not depend on
    the order things were found in."""
    parent = {name: name for name in owned}

    def root(name: str) -> str:
        while parent[name] != name:
            parent[name] = parent[parent[name]]
            name = parent[name]
        return name

    def join(a: str, b: str) -> None:
        a, b = root(a), root(b)
        if a != b:
            parent[max(a, b)] = min(a, b)

    owner_of: dict[str, str] = {}
    for name in sorted(owned):
        for entry in owned[name]:
            if entry in owner_of:
                join(name, owner_of[entry])
            else:
                owner_of[entry] = name
    for name, targets in sorted(linked.items()):
        for entry in targets:
            if entry in owner_of:
                join(name, owner_of[entry])
    joined: dict[str, set[str]] = {}
    for name in owned:
        joined.setdefault(root(name), set()).update(owned[name])
    return sorted(joined.items())


def bucket_of(name: str) -> int:
    """A group's bucket, 08-15, from its name alone (crc32: the same on every machine and Python)."""
    return BUCKETS[zlib.crc32(name.encode()) % len(BUCKETS)]


def plan(sizes: dict[str, int]) -> dict[str, tuple[int, str]]:
    """Each group (by name, with its size in bytes) -> (its layer, its folder's name below
    /opt/venv-layers): the seven largest of 20 MB and up each alone, the others in their bucket.
    A large group's folder is its name, so it stays one layer whichever slot it has."""
    large = sorted((name for name, size in sizes.items()
                    if size >= OWN_LAYER_BYTES and not name.startswith("bucket-")),
                   key=lambda name: (-sizes[name], name))[: len(OWN_LAYERS)]
    placed = {name: (layer, name) for layer, name in zip(OWN_LAYERS, large, strict=False)}
    for name in sizes:
        if name not in placed:
            layer = bucket_of(name)
            placed[name] = (layer, f"bucket-{layer:02d}")
    return placed


def tree_bytes(path: Path) -> int:
    if path.is_symlink() or not path.is_dir():
        return path.lstat().st_size if path.exists() or path.is_symlink() else 0
    return sum(f.lstat().st_size for f in path.rglob("*") if f.is_file() and not f.is_symlink())


def shared_libraries(path: Path):
    candidates = [path] if not path.is_dir() else path.rglob("*")
    for file in candidates:
        if (file.name.endswith(".so") or ".so." in file.name) and file.is_file() and not file.is_symlink():
            yield file


def module_caches(site_packages: Path, entry: str) -> list[Path]:
    """The bytecode of a top-level module (`six.py`), in the __pycache__ all such modules share."""
    if not entry.endswith(".py"):
        return []
    return sorted((site_packages / "__pycache__").glob(entry[: -len(".py")] + ".*.pyc"))


def source_of(pyc: Path) -> Path:
    """The source a bytecode file was compiled from: `x/__pycache__/m.cpython-311.pyc` -> `x/m.py`."""
    return pyc.parent.parent / (pyc.name.split(".", 1)[0] + ".py")


def redate_bytecode(pyc: Path) -> None:
    """A timestamp bytecode file that matches its source records 1980, as its source is about to be."""
    try:
        header = pyc.read_bytes()[:16]
        stat = source_of(pyc).stat()
    except OSError:
        return
    if len(header) < 16 or int.from_bytes(header[4:8], "little") != 0:  # hash-based: no date in it
        return
    recorded_time = int.from_bytes(header[8:12], "little")
    recorded_size = int.from_bytes(header[12:16], "little")
    if recorded_time == int(stat.st_mtime) & 0xFFFFFFFF and recorded_size == stat.st_size & 0xFFFFFFFF:
        with pyc.open("r+b") as file:
            file.seek(8)
            file.write(EPOCH_1980.to_bytes(4, "little"))


def date_tree(root: Path) -> None:
    """Every file and folder below `root` dated 1980, bytecode first (writing it changes its date)."""
    for pyc in root.rglob("__pycache__/*.pyc"):
        redate_bytecode(pyc)
    for folder, subfolders, files in os.walk(root, topdown=False):
        for name in files + subfolders:
            os.utime(os.path.join(folder, name), (EPOCH_1980, EPOCH_1980), follow_symlinks=False)
        os.utime(folder, (EPOCH_1980, EPOCH_1980))


def remove_orphan_bytecode(site_packages: Path) -> None:
    """Bytecode whose source is gone: what compileall wrote for a package that a later sync of the
    builder's cached virtualenv uninstalled (an installer removes the files its RECORD names, and
    compileall's are not among them). Python never reads it, and left it would make layer 00
    depend on what the cache held before; so it goes, with the folders it alone filled."""
    for cache in sorted(site_packages.rglob("__pycache__"), reverse=True):
        for pyc in cache.glob("*.pyc"):
            if not source_of(pyc).exists():
                pyc.unlink()
        folder = cache
        while folder != site_packages and folder.is_dir() and not any(folder.iterdir()):
            folder.rmdir()
            folder = folder.parent


def split(venv: Path, layers: Path) -> dict[str, tuple[int, str]]:
    """Moves `venv` into `layers`/00 and each group of its packages into the layer `plan` gives it;
    returns that plan."""
    (site_packages,) = venv.glob("lib/python*/site-packages")
    remove_orphan_bytecode(site_packages)
    owned = distributions(site_packages)
    present = {name: {entry for entry in entries if (site_packages / entry).exists()
                      or (site_packages / entry).is_symlink()} for name, entries in owned.items()}
    linked = {name: set().union(*(origin_targets(library, site_packages)
                                  for entry in entries for library in shared_libraries(site_packages / entry)))
              for name, entries in present.items()}
    grouped = groups(present, linked)
    sizes = {name: sum(tree_bytes(site_packages / entry) for entry in entries) for name, entries in grouped}
    placed = plan(sizes)

    for number in range(LAYERS):
        (layers / f"{number:02d}" / PACKAGES_ROOT).mkdir(parents=True, exist_ok=True)
    # Every bucket's folder, empty or not, is on the path: a package that is the first in its
    # bucket then changes its bucket's layer only, not the .pth in layer 00.
    buckets = {(number, f"bucket-{number:02d}") for number in BUCKETS}
    for number, folder in buckets:
        (layers / f"{number:02d}" / PACKAGES_ROOT / folder).mkdir()
    home = layers / "00" / VENV_HOME
    home.parent.mkdir(parents=True, exist_ok=True)
    shutil.move(venv, home)
    site_packages = home / site_packages.relative_to(venv)
    folders = set(buckets)
    for name, entries in grouped:
        layer, folder = placed[name]
        destination = layers / f"{layer:02d}" / PACKAGES_ROOT / folder
        destination.mkdir(parents=True, exist_ok=True)
        folders.add((layer, folder))
        for entry in sorted(entries):
            caches = module_caches(site_packages, entry)
            os.rename(site_packages / entry, destination / entry)
            if caches:
                (destination / "__pycache__").mkdir(exist_ok=True)
                for cache in caches:
                    os.rename(cache, destination / "__pycache__" / cache.name)
    shared_cache = site_packages / "__pycache__"
    if shared_cache.is_dir() and not any(shared_cache.iterdir()):
        shared_cache.rmdir()
    paths = [f"/{PACKAGES_ROOT}/{folder}" for _, folder in sorted(folders)]
    (site_packages / PTH).write_text("import site; " + "; ".join(f"site.addsitedir({path!r})" for path in paths) + "\n")
    date_tree(layers)
    return placed


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        print(__doc__.rsplit("Usage", 1)[1].strip(), file=sys.stderr)
        return 2
    placed = split(Path(argv[0]), Path(argv[1]))
    for layer in range(LAYERS):
        names = sorted(name for name, (number, _) in placed.items() if number == layer)
        if names:
            print(f"layer {layer:02d}: {', '.join(names)}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
