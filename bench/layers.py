"""Benchmark: what a one-package change sends to a registry, with the virtualenv in 16 layers
against the same lock in one layer, in one run.

Run it with `make bench-layers` (BASE_IMAGE as for the tests). For each job (the sample, and the
sample with one large wheel: xgboost, which brings nvidia-nccl; about 450 MB of wheels) and each
layout of the virtualenv (a: the Dockerfile's 16 layers; b: one layer, the Dockerfile as it was
before 1.3.0: the builder's virtualenv left whole and copied in one step), in a throw-away copy of
the repository:

  1. a cold build: `docker buildx prune --all`, then `inv build` (timed);
  2. `inv push` to an empty registry on loopback (Debian's docker-registry);
  3. one small package added to requirements.txt, its lock (written by `inv lock` before any
     timing) committed with it, `inv build` (timed: the requirements-change build), `inv push`.

It reports the bytes the registry stores after each push (its blob files on disk) and what the
second push added as a share of the first. Only `inv build` is timed. Like `make bench`, it
empties the build cache before each cold build; it removes the images it built and nothing else.
Results: bench/results/layers-<store>.{json,md}.
"""

from __future__ import annotations

import argparse
import re
import tempfile
import uuid
from pathlib import Path

import docker
from push import EmptyRegistry  # bench/push.py, beside this file
from run import ROOT, Ours, cleanup, machine, ratio, save_results, seconds, sh, summary

SMALL_PACKAGE = "tabulate==0.9.0"  # pure Python, 35 kB, not in either job's lock
LARGE_WHEEL = "xgboost==2.1.4"  # a 224 MB wheel, and nvidia-nccl-cu12 with it on x86_64
JOBS = {"sample": [], "one large wheel": [LARGE_WHEEL]}
LAYOUTS = ("16 layers", "one layer")
SPLIT = " \\\n && python /mnt/venv_layers.py /opt/venv /layers\n"
SPLIT_COPY = re.compile(r"^COPY --link --from=builder /layers/\d\d/ /\n", re.M)
ONE_LAYER = ("RUN --mount=type=tmpfs,target=/mnt \\\n    --mount=from=builder,source=/opt/venv,target=/mnt/venv \\\n"
             "    cp -a /mnt/venv /opt/venv\n")


def one_layer(dockerfile: str) -> str:
    """The Dockerfile as it was before the split: the builder leaves /opt/venv whole, and one step
    copies it."""
    copies = SPLIT_COPY.findall(dockerfile)
    if len(copies) != 16 or dockerfile.count(SPLIT) != 1:
        raise SystemExit("bench: the Dockerfile no longer splits the virtualenv as bench/layers.py expects "
                         f"(the venv_layers.py step and 16 `COPY --link --from=builder /layers/NN/ /`, found "
                         f"{len(copies)}); bench/layers.py needs updating")
    dockerfile = dockerfile.replace(SPLIT, "\n")
    first = SPLIT_COPY.search(dockerfile).start()
    return dockerfile[:first] + ONE_LAYER + SPLIT_COPY.sub("", dockerfile[first:])


def stored_bytes(registry_folder: Path) -> int:
    """What the registry keeps: the size of its blob files (layers, configs, manifests)."""
    blobs = registry_folder / "data" / "docker" / "registry" / "v2" / "blobs"
    return sum(p.stat().st_size for p in blobs.rglob("data") if p.is_file())


class Project(Ours):
    """A throw-away copy of the repository: its job's requirements, its layout, its commits."""

    def __init__(self, parent: Path, job: list[str], layout: str, image: str):
        folder = parent / f"{layout}-{len(job)}"
        sh(["git", "clone", "--quiet", str(ROOT), str(folder)])
        super().__init__(layout, folder, image)
        if layout == "one layer":
            dockerfile = folder / "Dockerfile"
            dockerfile.write_text(one_layer(dockerfile.read_text()))
        self.base = (folder / "requirements.txt").read_text().rstrip("\n").splitlines() + job
        self.locks = {present: self.lock(present) for present in (True, False)}
        self.commit("the job's requirements")

    def write_requirements(self, present: bool) -> None:
        (self.folder / "requirements.txt").write_text("\n".join(self.base + [SMALL_PACKAGE] * present) + "\n")

    def lock(self, present: bool) -> str:
        self.write_requirements(present)
        self.inv("lock")
        return (self.folder / "requirements.lock").read_text()

    def add_package(self, present: bool) -> None:
        self.write_requirements(present)
        (self.folder / "requirements.lock").write_text(self.locks[present])
        self.commit(f"{'add' if present else 'remove'} {SMALL_PACKAGE}")

    def commit(self, message: str) -> None:
        sh(["git", "-c", "user.name=bench", "-c", "user.email=bench@localhost", "commit", "--quiet", "--allow-empty",
            "-am", message], cwd=self.folder)

    def push(self, host: str) -> None:
        self.inv("push", "--registry", host)


def measure_one(parent: Path, job: list[str], layout: str) -> dict:
    project = Project(parent, job, layout, f"bench-layers-{uuid.uuid4().hex[:8]}:latest")
    try:
        registry = EmptyRegistry()
        with registry as host:
            project.add_package(False)
            print(f"[{layout}, {len(project.locks[False].splitlines())} lock lines] cold build", flush=True)
            sh(["docker", "buildx", "prune", "--all", "--force"])
            cold = project.build()[0]
            project.push(host)
            first = stored_bytes(registry.folder)
            project.add_package(True)
            print(f"[{layout}] requirements change", flush=True)
            change = project.build()[0]
            project.push(host)
            second = stored_bytes(registry.folder)
    finally:
        cleanup(docker.from_env(), project)
    return {"cold_build_s": cold, "requirements_build_s": change, "first_push_bytes": first,
            "second_push_bytes": second - first, "share": (second - first) / first}


def measure(runs: int) -> dict:
    # The layouts alternate run by run, so that a slow spell of PyPI's falls on both.
    samples: dict[tuple[str, str], list[dict]] = {}
    with tempfile.TemporaryDirectory(prefix="bench-layers-") as parent:
        for run in range(runs):
            for job_name, job in JOBS.items():
                for layout in LAYOUTS:
                    print(f"[{job_name}, {layout}] run {run + 1}/{runs}", flush=True)
                    samples.setdefault((job_name, layout), []).append(
                        measure_one(Path(parent) / str(run), job, layout))
    figures: dict[str, dict] = {}
    for (job_name, layout), runs_of_it in samples.items():
        figures.setdefault(job_name, {})[layout] = {
            key: summary([s[key] for s in runs_of_it]) for key in runs_of_it[0]}
    return figures


def table(figures: dict, about: str) -> str:
    rows = ["| job | layout | first push | second push (one package added) | share | cold build | "
            "requirements change |", "|---|---|---:|---:|---:|---:|---:|"]
    for job_name, layouts in figures.items():
        for layout, f in layouts.items():
            rows.append(f"| {job_name} | {layout} | {f['first_push_bytes']['median'] / 1e6:.1f} MB | "
                        f"{f['second_push_bytes']['median'] / 1e6:.1f} MB | {f['share']['median']:.1%} | "
                        f"{seconds(f['cold_build_s'])} | {seconds(f['requirements_build_s'])} |")
        split, one = layouts["16 layers"], layouts["one layer"]
        rows.append(f"| {job_name} | 16 layers ÷ one layer | | | | "
                    f"{ratio(split['cold_build_s']['median'], one['cold_build_s']['median'])} | "
                    f"{ratio(split['requirements_build_s']['median'], one['requirements_build_s']['median'])} |")
    runs = next(iter(next(iter(figures.values())).values()))["cold_build_s"]["runs"]
    return "\n".join(rows) + (f"\n\n{about}; median of {runs} runs (min–max), the layouts taking turns; "
                               "bytes as the registry stores them.")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=1, help="runs of each job and layout (default 1)")
    args = parser.parse_args()
    figures = measure(args.runs)
    about = machine()
    markdown = table(figures, about)
    save_results("layers", about, figures, markdown)


if __name__ == "__main__":
    main()
