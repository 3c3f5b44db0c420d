"""Benchmark: the two ways to send a compressed image to a registry, in one run.

Run it with `make bench-push` after `inv build` (it pushes IMAGE_NAME:latest, or --image). Each
sample starts an empty registry on loopback (Debian's docker-registry), so every layer is sent,
and times only the named command(s):

  (a) BuildKit's own push: `echo 'FROM IMAGE' | docker buildx build --output type=image,push=true,...`,
      whose progress carries no bytes (what `inv push` did before);
  (b) what `inv push` does now: BuildKit makes the compressed copy in the engine
      (`--output type=image,...` without push), then `docker push` sends it, with bytes per layer.

Both compress with gzip; BuildKit keeps compressed layers, so after the first sample neither pays
for compression again, and the figures compare the transfer routes. The copies (b) makes, tagged
with the loopback registry's name, are removed at the end; nothing else is touched.
"""

from __future__ import annotations

import argparse
import os
import shutil
import socket
import subprocess
import tempfile
import time
import urllib.request
from pathlib import Path

from run import ROOT, sh, summary, timed  # bench/run.py, beside this file; it puts the project on the path

from docker_tasks import commands, settings


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class EmptyRegistry:
    """A registry with no blobs at all, on loopback, for one sample."""

    def __enter__(self) -> str:
        self.folder = Path(tempfile.mkdtemp(prefix="bench-registry-"))
        port = free_port()
        (self.folder / "config.yml").write_text(
            f"version: 0.1\nstorage:\n  filesystem:\n    rootdirectory: {self.folder / 'data'}\n"
            f"http:\n  addr: 127.0.0.1:{port}\n")
        self.server = subprocess.Popen(["docker-registry", "serve", str(self.folder / "config.yml")],
                                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 30
        while True:
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{port}/v2/", timeout=1)
                return f"127.0.0.1:{port}"
            except OSError:
                if time.monotonic() > deadline:
                    raise SystemExit("bench: the registry did not start") from None
                time.sleep(0.1)

    def __exit__(self, *exc) -> None:
        self.server.terminate()
        self.server.wait(timeout=10)
        shutil.rmtree(self.folder, ignore_errors=True)


def buildkit_push(image: str, target: str) -> float:
    output = commands.image_output([target], "gzip", push=True)
    argv = commands.buildx_build(Path("-"), [], {}, {}, output=output)
    return timed(lambda: sh(argv, stdin=commands.compress_dockerfile(image)))[0]


def copy_and_docker_push(image: str, target: str) -> float:
    compress = commands.compress_command(target, "gzip", None)
    return timed(lambda: (sh(compress, stdin=commands.compress_dockerfile(image)), sh(["docker", "push", target])))[0]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--image", help="the image to push (default IMAGE_NAME:latest)")
    parser.add_argument("--runs", type=int, default=5, help="samples of each way (default 5)")
    args = parser.parse_args()
    image = args.image or f"{settings.load(os.environ, ROOT).image_name}:latest"
    if subprocess.run(["docker", "image", "inspect", image], capture_output=True).returncode != 0:
        raise SystemExit(f"bench: no image {image}; build it first with `inv build`")
    ways = {"(a) BuildKit's own push": buildkit_push, "(b) compressed copy + docker push": copy_and_docker_push}
    samples: dict[str, list[float]] = {name: [] for name in ways}
    copies = set()
    for sample in range(args.runs + 1):  # the first round compresses; it is not counted
        for name, way in ways.items():
            with EmptyRegistry() as host:
                target = f"{host}/bench-push:latest"
                seconds = way(image, target)
                copies.add(target)
            if sample:
                samples[name].append(seconds)
    subprocess.run(["docker", "image", "rm", *copies], capture_output=True)
    figures = {name: summary(values) for name, values in samples.items()}
    reference = figures["(a) BuildKit's own push"]["median"]
    print(f"pushing {image} to an empty loopback registry, gzip, compressed layers cached; {args.runs} runs")
    for name, figure in figures.items():
        print(f"{name}: median {figure['median']:.2f} s (min {figure['min']:.2f}, max {figure['max']:.2f}), "
              f"{figure['median'] / reference:.2f}x (a)")


if __name__ == "__main__":
    main()
