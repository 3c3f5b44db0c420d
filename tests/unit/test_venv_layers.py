"""The virtualenv over 16 layers (docker_tasks/launcher/venv_layers.py), on virtualenvs made of
files here: where each package goes, what stays together, and that a layer's bytes depend only on
the packages in it."""

import hashlib
import importlib.util
import os
import py_compile
import subprocess
import sys
from pathlib import Path

import pytest

from docker_tasks.launcher import venv_layers

MB = 1_000_000


def install(venv: Path, name: str, version: str = "1.0", files: dict[str, bytes] | None = None,
            outside: dict[str, bytes] | None = None) -> None:
    """A distribution as an installer leaves it: its files, its dist-info with METADATA and a
    RECORD naming them all, and files outside site-packages (`../../../bin/x`)."""
    site_packages = venv / "lib/python3.11/site-packages"
    info = site_packages / f"{name.replace('-', '_')}-{version}.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n\n")
    rows = [f"{info.name}/METADATA,,", f"{info.name}/RECORD,,"]
    for relative, content in {**(files or {}), **(outside or {})}.items():
        path = site_packages / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(content)
        rows.append(f"{relative},sha256=x,{len(content)}")
    (info / "RECORD").write_text("\n".join(rows) + "\n")


def bare_venv(root: Path) -> Path:
    venv = root / "opt/venv"
    (venv / "bin").mkdir(parents=True)
    (venv / "pyvenv.cfg").write_text("home = /usr/bin\n")
    (venv / "lib/python3.11/site-packages").mkdir(parents=True)
    return venv


def sample_venv(root: Path, extra: tuple[str, ...] = ()) -> Path:
    venv = bare_venv(root)
    install(venv, "numpy", files={"numpy/__init__.py": b"", "numpy/core.so": b"\0" * (30 * MB),
                                  "numpy.libs/libopenblas.so": b"\0" * MB})
    install(venv, "scipy", files={"scipy/__init__.py": b"", "scipy/linalg.so": b"\1" * (40 * MB)})
    install(venv, "six", files={"six.py": b"x = 1\n"})
    install(venv, "python-dotenv", files={"dotenv/__init__.py": b""},
            outside={"../../../bin/dotenv": b"#!/opt/venv/bin/python\n"})
    for name in extra:
        install(venv, name, files={f"{name}/__init__.py": b"y = 2\n"})
    return venv


def tree(folder: Path) -> dict[str, tuple]:
    """A layer as a tar would hold it: every path with its mode, date and bytes."""
    found = {}
    for path in sorted(folder.rglob("*")):
        stat = path.lstat()
        content = hashlib.sha256(path.read_bytes()).hexdigest() if path.is_file() else None
        found[str(path.relative_to(folder))] = (stat.st_mode, int(stat.st_mtime), content)
    return found


def test_the_largest_packages_have_a_layer_each_named_by_the_package_and_the_rest_fall_in_buckets_by_name():
    sizes = {f"big{n}": (100 - n) * MB for n in range(9)} | {"six": 10_000, "idna": 200_000, "tiny": 19 * MB}
    placed = venv_layers.plan(sizes)
    assert [placed[f"big{n}"] for n in range(7)] == [(n + 1, f"big{n}") for n in range(7)]
    for name in ("big7", "big8", "six", "idna", "tiny"):  # too many large ones, or too small
        layer, folder = placed[name]
        assert layer == venv_layers.bucket_of(name) and folder == f"bucket-{layer:02d}" and 8 <= layer <= 15
    # A larger package coming moves the others a slot down, but each keeps its folder, so its layer's bytes.
    moved = venv_layers.plan({**sizes, "torch": 900 * MB})
    assert moved["torch"] == (1, "torch")
    assert [moved[f"big{n}"] for n in range(6)] == [(n + 2, f"big{n}") for n in range(6)]
    assert moved["big6"][1] == f"bucket-{venv_layers.bucket_of('big6')}"


def test_a_bucket_does_not_depend_on_the_machine_or_the_python():
    assert (venv_layers.bucket_of("six"), venv_layers.bucket_of("idna")) == (11, 14)  # crc32, not hash()
    script = "from docker_tasks.launcher import venv_layers; print(venv_layers.bucket_of('six'))"
    seeded = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                            env={**os.environ, "PYTHONHASHSEED": "123"}, check=True)
    assert int(seeded.stdout) == venv_layers.bucket_of("six")


def test_packages_that_share_a_folder_or_link_into_each_other_stay_together():
    owned = {"nvidia-cublas-cu12": {"nvidia", "nvidia_cublas_cu12-12.dist-info"},
             "nvidia-cudnn-cu12": {"nvidia", "nvidia_cudnn_cu12-9.dist-info"},
             "torch": {"torch", "torch-2.5.dist-info"}, "six": {"six.py", "six-1.17.dist-info"}}
    assert venv_layers.groups(owned, {}) == [
        ("nvidia-cublas-cu12", owned["nvidia-cublas-cu12"] | owned["nvidia-cudnn-cu12"]),
        ("six", owned["six"]), ("torch", owned["torch"])]
    joined = venv_layers.groups(owned, {"torch": {"nvidia", "torch"}})
    assert [name for name, _ in joined] == ["nvidia-cublas-cu12", "six"]
    assert joined[0][1] == owned["nvidia-cublas-cu12"] | owned["nvidia-cudnn-cu12"] | owned["torch"]


def test_a_shared_library_pointing_through_origin_into_another_package_is_found(tmp_path):
    site_packages = tmp_path / "site-packages"
    library = site_packages / "torch/lib/libtorch_cuda.so"
    library.parent.mkdir(parents=True)
    library.write_bytes(b"\x7fELF\0\0$ORIGIN/../../nvidia/cublas/lib:$ORIGIN:${ORIGIN}/../../torch.libs\0rest")
    assert venv_layers.origin_targets(library, site_packages) == {"nvidia", "torch.libs"}
    outside = site_packages / "x/lib.so"
    outside.parent.mkdir()
    outside.write_bytes(b"$ORIGIN/../../../../usr/lib\0")
    assert venv_layers.origin_targets(outside, site_packages) == set()
    empty = site_packages / "y.so"
    empty.write_bytes(b"")
    assert venv_layers.origin_targets(empty, site_packages) == set()


def test_split_puts_each_package_in_its_layer_and_keeps_the_virtualenv_in_layer_00(tmp_path):
    venv = sample_venv(tmp_path / "builder")
    layers = tmp_path / "layers"
    placed = venv_layers.split(venv, layers)

    assert not venv.exists() and sorted(p.name for p in layers.iterdir()) == [f"{n:02d}" for n in range(16)]
    assert placed["scipy"] == (1, "scipy") and placed["numpy"] == (2, "numpy")
    assert (layers / "01/opt/venv-layers/scipy/scipy/linalg.so").is_file()
    assert (layers / "02/opt/venv-layers/numpy/numpy.libs/libopenblas.so").is_file()  # with its package
    assert (layers / "02/opt/venv-layers/numpy/numpy-1.0.dist-info/RECORD").is_file()
    six_layer, six_folder = placed["six"]
    assert (layers / f"{six_layer:02d}/opt/venv-layers/{six_folder}/six.py").is_file()
    home = layers / "00/opt/venv"
    assert (home / "pyvenv.cfg").is_file() and (home / "bin/dotenv").is_file()  # console scripts stay
    site_packages = home / "lib/python3.11/site-packages"
    assert sorted(p.name for p in site_packages.iterdir()) == ["_venv_layers.pth"]
    pth = (site_packages / "_venv_layers.pth").read_text()
    assert pth.startswith("import site; site.addsitedir('/opt/venv-layers/scipy'); "
                          "site.addsitedir('/opt/venv-layers/numpy'); ")
    buckets = [f"/opt/venv-layers/bucket-{n:02d}" for n in range(8, 16)]
    assert pth.count("addsitedir") == 2 + 8 and all(f"site.addsitedir({b!r})" in pth for b in buckets)
    dates = {int(p.lstat().st_mtime) for p in layers.rglob("*")}
    assert dates == {venv_layers.EPOCH_1980}


def test_the_import_path_the_pth_file_makes_finds_every_package(tmp_path):
    venv = sample_venv(tmp_path / "builder", extra=("alpha", "beta", "gamma"))
    layers = tmp_path / "layers"
    venv_layers.split(venv, layers)
    pth = (layers / "00/opt/venv/lib/python3.11/site-packages/_venv_layers.pth").read_text()
    # The .pth names the image's paths; here they are below `layers`/NN.
    folders = {p.name: p for p in layers.glob("*/opt/venv-layers/*")}
    local = pth
    for name, path in folders.items():
        local = local.replace(f"'/opt/venv-layers/{name}'", repr(str(path)))
    probe = f"{local}\nimport six, dotenv, numpy, scipy, alpha, beta, gamma; print(six.x, alpha.y)"
    found = subprocess.run([sys.executable, "-S", "-c", probe], capture_output=True, text=True, cwd=tmp_path)
    assert found.returncode == 0, found.stderr
    assert found.stdout.split() == ["1", "2"]


def test_a_top_level_modules_bytecode_goes_with_it_and_stays_valid_once_dated(tmp_path):
    venv = sample_venv(tmp_path / "builder")
    site_packages = venv / "lib/python3.11/site-packages"
    compiled = py_compile.compile(str(site_packages / "six.py"),
                                  invalidation_mode=py_compile.PycInvalidationMode.TIMESTAMP)
    hashed = py_compile.compile(str(site_packages / "dotenv/__init__.py"),
                                invalidation_mode=py_compile.PycInvalidationMode.UNCHECKED_HASH)
    hashed_header = Path(hashed).read_bytes()[:16]
    layers = tmp_path / "layers"
    placed = venv_layers.split(venv, layers)

    layer, folder = placed["six"]
    moved = layers / f"{layer:02d}/opt/venv-layers/{folder}"
    pyc = moved / "__pycache__" / Path(compiled).name
    assert pyc.is_file()
    header, source = pyc.read_bytes()[:16], (moved / "six.py").stat()
    assert int.from_bytes(header[8:12], "little") == int(source.st_mtime) == venv_layers.EPOCH_1980
    assert int.from_bytes(header[12:16], "little") == source.st_size
    assert Path(importlib.util.cache_from_source(str(moved / "six.py"))) == pyc
    layer, folder = placed["python-dotenv"]
    kept = layers / f"{layer:02d}/opt/venv-layers/{folder}/dotenv/__pycache__" / Path(hashed).name
    assert kept.read_bytes()[:16] == hashed_header  # a hash-based one records no date


@pytest.mark.parametrize("added", ["idna", "tabulate"])
def test_a_one_package_change_changes_only_that_packages_layer(tmp_path, added):
    before, after = tmp_path / "before", tmp_path / "after"
    used = {layer for layer, _ in venv_layers.split(sample_venv(tmp_path / "b1"), before).values()}
    placed = venv_layers.split(sample_venv(tmp_path / "b2", extra=(added,)), after)
    changed = [f"{n:02d}" for n in range(16) if tree(before / f"{n:02d}") != tree(after / f"{n:02d}")]
    assert changed == [f"{placed[added][0]:02d}"]
    if added == "tabulate":
        assert placed[added][0] not in used  # the first in its bucket: the .pth names it already


def test_bytecode_whose_source_was_uninstalled_is_dropped(tmp_path):
    """What a cached virtualenv keeps of a package a later sync removed: compileall's bytecode."""
    venv = sample_venv(tmp_path / "builder")
    site_packages = venv / "lib/python3.11/site-packages"
    for orphan in ("__pycache__/gone.cpython-311.pyc", "gonepkg/__pycache__/__init__.cpython-311.pyc"):
        (site_packages / orphan).parent.mkdir(parents=True, exist_ok=True)
        (site_packages / orphan).write_bytes(b"\0" * 16)
    kept = py_compile.compile(str(site_packages / "six.py"))
    layers = tmp_path / "layers"
    placed = venv_layers.split(venv, layers)
    home = layers / "00/opt/venv/lib/python3.11/site-packages"
    assert sorted(p.name for p in home.iterdir()) == ["_venv_layers.pth"]
    layer, folder = placed["six"]
    assert (layers / f"{layer:02d}/opt/venv-layers/{folder}/__pycache__" / Path(kept).name).is_file()


def test_the_same_virtualenv_split_twice_gives_the_same_layers(tmp_path):
    first, second = tmp_path / "first", tmp_path / "second"
    venv_layers.split(sample_venv(tmp_path / "b1", extra=("alpha",)), first)
    venv_layers.split(sample_venv(tmp_path / "b2", extra=("alpha",)), second)
    assert [tree(first / f"{n:02d}") for n in range(16)] == [tree(second / f"{n:02d}") for n in range(16)]


def test_an_empty_virtualenv_still_gives_16_layers_and_a_pth_of_the_buckets(tmp_path):
    layers = tmp_path / "layers"
    assert venv_layers.split(bare_venv(tmp_path / "builder"), layers) == {}
    assert len(list(layers.iterdir())) == 16
    pth = (layers / "00/opt/venv/lib/python3.11/site-packages/_venv_layers.pth").read_text()
    assert pth.count("addsitedir") == 8
    assert len({str(tree(layers / f"{n:02d}")) for n in range(8, 16)}) == 8  # each empty bucket its own layer


@pytest.mark.parametrize("argv", [[], ["only-one"], ["a", "b", "c"]])
def test_the_script_says_how_to_call_it(argv, capsys):
    assert venv_layers.main(argv) == 2
    assert "venv_layers.py VENV LAYERS" in capsys.readouterr().err
