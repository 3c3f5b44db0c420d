"""Benchmark: this project's Dockerfile and tasks against the seed article's approach.

Run it with `make bench` (BASE_IMAGE as for the tests). In one run, on the same base image and
the same requirements.txt, it builds (a) bench/seed.Dockerfile with plain `docker buildx build`
and (b) the project's Dockerfile through `inv build`, in throw-away copies of the repository
that hold a 50 MB data/ folder and .git, and reports each figure as the median of N runs with
its minimum and maximum, and as a ratio to (a) or to the raw docker command.

It empties BuildKit's build cache (`docker buildx prune`) before each cold build: your next
builds start cold too. Images and containers it did not create are never touched. The results
are the engine's image store's (bench/results/latest-<store>.md); run it on each store.
`--update-docs` (or its old name, `--update-readme`) also puts the table in docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import json
import os
import platform
import re
import shlex
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import docker
import docker.errors

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from docker_tasks import settings, stores  # noqa: E402 (the project's root is on the path only now)

RESULTS = ROOT / "bench" / "results"
# Each image store has its own results and its own table in the manual, between its markers: run the
# bench on each.
DOCS = ROOT / "docs" / "benchmarks.md"
# The tasks run as Python runs by default, writing their modules' bytecode once: a machine that sets
# PYTHONDONTWRITEBYTECODE compiles them at every task instead, about 40 ms here.
os.environ.pop("PYTHONDONTWRITEBYTECODE", None)
BASE_IMAGE = settings.load(os.environ, ROOT).base_image  # as the tasks resolve it, .env included
SMALL_PACKAGE = "six==1.17.0"  # the "one small package" of the requirements-change rebuild
CONTEXT_SIZE = re.compile(r"transferring context: ([\d.]+)([kMG]?B)")
UNITS = {"B": 1, "kB": 1e3, "MB": 1e6, "GB": 1e9}


@functools.cache
def store() -> str:
    """The engine's image store, asked once, when a measurement first needs it."""
    return stores.image_store(docker.from_env().info())


def markers(image_store: str) -> tuple[str, str]:
    return f"<!-- bench:{image_store}:start -->", f"<!-- bench:{image_store}:end -->"


def with_table(page: str, image_store: str, markdown: str) -> str:
    """The page with the image store's table, between its markers, replaced by `markdown`."""
    begin, end = markers(image_store)
    if page.count(begin) != 1 or page.count(end) != 1 or page.index(begin) > page.index(end):
        raise SystemExit(f"bench: {DOCS.relative_to(ROOT)} needs one {begin} and one {end} after it, around the "
                         f"table of the {image_store} image store")
    start, stop = page.index(begin) + len(begin), page.index(end)
    return page[:start] + "\n" + markdown + "\n" + page[stop:]


def sh(argv: list[str], cwd: Path | None = None, env: dict | None = None, stdin: str | None = None) -> str:
    done = subprocess.run(argv, cwd=cwd, env={**os.environ, **(env or {})}, input=stdin, capture_output=True,
                          text=True)
    if done.returncode != 0:
        raise SystemExit(f"bench: {shlex.join(argv)} failed:\n{(done.stdout + done.stderr)[-3000:]}")
    return done.stdout + done.stderr


def timed(action: Callable[[], object]) -> tuple[float, object]:
    started = time.perf_counter()
    result = action()
    return time.perf_counter() - started, result


def summary(samples: list[float]) -> dict:
    return {"median": statistics.median(samples), "min": min(samples), "max": max(samples), "runs": len(samples)}


class Variant:
    """One way of building: a copy of the repository and the command that builds it."""

    def __init__(self, name: str, folder: Path, image: str):
        self.name, self.folder, self.image = name, folder, image
        self.built: set[str] = set()  # every image id this variant made, for the clean-up

    def build(self) -> tuple[float, str]:
        """Build; return the seconds the build command took, and its output. Only the command is
        timed: the image's id, kept for the clean-up, is asked for after."""
        seconds, output = timed(self.run_build)
        self.built.add(sh(["docker", "image", "inspect", "--format", "{{.Id}}", self.image]).strip())
        return seconds, output

    def run_build(self) -> str:
        raise NotImplementedError

    def change_code(self, run: int) -> None:
        main = self.folder / "src" / "main.py"
        main.write_text(main.read_text() + f"# benchmark change {run}\n")

    def add_package(self, present: bool) -> None:
        requirements = self.folder / "requirements.txt"
        lines = [line for line in requirements.read_text().splitlines() if line != SMALL_PACKAGE]
        requirements.write_text("\n".join(lines + ([SMALL_PACKAGE] if present else [])) + "\n")


class Seed(Variant):
    def run_build(self) -> str:
        return sh(["docker", "buildx", "build", "--load", "--progress", "plain", "-f", "bench/seed.Dockerfile",
                   "--build-arg", f"BASE_IMAGE={BASE_IMAGE}", "--tag", self.image, "."], cwd=self.folder)


class Ours(Variant):
    def inv(self, *args: str) -> str:
        return sh([sys.executable, "-m", "invoke", *args], cwd=self.folder,
                  env={"IMAGE_NAME": self.image.split(":")[0], "BASE_IMAGE": BASE_IMAGE})

    def run_build(self) -> str:
        return self.inv("build")

    def prepare_locks(self) -> None:
        """requirements.lock with and without the small package, written by `inv lock` now, so that
        the requirements-change rebuild times the build of a change whose lock was committed with it."""
        self.locks = {}
        for present in (True, False):
            super().add_package(present)
            self.inv("lock")
            self.locks[present] = (self.folder / "requirements.lock").read_text()

    def add_package(self, present: bool) -> None:
        super().add_package(present)
        (self.folder / "requirements.lock").write_text(self.locks[present])

    def raw_build_command(self) -> list[str]:
        """The exact `docker buildx build` that `inv build` runs, from its --dry-run: asked for before
        the timing starts, since the dry run is a whole task run."""
        line = [ln for ln in self.inv("build", "--dry-run").splitlines() if ln.startswith("docker buildx")][0]
        return shlex.split(line.replace("--progress auto", "--progress plain"))


def make_workspace(parent: Path) -> tuple[Path, Path]:
    """Two clones of the repository with .git and 50 MB of data; the seed's has no .dockerignore."""
    ours, seed = parent / "ours", parent / "seed"
    for folder in (ours, seed):
        sh(["git", "clone", "--quiet", str(ROOT), str(folder)])
        (folder / "data").mkdir()
        (folder / "data" / "train.bin").write_bytes(os.urandom(50 * 1000 * 1000))
    shutil.copy(ROOT / "bench" / "seed.Dockerfile", seed / "bench" / "seed.Dockerfile")
    (seed / ".dockerignore").unlink()
    return ours, seed


def context_bytes(build_output: str) -> float:
    sizes = [float(n) * UNITS[u] for n, u in CONTEXT_SIZE.findall(build_output)]
    return max(sizes) if sizes else float("nan")


def needed_bytes(folder: Path) -> int:
    """What the image needs from the context: src/, requirements.txt, its lock and system-packages.txt."""
    files = [p for p in (folder / "src").rglob("*") if p.is_file() and "__pycache__" not in p.parts]
    lists = [folder / "requirements.txt", folder / "requirements.lock", folder / "system-packages.txt"]
    return sum(p.stat().st_size for p in files + [p for p in lists if p.is_file()])


def startup(client, image: str) -> tuple[float, float]:
    """Seconds from container start to its first log line, and to its exit."""
    container = client.containers.create(image, command=["train", "--n-estimators", "50"])
    try:
        started = time.perf_counter()
        container.start()
        first = None
        for _ in container.logs(stream=True, follow=True):
            first = first or time.perf_counter() - started
        container.wait()
        return first or float("nan"), time.perf_counter() - started
    finally:
        container.remove(force=True)


def measure(runs: int) -> dict:
    client = docker.from_env()
    tag = uuid.uuid4().hex[:8]
    with tempfile.TemporaryDirectory(prefix="bench-") as parent:
        ours_folder, seed_folder = make_workspace(Path(parent))
        seed = Seed("a", seed_folder, f"bench-seed-{tag}:latest")
        ours = Ours("b", ours_folder, f"bench-ours-{tag}:latest")
        figures: dict[str, dict] = {}
        try:
            ours.prepare_locks()
            for variant in (seed, ours):
                cold, noop, code, reqs, contexts = [], [], [], [], []
                for run in range(runs):
                    print(f"[{variant.name}] run {run + 1}/{runs}: cold build", flush=True)
                    sh(["docker", "buildx", "prune", "--all", "--force"])
                    seconds, output = variant.build()
                    cold.append(seconds)
                    contexts.append(context_bytes(output))
                    noop.append(variant.build()[0])
                    variant.change_code(run)
                    code.append(variant.build()[0])
                    variant.add_package(True)
                    reqs.append(variant.build()[0])
                    variant.add_package(False)
                    variant.build()
                figures[variant.name] = {
                    "cold_build_s": summary(cold), "noop_rebuild_s": summary(noop),
                    "code_rebuild_s": summary(code), "requirements_rebuild_s": summary(reqs),
                    "context_bytes": summary(contexts),
                }
            figures["raw"] = raw_comparisons(ours, runs)
            figures["size"] = sizes(client, seed, ours)
            figures["context_needed_bytes"] = needed_bytes(ours_folder)
            print("start-up", flush=True)
            for variant in (seed, ours):
                samples = [startup(client, variant.image) for _ in range(runs)]
                figures[variant.name]["first_log_s"] = summary([s[0] for s in samples])
                figures[variant.name]["run_end_s"] = summary([s[1] for s in samples])
        finally:
            cleanup(client, seed, ours)
    return figures


def raw_comparisons(ours: Ours, runs: int) -> dict:
    """The tasks against the docker commands that do the same work."""
    print("tasks against raw docker commands", flush=True)
    raw_build = ours.raw_build_command()
    project_filter = f"label=dockertasks.project={ours.image.split(':')[0]}"
    pairs = {
        "inv_list": (lambda: ours.inv("--list"), lambda: sh(["docker", "--version"])),
        "inv_images": (lambda: ours.inv("images"), lambda: sh(["docker", "images", "--filter", project_filter])),
        "noop_build": (ours.run_build, lambda: sh(raw_build, cwd=ours.folder)),
    }
    result = {}
    for name, (task, raw) in pairs.items():
        task(), raw()  # warm both
        result[name] = {"task": summary([timed(task)[0] for _ in range(runs * 3)]),
                        "raw": summary([timed(raw)[0] for _ in range(runs * 3)])}
    task_code, raw_code = [], []
    for run in range(runs * 2):
        ours.change_code(100 + 2 * run)
        task_code.append(ours.build()[0])
        ours.change_code(101 + 2 * run)
        command = ours.raw_build_command()  # names this change's dirty tag, so it is asked for anew
        raw_code.append(timed(lambda command=command: sh(command, cwd=ours.folder))[0])
    result["code_rebuild"] = {"task": summary(task_code), "raw": summary(raw_code)}
    return result


def unpacked_bytes(client, image: str) -> int:
    """The image's unpacked size, which means the same on both image stores (docker_tasks/stores.py)."""
    listed = client.api.images(filters={"reference": image})[0]["Size"]
    return stores.unpacked_size(listed, client.api.inspect_image(image)["Size"], store())


def sizes(client, seed: Seed, ours: Ours) -> dict:
    installed = client.containers.run(ours.image, entrypoint="du", command=["-sb", "/opt/venv", "/app/src"],
                                      user="0", remove=True).decode().split()
    base = unpacked_bytes(client, BASE_IMAGE)
    return {
        "seed_bytes": unpacked_bytes(client, seed.image),
        "ours_bytes": unpacked_bytes(client, ours.image),
        "floor_bytes": base + int(installed[0]) + int(installed[2]),
        "base_bytes": base,
    }


def cleanup(client, *variants: Variant) -> None:
    """Remove every image the benchmark built, tagged or left dangling by a later build (the raw
    builds of (b) carry its labels)."""
    for variant in variants:
        repository = variant.image.split(":")[0]
        labelled = client.images.list(filters={"label": f"dockertasks.project={repository}"})
        ids = variant.built | {image.id for image in client.images.list(repository) + labelled}
        for image_id in ids:
            with contextlib.suppress(docker.errors.NotFound):
                client.images.remove(image_id, force=True)


def ratio(value: float, reference: float) -> str:
    return f"{value / reference:.2f}×" if reference else "n/a"


def seconds(s: dict) -> str:
    return f"{s['median']:.2f} s ({s['min']:.2f}–{s['max']:.2f})"


BUILD_FIGURES = (
    ("cold_build_s", "cold build"),
    ("noop_rebuild_s", "no-op rebuild"),
    ("code_rebuild_s", "code-only rebuild"),
    ("requirements_rebuild_s", "requirements-change rebuild"),
    ("first_log_s", "start to first log line"),
    ("run_end_s", "start to end of run"),
)
TASK_FIGURES = (
    ("inv_list", "`inv --list` vs `docker --version`"),
    ("inv_images", "`inv images` vs `docker images`"),
    ("noop_build", "no-op `inv build` vs `docker buildx build`"),
    ("code_rebuild", "code-only `inv build` vs `docker buildx build`"),
)


def table(figures: dict, machine: str) -> str:
    a, b, raw, size = figures["a"], figures["b"], figures["raw"], figures["size"]
    context_a, context_b = a["context_bytes"]["median"], b["context_bytes"]["median"]
    rows = [("figure", "(a) seed approach", "(b) this project", "(b) / (a)")]
    for key, label in BUILD_FIGURES:
        rows.append((label, seconds(a[key]), seconds(b[key]), ratio(b[key]["median"], a[key]["median"])))
    rows.append(("image size, unpacked", f"{size['seed_bytes'] / 1e6:.0f} MB", f"{size['ours_bytes'] / 1e6:.0f} MB",
                 ratio(size["ours_bytes"], size["seed_bytes"])))
    rows.append(("build context sent", f"{context_a / 1e6:.1f} MB", f"{context_b / 1e3:.1f} kB",
                 ratio(context_b, context_a)))
    lines = ["| " + " | ".join(row) + " |" for row in rows]
    lines.insert(1, "|---|---|---|---|")
    lines += ["", "| the tasks against raw docker | task | raw command | task / raw |", "|---|---|---|---|"]
    for key, label in TASK_FIGURES:
        task, command = raw[key]["task"], raw[key]["raw"]
        lines.append(f"| {label} | {seconds(task)} | {seconds(command)} | {ratio(task['median'], command['median'])} |")
    floor = ratio(size["ours_bytes"], size["floor_bytes"])
    needed = ratio(context_b, figures["context_needed_bytes"])
    lines += ["", f"Image size over the physical floor (base image + installed packages + src/): {floor}. "
                  f"Build context over the bytes the image needs (src/ and the three lists): {needed}.",
              "", f"Median of {a['cold_build_s']['runs']} runs (min–max); {machine}."]
    return "\n".join(lines)


def machine() -> str:
    cores = os.cpu_count()
    memory = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    engine = docker.from_env().version()["Version"]
    return (f"{platform.machine()}, {cores} cores, {memory:.0f} GiB, Docker {engine} with the {store()} image store, "
            f"base image {BASE_IMAGE}, {datetime.now(UTC):%Y-%m-%d}")


def save_results(name: str, about: str, figures: dict, markdown: str) -> None:
    """bench/results/NAME-<store>.json and .md, and the table on the terminal."""
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / f"{name}-{store()}.json").write_text(json.dumps({"machine": about, **figures}, indent=2) + "\n")
    (RESULTS / f"{name}-{store()}.md").write_text(markdown + "\n")
    print(markdown)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3, help="runs of each figure (default 3)")
    parser.add_argument("--update-docs", "--update-readme", dest="update_docs", action="store_true",
                        help="put the table in docs/benchmarks.md (--update-readme: the same, by its old name)")
    args = parser.parse_args()
    if args.update_docs:
        with_table(DOCS.read_text(), store(), "")  # its markers are there, before minutes of measuring
    figures = measure(args.runs)
    about = machine()
    markdown = table(figures, about)
    save_results("latest", about, figures, markdown)
    if args.update_docs:
        DOCS.write_text(with_table(DOCS.read_text(), store(), markdown))


if __name__ == "__main__":
    main()
