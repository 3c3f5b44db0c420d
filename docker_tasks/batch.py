"""AWS Batch: the job definition and the array job that run the image as N shards.

The requests are built by pure functions, so `--dry-run` prints exactly what would be sent and
the tests check them with botocore's Stubber; seams/aws.py sends them. Secrets are never copied into a job definition:
an env-file value that is a Secrets Manager or SSM ARN becomes a reference Batch resolves at run
time, and a secret-looking variable with a plain value is refused.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping

from docker_tasks import run_options
from docker_tasks.errors import TaskError
from docker_tasks.run_options import TMPFS, TMPFS_SIZE, RunPlan, gpu_count

SECRET_REFERENCE = re.compile(r"^arn:aws[a-z-]*:(secretsmanager|ssm):")
SECRET_LOOKING = re.compile(r"PASSWORD|SECRET|TOKEN|API_?KEY|PRIVATE_?KEY|CREDENTIAL", re.IGNORECASE)
MAX_ARRAY = 10_000


def split_environment(environment: Mapping[str, str]) -> tuple[list[dict], list[dict]]:
    """Plain variables, and secrets referenced by ARN; refuse a secret given as a plain value."""
    plain, secrets = [], []
    for name, value in sorted(environment.items()):
        if SECRET_REFERENCE.match(value):
            secrets.append({"name": name, "valueFrom": value})
        elif SECRET_LOOKING.search(name) and value:
            raise TaskError(f"{name} looks like a secret, and a job definition is readable by anyone who may list "
                            "them: store it in AWS Secrets Manager and put its ARN in the env file "
                            f"({name}=arn:aws:secretsmanager:REGION:ACCOUNT:secret:NAME)")
        else:
            plain.append({"name": name, "value": value})
    return plain, secrets


def job_definition(spec: RunPlan, *, vcpus: str, memory_mib: int, shards: int,
                   fargate_execution_role: str | None = None) -> dict:
    """The job (the same value a local run renders) as a Batch job definition named after it: for
    EC2 compute, or, given the execution role its containers pull and log with, for Fargate."""
    plain, secrets = split_environment({**spec.environment, "SHARD_COUNT": str(shards)})
    hardening = spec.hardening
    fargate = fargate_execution_role is not None
    # The defences of a local run that Batch offers (README, "Scaling out"): a read-only root with a
    # tmpfs /tmp (EC2 only: Fargate has no tmpfs, so there the root stays writable), and an init
    # process. It has no setting to drop capabilities.
    read_only = hardening.read_only and not fargate
    gpus = gpu_count(spec.gpus)
    if gpus and fargate:
        raise TaskError(f"--gpus {gpus}: Fargate has no GPUs; submit to a queue of EC2 compute with GPU instances "
                        "(`inv batch-setup --compute ec2`, then give its compute environment GPU instance types)")
    properties = {
        "image": spec.image,
        "command": list(spec.command or []),
        "resourceRequirements": [{"type": "VCPU", "value": vcpus}, {"type": "MEMORY", "value": str(memory_mib)},
                                 *([{"type": "GPU", "value": str(gpus)}] if gpus else [])],
        "environment": plain,
        "readonlyRootFilesystem": read_only,
        "linuxParameters": {
            "initProcessEnabled": True,
            **({"tmpfs": [{"containerPath": path, "size": TMPFS_SIZE >> 20, "mountOptions": ["rw", "nosuid", "nodev"]}
                          for path in TMPFS]} if read_only else {}),
            # As `inv run` gives a GPU job room in /dev/shm (run_options.GPU_SHM_SIZE), in MiB here.
            **({"sharedMemorySize": run_options.memory_mib(spec.shm_size)} if spec.shm_size and not fargate else {}),
        },
    }
    if secrets:
        properties["secrets"] = secrets
    definition = {"jobDefinitionName": spec.name, "type": "container", "containerProperties": properties}
    if fargate:
        # A public address lets a task in a default VPC's public subnet reach ECR without a NAT gateway.
        properties |= {"executionRoleArn": fargate_execution_role,
                       "networkConfiguration": {"assignPublicIp": "ENABLED"}}
        definition["platformCapabilities"] = ["FARGATE"]
    return definition


def submission(*, name: str, queue: str, definition: str, shards: int) -> dict:
    """An array job of `shards` children (Batch sets AWS_BATCH_JOB_ARRAY_INDEX); one shard is a plain job."""
    if not 1 <= shards <= MAX_ARRAY:
        raise TaskError(f"--shards {shards}: AWS Batch runs 1 to {MAX_ARRAY} shards")
    request = {"jobName": name, "jobQueue": queue, "jobDefinition": definition}
    if shards > 1:
        request["arrayProperties"] = {"size": shards}
    return request


def job_name(project: str, tag: str) -> str:
    """Batch allows letters, digits, '-' and '_', up to 128 characters."""
    return re.sub(r"[^A-Za-z0-9_-]", "-", f"{project}-{tag}")[:128]


def show(requests: Mapping[str, dict]) -> str:
    return json.dumps(requests, indent=2)


# --- Following a submitted job -------------------------------------------------------------------

ENDED = ("SUCCEEDED", "FAILED")
ORDER = ("SUBMITTED", "PENDING", "RUNNABLE", "STARTING", "RUNNING", "SUCCEEDED", "FAILED")
LOG_GROUP = "/aws/batch/job"
# The variable that hands a shard, on Batch, the presigned POST its outputs go up with (JSON: url,
# fields, prefix); a job that finds it uploads its output folder (see src/outputs.py).
UPLOAD_VARIABLE = "OUTPUT_UPLOAD"
# And the files sent along with `--file`: JSON, a presigned GET by file name, for the output folder.
DOWNLOAD_VARIABLE = "INPUT_DOWNLOAD"  # where Batch sends a job's output, unless its definition says otherwise


def child_ids(job_id: str, shards: int) -> list[str]:
    """The ids of an array job's children, `<id>:<index>`; a single job is its own only child."""
    return [f"{job_id}:{index}" for index in range(shards)] if shards > 1 else [job_id]


def shard_of(job_id: str) -> int:
    parent, _, index = job_id.rpartition(":")
    return int(index) if parent and index.isdigit() else 0


def child_states(jobs: list[dict]) -> dict[int, str]:
    """Each child's status by shard, with Batch's reason once it failed: `FAILED (Essential container
    in task exited; exit code 2)`."""
    states = {}
    for job in jobs:
        state = job.get("status", "?")
        if state == "FAILED":
            exit_code = (job.get("container") or {}).get("exitCode")
            reason = "; ".join(part for part in (job.get("statusReason"),
                                                 f"exit code {exit_code}" if exit_code is not None else None) if part)
            state += f" ({reason})" if reason else ""
        states[shard_of(job["jobId"])] = state
    return states


def counts(states: dict[int, str]) -> str:
    """`3 shard(s): 2 SUCCEEDED, 1 FAILED`, in the order jobs move through Batch."""
    tally = {name: sum(1 for state in states.values() if state.split(" ")[0] == name) for name in ORDER}
    return f"{len(states)} shard(s): " + ", ".join(f"{n} {name}" for name, n in tally.items() if n)


def finished(states: dict[int, str], shards: int) -> bool:
    return len(states) == shards and all(state.split(" ")[0] in ENDED for state in states.values())


def failed_shards(states: dict[int, str]) -> list[int]:
    return sorted(index for index, state in states.items() if state.startswith("FAILED"))


def log_stream(job: dict) -> str | None:
    """Where a job's output went in CloudWatch Logs: its container's stream, else its last attempt's."""
    stream = (job.get("container") or {}).get("logStreamName")
    attempts = job.get("attempts") or [{}]
    return stream or (attempts[-1].get("container") or {}).get("logStreamName")

