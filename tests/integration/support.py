"""Helpers the integration tests share beside their fixtures."""

import os
import re
import shlex
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path

# The requirements step prints this when it runs with the secret index_url (Dockerfile).
REQUIREMENTS_RAN = "installing from the private package index of the secret index_url"


def requirements_step_ran(output: str) -> bool:
    """Whether a build ran the requirements step, rather than took it from a cache: run with the
    secret index_url, it prints REQUIREMENTS_RAN, which BuildKit shows after the time it took
    (the step's own header shows the command, which holds the same words)."""
    return bool(re.search(rf"^#\d+ [\d.]+ {REQUIREMENTS_RAN}$", output, re.M))


def renew_requirements_step(root: Path, marker: str) -> None:
    """Give the project's requirements step a cache key no other build has: a comment in the lock
    it reads. (BuildKit keys a step by the content of the one before, so a change there that
    leaves the same files would not do.)"""
    with open(root / "requirements.lock", "a") as lock:
        lock.write(f"# {marker}\n")


def in_a_terminal(project, *args: str, typed: str = "", env: dict[str, str] | None = None
                  ) -> subprocess.CompletedProcess:
    """`inv ARGS` under `script`, which gives it a pseudo-terminal, as a person's shell would."""
    command = shlex.join([*project.invoke_command(), *args])
    return subprocess.run(["script", "-qec", command, "/dev/null"], cwd=project.root,
                          env=project.environment(env), input=typed, capture_output=True, text=True, timeout=180)


def free_port() -> int:
    """A TCP port on loopback that nothing listens on right now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class PrivateEngine:
    """A second Docker engine that belongs to one test, so the test may restart it.

    It has its own socket, data, exec root and containerd, and runs in a network namespace of its
    own: a second engine in the host's namespace deleted the main engine's docker0 bridge when it
    stopped, which broke every container of the main engine. It has no network, which a batch job
    does not need.
    """

    def __init__(self) -> None:
        # Short: a unix socket's path may not be longer than 107 bytes.
        self.folder = Path(tempfile.mkdtemp(prefix="dt-engine-", dir="/tmp"))
        self.host = f"unix://{self.folder / 'docker.sock'}"
        (self.folder / "daemon.json").write_text("{}\n")  # not the host's /etc/docker/daemon.json
        self.daemon: subprocess.Popen | None = None

    @staticmethod
    def available() -> str | None:
        """Why a private engine cannot start here, or None."""
        if os.geteuid() != 0:
            return "a private engine needs root"
        missing = [tool for tool in ("dockerd", "unshare") if shutil.which(tool) is None]
        return f"a private engine needs {' and '.join(missing)}" if missing else None

    @property
    def env(self) -> dict[str, str]:
        return {"DOCKER_HOST": self.host}

    def docker(self, *args: str, **kwargs) -> subprocess.CompletedProcess:
        return subprocess.run(["docker", *args], env={**os.environ, **self.env}, capture_output=True, **kwargs)

    def start(self) -> None:
        command = ["unshare", "--net", "dockerd", "--config-file", str(self.folder / "daemon.json"),
                   "--data-root", str(self.folder / "data"), "--exec-root", str(self.folder / "exec"),
                   "--pidfile", str(self.folder / "docker.pid"), "-H", self.host,
                   "--bridge=none", "--iptables=false", "--ip6tables=false", "--ip-masq=false"]
        with open(self.folder / "dockerd.log", "a") as log:
            self.daemon = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 60
        while self.docker("info").returncode != 0:
            if self.daemon.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"the private engine did not start:\n{self.log_tail()}")
            time.sleep(0.3)

    def stop(self) -> None:
        """Stop the engine as a service manager would: it stops its containers, then exits."""
        if self.daemon is None:
            return
        self.daemon.terminate()
        try:
            self.daemon.wait(timeout=60)
        except subprocess.TimeoutExpired:
            self.daemon.kill()
            self.daemon.wait()
        self.daemon = None

    def restart(self) -> None:
        self.stop()
        self.start()

    def load(self, image: str) -> None:
        """Copy an image of the main engine into this one."""
        saving = subprocess.Popen(["docker", "save", image], stdout=subprocess.PIPE)
        self.docker("load", "--quiet", stdin=saving.stdout, check=True)
        saving.stdout.close()
        assert saving.wait() == 0, f"docker save {image} failed"

    def log_tail(self) -> str:
        return (self.folder / "dockerd.log").read_text(errors="replace")[-3000:]

    def close(self) -> None:
        self.stop()
        shutil.rmtree(self.folder, ignore_errors=True)
