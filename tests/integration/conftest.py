"""Fixtures for the integration tests: a real Docker engine and a throw-away copy of this project.

Each session builds under image names of its own (`dockertasks-it-<random>`), so the tests never
depend on, or touch, anything else the engine holds; they remove what they created, by label.
The copies run the tests' own job (fixture_job/) in place of src/: the tasks are tested on a job
of their own, so that their tests pass in a fork whose job looks nothing like the sample.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import subprocess
import sys
import uuid
from dataclasses import dataclass
from pathlib import Path

import pytest

from docker_tasks import settings
from tests.integration.support import free_port

ROOT = Path(__file__).resolve().parents[2]
FIXTURE_JOB = Path(__file__).resolve().parent / "fixture_job"
PROJECT_LABEL = "dockertasks.project"
# As the tasks resolve it: the environment, then this checkout's .env (which copies do not get), then
# the default; so a BASE_IMAGE set in .env serves the tests too.
BASE_IMAGE = settings.load(os.environ, ROOT).base_image


def pytest_collection_modifyitems(items):
    for item in items:
        if "integration" in item.path.parts:
            item.add_marker(pytest.mark.docker)


@pytest.fixture(scope="session")
def engine():
    import docker

    try:
        client = docker.from_env()
        client.ping()
    except Exception as exc:  # any failure to connect means no engine
        message = f"no Docker engine answers ({exc}); start one, e.g. ../shared/ci/docker-up"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    yield client
    client.close()


def git(cwd: Path, *args: str) -> str:
    return subprocess.run(["git", *args], cwd=cwd, check=True, capture_output=True, text=True).stdout.strip()


def without_job_contract(pyproject: str) -> str:
    """pyproject.toml's text without its [tool.dockertasks.job] table: a job that does not shard."""
    return re.sub(r"^\[tool\.dockertasks\.job\]\n(?:(?!\[).*\n?)*", "", pyproject, flags=re.M)


def copy_project(destination: Path, *, with_git: bool = True, sample: bool = False) -> Path:
    """Copy the project as a user's checkout would hold it: tracked and new files, nothing ignored;
    with the tests' own job in place of src/ and its tests, unless `sample`."""
    files = git(ROOT, "ls-files", "--cached", "--others", "--exclude-standard", "-z").split("\0")
    for name in filter(None, files):
        source = ROOT / name
        if source.is_file():
            (destination / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, destination / name)
    if not sample:
        shutil.rmtree(destination / "src")
        shutil.rmtree(destination / "tests" / "job", ignore_errors=True)
        shutil.copytree(FIXTURE_JOB / "src", destination / "src")
        for name in ("requirements.txt", "requirements.lock"):
            shutil.copy2(FIXTURE_JOB / name, destination / name)
        pyproject = destination / "pyproject.toml"
        pyproject.write_text(without_job_contract(pyproject.read_text()).rstrip("\n") + "\n\n"
                             + (FIXTURE_JOB / "job-contract.toml").read_text())
    if with_git:
        git(destination, "init", "-q")
        git(destination, "config", "user.email", "tests@example.com")
        git(destination, "config", "user.name", "Tests")
        git(destination, "add", "-A")
        git(destination, "commit", "-qm", "copy of the project")
    return destination


@dataclass
class Project:
    root: Path
    image_name: str

    @staticmethod
    def invoke_command() -> list[str]:
        return [sys.executable, "-m", "invoke"]

    def environment(self, env: dict[str, str] | None = None) -> dict[str, str]:
        base = {"BASE_IMAGE": BASE_IMAGE} if BASE_IMAGE else {}  # else the Dockerfile's pin
        return {**os.environ, "IMAGE_NAME": self.image_name, **base, **(env or {})}

    def inv(self, *args: str, env: dict[str, str] | None = None, timeout: int = 900) -> subprocess.CompletedProcess:
        return subprocess.run([*self.invoke_command(), *args], cwd=self.root, env=self.environment(env),
                              stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=timeout)

    def start(self, *args: str, env: dict[str, str] | None = None) -> subprocess.Popen:
        """A task running in the background, its output piped, for a test to act on meanwhile."""
        return subprocess.Popen([*self.invoke_command(), *args], cwd=self.root, env=self.environment(env),
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)

    def commit_change(self, text: str) -> None:
        """Commit a change to the job's code, so that the next build is a new image."""
        main = self.root / "src" / "main.py"
        main.write_text(main.read_text() + f"# {text}\n")
        git(self.root, "commit", "-qam", text)

    def head(self, short: bool = False) -> str:
        return git(self.root, "rev-parse", *(["--short=12"] if short else []), "HEAD")

    def commit_time(self) -> int:
        return int(git(self.root, "log", "-1", "--format=%ct"))


def remove_container(client, container_id: str) -> None:
    """Remove a container; one already gone, or already being removed (by Swarm), is no error."""
    import docker.errors

    try:
        client.api.remove_container(container_id, force=True)
    except docker.errors.NotFound:
        pass
    except docker.errors.APIError as exc:
        if "already in progress" not in str(exc):
            raise


def remove_project_objects(client, project: str) -> None:
    import docker.errors

    selector = {"label": f"{PROJECT_LABEL}={project}"}
    # Summaries and ids only: a container may vanish between listing and removal (Swarm's do), or
    # be in the middle of Swarm's own removal of it.
    for container in client.api.containers(all=True, filters=selector):
        remove_container(client, container["Id"])
    for image in client.api.images(filters=selector):
        with contextlib.suppress(docker.errors.NotFound):
            client.api.remove_image(image["Id"], force=True)
    for volume in client.api.volumes(filters=selector).get("Volumes") or []:  # the model cache, Swarm's shards
        with contextlib.suppress(docker.errors.NotFound, docker.errors.APIError):  # in use: Swarm's, going
            client.api.remove_volume(volume["Name"], force=True)


@pytest.fixture(scope="session")
def make_project(engine, tmp_path_factory):
    """A factory of project copies, each under its own image name; all removed at the end."""
    created: list[str] = []

    def make(*, with_git: bool = True, sample: bool = False) -> Project:
        image_name = f"dockertasks-it-{uuid.uuid4().hex[:10]}"
        created.append(image_name)
        root = copy_project(tmp_path_factory.mktemp(image_name) / "app-name", with_git=with_git, sample=sample)
        return Project(root, image_name)

    yield make
    for image_name in created:
        remove_project_objects(engine, image_name)


@pytest.fixture(scope="session")
def canary() -> str:
    return f"canary-{uuid.uuid4().hex}"


@pytest.fixture(scope="session")
def built(make_project, canary) -> Project:
    """One clean build of the project, with a secret planted in `.env` (which git ignores)."""
    project = make_project()
    (project.root / ".env").write_text(f"SECRET_TOKEN={canary}\n")
    result = project.inv("build")
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return project


@dataclass
class Registry:
    host: str
    username: str
    password: str
    storage: Path

    def stored_bytes(self) -> int:
        """What the registry keeps on disk: its blobs and manifests."""
        return sum(path.stat().st_size for path in self.storage.rglob("*") if path.is_file())

    def ask(self, path: str, method: str = "GET", accept: str | None = None):
        import base64
        import urllib.request

        request = urllib.request.Request(f"http://{self.host}/v2/{path}", method=method)
        token = base64.b64encode(f"{self.username}:{self.password}".encode()).decode()
        request.add_header("Authorization", f"Basic {token}")
        if accept:
            request.add_header("Accept", accept)
        return urllib.request.urlopen(request, timeout=10)

    def tags(self, repository: str) -> list[str]:
        import json
        import urllib.error

        try:
            with self.ask(f"{repository}/tags/list") as response:
                return json.load(response).get("tags") or []
        except urllib.error.HTTPError as answer:
            if answer.code == 404:  # nothing was ever pushed under that name
                return []
            raise

    def manifest(self, repository: str, tag: str) -> dict:
        """The image manifest a tag names, when it names one platform's image."""
        import json

        accept = "application/vnd.oci.image.manifest.v1+json, application/vnd.docker.distribution.manifest.v2+json"
        with self.ask(f"{repository}/manifests/{tag}", accept=accept) as response:
            return json.load(response)

    def index(self, repository: str, tag: str) -> dict:
        """The image index a tag names: one manifest a platform, and attestations."""
        import json

        accept = "application/vnd.oci.image.index.v1+json, application/vnd.docker.distribution.manifest.list.v2+json"
        with self.ask(f"{repository}/manifests/{tag}", accept=accept) as response:
            return json.load(response)

    def manifest_digest(self, repository: str, tag: str) -> str:
        """The digest the registry serves for a tag, whichever manifest type the engine pushed."""
        accept = ", ".join(f"application/vnd.{kind}" for kind in (
            "oci.image.index.v1+json", "oci.image.manifest.v1+json",
            "docker.distribution.manifest.list.v2+json", "docker.distribution.manifest.v2+json"))
        with self.ask(f"{repository}/manifests/{tag}", method="HEAD", accept=accept) as response:
            return response.headers["Docker-Content-Digest"]


@pytest.fixture(scope="session")
def registry(tmp_path_factory, engine):
    """A real registry (Debian's docker-registry) on loopback, with htpasswd auth; stopped at the end."""
    import time
    import urllib.error
    import urllib.request

    missing = [tool for tool in ("docker-registry", "htpasswd") if shutil.which(tool) is None]
    if missing:
        message = f"{' and '.join(missing)} not installed (apt-get install docker-registry apache2-utils)"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    folder = tmp_path_factory.mktemp("registry")
    username, password = "tester", f"pw-{uuid.uuid4().hex}"
    hashed = subprocess.run(["htpasswd", "-niB", username], input=password + "\n", capture_output=True,
                            text=True, check=True).stdout.strip()
    (folder / "htpasswd").write_text(hashed + "\n")
    port = free_port()
    (folder / "config.yml").write_text(
        "version: 0.1\n"
        f"storage:\n  filesystem:\n    rootdirectory: {folder / 'data'}\n  delete:\n    enabled: true\n"
        f"http:\n  addr: 127.0.0.1:{port}\n"
        f"auth:\n  htpasswd:\n    realm: tests\n    path: {folder / 'htpasswd'}\n"
    )
    with open(folder / "registry.log", "w") as log:
        server = subprocess.Popen(["docker-registry", "serve", str(folder / "config.yml")],
                                  stdout=log, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 30
    while True:
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/v2/", timeout=1)
        except urllib.error.HTTPError as answer:
            if answer.code == 401:
                break
        except OSError:
            pass
        if time.monotonic() > deadline or server.poll() is not None:
            server.kill()
            pytest.fail(f"the registry did not start: {(folder / 'registry.log').read_text()[-2000:]}")
        time.sleep(0.2)
    yield Registry(f"127.0.0.1:{port}", username, password, folder / "data")
    server.terminate()
    server.wait(timeout=10)


@pytest.fixture(scope="session")
def aws(tmp_path_factory) -> dict[str, str]:
    """moto's server on loopback, emulating AWS, and the environment that points boto3 at it (and
    at made-up credentials, never yours). Its Batch runs jobs' containers on the local engine, on
    the host's network, so that they reach it; stopped at the end."""
    import time
    import urllib.request

    from tests.integration.support import free_port

    server = shutil.which("moto_server", path=str(Path(sys.executable).parent)) or shutil.which("moto_server")
    if server is None:
        message = "moto_server is not installed (it comes with requirements-dev.txt)"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    port = free_port()
    log = tmp_path_factory.mktemp("moto") / "moto.log"
    settings_env = {"MOTO_IAM_LOAD_MANAGED_POLICIES": "true", "MOTO_DOCKER_NETWORK_MODE": "host"}
    with open(log, "w") as out:
        process = subprocess.Popen([server, "-H", "127.0.0.1", "-p", str(port)], stdout=out,
                                   stderr=subprocess.STDOUT, env={**os.environ, **settings_env})
    endpoint = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while True:
        try:
            urllib.request.urlopen(f"{endpoint}/moto-api/", timeout=1)
            break
        except OSError:
            if time.monotonic() > deadline or process.poll() is not None:
                process.kill()
                pytest.fail(f"moto_server did not start: {log.read_text()[-2000:]}")
            time.sleep(0.2)
    yield {"AWS_ENDPOINT_URL": endpoint, "AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
           "AWS_DEFAULT_REGION": "eu-west-1", "AWS_CONFIG_FILE": os.devnull, "AWS_SHARED_CREDENTIALS_FILE": os.devnull}
    process.terminate()
    process.wait(timeout=10)
