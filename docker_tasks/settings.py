"""The project's settings, each taken from the flag, then the environment, then `.env`, then a default."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from docker_tasks import base_image, python_version
from docker_tasks import job as job_contract
from docker_tasks.commands import PUSH_COMPRESSIONS
from docker_tasks.envfiles import read_env_file
from docker_tasks.errors import TaskError
from docker_tasks.job import Job

PROJECT_ROOT = Path(__file__).resolve().parent.parent

DEFAULTS: dict[str, str | None] = {
    "IMAGE_NAME": "app-name",
    "BASE_IMAGE": None,  # the Dockerfile's own default, pinned by digest (`inv base`)
    "REGISTRY": None,
    "KEEP_BUILDS": "3",
    "PLATFORM": None,
    "PUSH_COMPRESSION": "gzip",  # how `inv push` compresses layers: gzip, or zstd (docker_tasks/commands.py)
    "CACHE_FROM": None,  # a build cache to read, e.g. type=registry,ref=REGISTRY/NAME:cache (build_cache.py)
    "CACHE_TO": None,  # where a build exports its cache, e.g. the same
    "EXTRA_INDEX_URL": None,  # a public package index uv also installs from, e.g. PyTorch's CPU wheels
}

# Read by the tasks, never handed to the job from env files: settings and registry credentials.
TASKS_ONLY = frozenset(DEFAULTS) | {"REGISTRY_USERNAME", "REGISTRY_PASSWORD", "REGISTRY_TOKEN", "BATCH_JOB_QUEUE",
                                     "BATCH_COMPUTE", "BATCH_MAX_VCPUS", "BATCH_SUBNETS", "BATCH_SECURITY_GROUPS",
                                     "BATCH_INSTANCE_PROFILE"}



@dataclass(frozen=True)
class Settings:
    image_name: str
    base_image: str | None  # None: the Dockerfile's default
    registry: str | None
    root: Path
    keep_builds: int = 3
    platform: str | None = None
    push_compression: str = "gzip"
    cache_from: str | None = None
    cache_to: str | None = None
    extra_index_url: str | None = None
    job: Job = Job()  # the job contract, from pyproject.toml (docker_tasks/job.py)
    dotenv: Mapping[str, str | None] = field(default_factory=dict)  # .env, read once

    def env_files(self, named: Sequence[str], cwd: Path) -> list[Mapping[str, str | None]]:
        """What the job's environment comes from: the env files named, else .env (read at load)."""
        return [read_env_file(cwd / name) for name in named] or [self.dotenv]

    def lookup(self, name: str, environ: Mapping[str, str]) -> str | None:
        """A value that is not a setting of the tasks (a credential, say): the environment, then `.env`."""
        return environ.get(name) or self.dotenv.get(name) or None

    def base_choice(self) -> tuple[str | None, str]:
        """The base image builds use, and why, in words: BASE_IMAGE when set; else the official slim
        image of the Python the project names (python_version.py); else None, the Dockerfile's pin."""
        dockerfile = self.root / "Dockerfile"
        text = dockerfile.read_text() if dockerfile.is_file() else ""
        project = job_contract.pyproject_document(self.root).get("project", {})
        if self.base_image:
            try:
                wanted = python_version.project_version(self.root, project)
            except TaskError:
                wanted = None
            asked = f"; the project asks for Python {wanted[0]} ({wanted[1]})" if wanted else ""
            return self.base_image, f"{self.base_image}: BASE_IMAGE is set, and wins{asked}"
        choice = python_version.choose(self.root, project, text)
        if choice:
            return choice.image, choice.describe()
        pin = base_image.dockerfile_pin(text)
        return None, f"{pin or 'the Dockerfile default'}: the Dockerfile's default, as the project names no Python"

    def base_name(self) -> str:
        """The base image builds use, by name, the Dockerfile's pin included (for messages)."""
        chosen, _ = self.base_choice()
        dockerfile = self.root / "Dockerfile"
        pin = base_image.dockerfile_pin(dockerfile.read_text()) if dockerfile.is_file() else None
        return chosen or (pin.reference if pin else "of the Dockerfile")

    @property
    def index_and_base_args(self) -> dict[str, str]:
        """The build arguments the lock and the image share: the base image when one is chosen (else
        the Dockerfile's pin applies), and EXTRA_INDEX_URL when set."""
        chosen, _ = self.base_choice()
        return ({"BASE_IMAGE": chosen} if chosen else {}) | (
            {"EXTRA_INDEX_URL": self.extra_index_url} if self.extra_index_url else {})

    @property
    def output_folder(self) -> Path:
        """The folder on this machine that is mounted where the job writes."""
        return self.root / "output"

    @property
    def project(self) -> str:
        """The project's name in ownership labels: the image name's last path component."""
        return self.image_name.rsplit("/", 1)[-1]


def parse_keep(value: str, source: str = "--keep") -> int:
    """How many of the newest builds to keep: a whole number, 0 or more."""
    if not value.strip().isdigit():
        raise TaskError(f"{source} {value!r}: give how many of the newest builds to keep, e.g. 3")
    return int(value)


def parse_compression(value: str) -> str:
    """How pushed layers are compressed: gzip, which every client pulls, or zstd."""
    if value.lower() not in PUSH_COMPRESSIONS:
        raise TaskError(f"PUSH_COMPRESSION {value!r}: give gzip (every client pulls it) or zstd (smaller and "
                        "faster to unpack; Docker 23+ and containerd 1.5+ pull it)")
    return value.lower()


def parse_index_url(value: str | None) -> str | None:
    """A public index's URL: build arguments stay readable in the image's history, so one that
    carries credentials must go as the secret index_url instead."""
    if not value:
        return None
    if not value.startswith(("https://", "http://")):
        raise TaskError(f"EXTRA_INDEX_URL {value!r}: give the index's URL, e.g. https://download.pytorch.org/whl/cpu")
    if "@" in value.split("://", 1)[1].split("/", 1)[0]:
        raise TaskError("EXTRA_INDEX_URL carries credentials, and build arguments stay readable in `docker history`; "
                        "give such an index as a secret: inv build --secret id=index_url,env=VARIABLE "
                        "(docs/releases.md, \"Build secrets\")")
    return value


def project_name(job: Job) -> str:
    """The project's name, when IMAGE_NAME does not say otherwise: the job contract's, else app-name."""
    return job.name or DEFAULTS["IMAGE_NAME"] or ""


def resolve(name: str, flag: str | None, environ: Mapping[str, str], dotenv: Mapping[str, str | None],
            defaults: Mapping[str, str | None] = DEFAULTS) -> str | None:
    """The first of flag, environment variable and `.env` entry that is set and not empty."""
    for candidate in (flag, environ.get(name), dotenv.get(name)):
        if candidate:
            return candidate
    return defaults[name]


def read_dotenv(root: Path) -> dict[str, str | None]:
    path = root / ".env"
    return read_env_file(path) if path.is_file() else {}


def load(environ: Mapping[str, str], root: Path = PROJECT_ROOT, **flags: str | None) -> Settings:
    """Settings for this checkout; `flags` are keyed like the fields (image_name=..., base_image=...)."""
    dotenv = read_dotenv(root)
    job = job_contract.read(root)
    defaults = {**DEFAULTS, "IMAGE_NAME": project_name(job)}
    values = {name: resolve(name, flags.get(name.lower()), environ, dotenv, defaults) for name in DEFAULTS}
    return Settings(
        image_name=values["IMAGE_NAME"] or "",
        base_image=values["BASE_IMAGE"],
        registry=values["REGISTRY"],
        root=root,
        keep_builds=parse_keep(values["KEEP_BUILDS"] or "", "KEEP_BUILDS"),
        platform=values["PLATFORM"],
        push_compression=parse_compression(values["PUSH_COMPRESSION"] or ""),
        cache_from=values["CACHE_FROM"],
        cache_to=values["CACHE_TO"],
        extra_index_url=parse_index_url(values["EXTRA_INDEX_URL"]),
        job=job,
        dotenv=dotenv,
    )
