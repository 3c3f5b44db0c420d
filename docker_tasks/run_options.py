"""`inv run`'s options in `docker run`'s grammar, checked before any Docker call, and the plan they make.

As docker-py's `_create_container_args`, the translation into the engine's arguments is a pure
function of plain values (`create_kwargs`), so it is tested without an engine.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from docker_tasks.errors import TaskError

PORT_FORM = "--port [IP:]HOST:CONTAINER[/tcp|udp], e.g. --port 8080:80"
VOLUME_FORM = "--volume HOST_PATH:CONTAINER_PATH[:ro], e.g. --volume ./data:/app/data:ro"
GPUS_FORM = "--gpus all, --gpus 2, or --gpus device=0,1"
MEMORY_FORM = "--memory 2g, --memory 512m, or a plain number of MiB (--memory 2048)"
# One grammar for `inv run` and `inv batch-submit`: Docker's units, and a plain number in MiB as AWS
# Batch counts (Docker would read it as bytes, of which no job runs in a few thousand).
MEMORY_UNITS = {"": 1 << 20, "b": 1, "k": 1 << 10, "m": 1 << 20, "g": 1 << 30, "t": 1 << 40}
MEMORY_MINIMUM = 6 << 20  # the engine refuses less
_MEMORY = re.compile(r"^(\d+(?:\.\d+)?)([bkmgt]?)b?$")
VOLUME_OPTIONS = {"ro", "rw", "z", "Z", "cached", "delegated", "consistent", "nocopy"}
_VOLUME_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]+$")

PortBindings = dict[str, list[tuple[str, int | None]]]


@dataclass(frozen=True)
class Hardening:
    """The container's defences, each on by default and each can be turned off.

    A read-only root filesystem (the job writes only to the output volume and a tmpfs /tmp), no
    Linux capabilities, and no privilege escalation through setuid binaries.
    """

    read_only: bool = True
    drop_capabilities: bool = True
    no_new_privileges: bool = True


DEFENCES = Hardening()  # every engine's default

# The model cache: a named volume of the project, mounted into every run (local, shards, Swarm),
# where the libraries that download weights and data put them, so that the second run reuses what
# the first fetched; the root filesystem is read-only and /tmp is a small tmpfs. The image makes
# /cache writable by any user (Dockerfile), as a new volume takes the folder's mode.
CACHE_TARGET = "/cache"
CACHE_ENVIRONMENT = {"HF_HOME": "/cache/huggingface", "TORCH_HOME": "/cache/torch", "XDG_CACHE_HOME": "/cache"}


def cache_volume(project: str) -> str:
    return f"{project}-cache"


def with_cache(environment: dict[str, str], volumes: list[str], project: str) -> tuple[dict[str, str], list[str]]:
    """The environment and binds of a run with the model cache: its variables (unless the job's
    environment sets them already) and its volume (unless something is mounted at /cache)."""
    if CACHE_TARGET in map(volume_target, volumes):
        return environment, volumes
    return {**CACHE_ENVIRONMENT, **environment}, [*volumes, f"{cache_volume(project)}:{CACHE_TARGET}"]

TMPFS_SIZE = 512 << 20
TMPFS = {"/tmp": f"rw,nosuid,nodev,size={TMPFS_SIZE >> 20}m"}


@dataclass(frozen=True)
class RunPlan:
    """Everything one container needs; `create_kwargs` turns it into docker-py's arguments."""

    image: str
    name: str
    labels: dict[str, str]
    command: list[str] | None = None
    entrypoint: str | None = None
    environment: dict[str, str] = field(default_factory=dict)
    ports: PortBindings = field(default_factory=dict)
    volumes: list[str] = field(default_factory=list)
    user: str | None = None
    detach: bool = False
    remove: bool = True
    output_dir: str = "/app/output"  # where the job writes in the container (job.py); not an option of its own
    gpus: dict | None = None
    memory: str | None = None  # as `docker run --memory` takes it; swap is not added on top
    platform: str | None = None  # which image of a multi-platform one to run; None: this machine's
    shm_size: str | None = None  # /dev/shm, in the memory grammar; Docker's default is 64m
    ipc: str | None = None  # IPC namespace: private, shareable, host or none (IPC_MODES)
    hardening: Hardening = field(default_factory=lambda: Hardening())


def _port_number(text: str, spec: str) -> int:
    if not text.isdigit() or not 1 <= int(text) <= 65535:
        raise TaskError(f"--port {spec}: {text!r} is not a port number from 1 to 65535; use {PORT_FORM}")
    return int(text)


def _port_range(text: str, spec: str) -> list[int]:
    first, dash, last = text.partition("-")
    low = _port_number(first, spec)
    high = _port_number(last, spec) if dash else low
    if high < low:
        raise TaskError(f"--port {spec}: the range {text} runs backwards; use {PORT_FORM}")
    return list(range(low, high + 1))


def parse_port(spec: str) -> PortBindings:
    """`[IP:][HOST:]CONTAINER[/PROTO]`, ranges allowed: `8000-8001:8000-8001`."""
    ports, slash, protocol = spec.partition("/")
    protocol = protocol if slash else "tcp"
    if protocol not in {"tcp", "udp", "sctp"}:
        raise TaskError(f"--port {spec}: protocol {protocol!r} is not tcp, udp or sctp; use {PORT_FORM}")
    parts = ports.split(":")
    if len(parts) > 3 or not parts[-1]:
        raise TaskError(f"--port {spec!r} is not in docker's form; use {PORT_FORM}")
    host_ip = parts[0] if len(parts) == 3 else ""
    host_text = parts[-2] if len(parts) >= 2 else ""
    container_ports = _port_range(parts[-1], spec)
    host_ports: list[int | None] = _port_range(host_text, spec) if host_text else [None] * len(container_ports)
    if len(host_ports) != len(container_ports):
        raise TaskError(f"--port {spec}: the host and container ranges differ in length; use {PORT_FORM}")
    return {f"{c}/{protocol}": [(host_ip, h)] for h, c in zip(host_ports, container_ports, strict=False)}


def parse_ports(specs: Iterable[str]) -> PortBindings:
    bindings: PortBindings = {}
    for spec in specs:
        for container_port, hosts in parse_port(spec).items():
            bindings.setdefault(container_port, []).extend(hosts)
    return bindings


def parse_volume(spec: str, cwd: Path) -> str:
    """Return the bind as `SOURCE:TARGET[:OPTIONS]`, with a relative host path made absolute."""
    parts = spec.split(":")
    if len(parts) not in (2, 3) or not parts[0] or not parts[1]:
        raise TaskError(f"--volume {spec!r} is not in docker's form; use {VOLUME_FORM}")
    source, target = parts[0], parts[1]
    options = parts[2].split(",") if len(parts) == 3 else []
    if not target.startswith("/"):
        raise TaskError(f"--volume {spec}: the container path {target!r} must be absolute; use {VOLUME_FORM}")
    unknown = [o for o in options if o not in VOLUME_OPTIONS]
    if unknown:
        raise TaskError(f"--volume {spec}: unknown option {unknown[0]!r} (ro or rw); use {VOLUME_FORM}")
    if source.startswith(("/", ".", "~")) or "/" in source:
        path = (cwd / Path(source).expanduser()).resolve()
        if not path.exists():
            raise TaskError(f"--volume {spec}: {path} does not exist on this machine; create it or fix the path")
        source = str(path)
    elif not _VOLUME_NAME.match(source):
        raise TaskError(f"--volume {spec}: {source!r} is neither a path nor a volume name; use {VOLUME_FORM}")
    return ":".join([source, target, *([",".join(options)] if options else [])])


def volume_target(bind: str) -> str:
    return bind.split(":")[1]


def unmounted_host_paths(arguments: Iterable[str], binds: Iterable[str], cwd: Path) -> list[str]:
    """The job's arguments that name a file or folder on this machine outside every mounted folder.

    The job cannot see them: passing a local path without mounting it is the commonest first
    mistake with containers, and the job alone can only say "not found".
    """
    sources = [Path(bind.split(":")[0]) for bind in binds if bind.startswith("/")]
    found = []
    for argument in arguments:
        value = argument.partition("=")[2] if argument.startswith("-") else argument
        if not value:
            continue
        path = (cwd / value).resolve()
        if path.exists() and not any(path.is_relative_to(source) for source in sources):
            found.append(value)
    return found


def parse_gpus(spec: str) -> dict:
    """`docker run --gpus` grammar -> DeviceRequest fields (count -1 means all GPUs)."""
    request: dict = {"driver": "", "count": 0, "device_ids": None, "capabilities": [["gpu"]]}
    fields = next(csv.reader([spec.strip().strip("'")]), [])
    if not fields:
        raise TaskError(f"--gpus needs a value; use {GPUS_FORM}")
    for item in fields:
        key, sep, value = item.partition("=")
        if not sep and key == "all":
            request["count"] = -1
        elif not sep and key.isdigit():
            request["count"] = int(key)
        elif key == "count" and (value == "all" or value.isdigit()):
            request["count"] = -1 if value == "all" else int(value)
        elif key == "device" and value:
            request["device_ids"] = value.split(",")
        elif key == "driver" and value:
            request["driver"] = value
        elif key == "capabilities" and value:
            request["capabilities"] = [value.split(",")]
        else:
            raise TaskError(f"--gpus {spec!r}: cannot read {item!r}; use {GPUS_FORM}")
    return request


def gpus_flag(request: dict) -> str:
    """The `docker run --gpus` value that parse_gpus reads back as `request`: what the dry run
    shows is what the run asks for."""
    fields = [f"driver={request['driver']}"] if request.get("driver") else []
    if request.get("device_ids"):
        fields.append("device=" + ",".join(request["device_ids"]))
    elif request.get("count"):
        fields.append("all" if request["count"] == -1 else str(request["count"]))
    capabilities = (request.get("capabilities") or [["gpu"]])[0]
    if capabilities != ["gpu"]:
        fields.append("capabilities=" + ",".join(capabilities))
    line = io.StringIO()
    csv.writer(line, lineterminator="").writerow(fields)
    return line.getvalue()


IPC_MODES = ("private", "shareable", "host", "none")
# PyTorch's DataLoader workers pass batches through /dev/shm, and Docker's 64 MB ends them with
# "bus error"; a run that asks for GPUs gets this unless it says otherwise (or shares the host's IPC).
GPU_SHM_SIZE = "2g"


def parse_ipc(mode: str) -> str:
    if mode not in IPC_MODES:
        raise TaskError(f"--ipc {mode!r}: give one of {', '.join(IPC_MODES)} (host shares this machine's "
                        "shared memory, as PyTorch's own images suggest; the default is private)")
    return mode


def shm_size_for(shm_size: str | None, gpus: dict | None, ipc: str | None) -> str | None:
    """The /dev/shm size to ask for: the one given, else GPU_SHM_SIZE for a GPU job with its own IPC."""
    if shm_size:
        parse_memory(shm_size)
        return shm_size
    return GPU_SHM_SIZE if gpus and ipc != "host" else None


def gpu_count(request: dict | None) -> int:
    """How many GPUs a request names: its devices, or its count (-1: all of them, however many)."""
    if not request:
        return 0
    return len(request["device_ids"]) if request.get("device_ids") else request.get("count", 0)


def parse_gpu_count(value: str | int, flag: str = "--gpus") -> int:
    """A whole number of GPUs, 0 or more, as AWS Batch and Swarm ask for them."""
    if not str(value).strip().isdigit():
        raise TaskError(f"{flag} {value!r}: give how many GPUs each shard needs, e.g. {flag} 1")
    return int(value)


def spread_gpus(request: dict, shards: int, per_shard: int) -> list[dict]:
    """The GPUs of each of `shards` shards: shard i gets `per_shard` devices from i * per_shard on,
    round the devices the request names (`--gpus 4`: devices 0 to 3), so that shards share the
    GPUs rather than each taking all of them."""
    if request.get("device_ids"):
        devices = list(request["device_ids"])
    elif request.get("count", 0) > 0:
        devices = [str(index) for index in range(request["count"])]
    else:
        raise TaskError("--gpus all would give every shard every GPU; say how many this machine has (--gpus 4) or "
                        "which (--gpus device=0,1), and each shard gets its share")
    if not 1 <= per_shard <= len(devices):
        raise TaskError(f"--gpus-per-shard {per_shard}: give 1 to {len(devices)}, the GPUs --gpus names")
    return [{**request, "count": 0,
             "device_ids": [devices[(index * per_shard + offset) % len(devices)] for offset in range(per_shard)]}
            for index in range(shards)]


def parse_memory(spec: str) -> int:
    """512m, 2g, 1.5g (k, m, g, t are powers of 1024, as `docker run --memory` takes them), or a
    plain number of MiB -> bytes."""
    found = _MEMORY.match(str(spec).strip().lower())
    if not found:
        raise TaskError(f"--memory {spec!r} is not an amount of memory; use {MEMORY_FORM}")
    amount = int(float(found[1]) * MEMORY_UNITS[found[2]])
    if amount < MEMORY_MINIMUM:
        raise TaskError(f"--memory {spec}: Docker needs at least 6m; use {MEMORY_FORM}")
    return amount


def memory_mib(spec: str) -> int:
    """The amount in whole MiB, rounded up, as AWS Batch takes it."""
    return -(-parse_memory(spec) // (1 << 20))


def memory_flag(spec: str) -> str:
    """The amount as `docker run --memory` reads it: a plain number there is bytes."""
    amount = parse_memory(spec)
    return f"{amount >> 20}m" if amount % (1 << 20) == 0 else f"{amount}b"


def create_kwargs(plan: RunPlan) -> dict:
    """docker-py `containers.create` arguments; the init process forwards `docker stop`'s SIGTERM."""
    kwargs: dict = {
        "image": plan.image,
        "name": plan.name,
        "labels": plan.labels,
        "command": plan.command,
        "environment": plan.environment,
        "init": True,
        "detach": True,
    }
    memory = parse_memory(plan.memory) if plan.memory else None
    if plan.hardening.read_only:
        kwargs.update(read_only=True, tmpfs=dict(TMPFS))
    if plan.hardening.drop_capabilities:
        kwargs["cap_drop"] = ["ALL"]
    if plan.hardening.no_new_privileges:
        kwargs["security_opt"] = ["no-new-privileges"]
    optional = {
        "entrypoint": plan.entrypoint,
        "ports": {
            port: [{"HostIp": ip, "HostPort": str(host or "")} for ip, host in hosts]
            for port, hosts in plan.ports.items()
        },
        "volumes": plan.volumes,
        "user": plan.user,
        "device_requests": [plan.gpus] if plan.gpus else None,
        # The same limit for memory and memory plus swap: the job gets no swap, as on a cloud machine.
        "mem_limit": memory,
        "memswap_limit": memory,
        "platform": plan.platform,
        "shm_size": parse_memory(plan.shm_size) if plan.shm_size else None,
        "ipc_mode": plan.ipc,
    }
    kwargs.update({k: v for k, v in optional.items() if v})
    return kwargs
