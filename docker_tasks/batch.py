"""AWS Batch (pure functions): the job definition and the array job that run the image as N
shards, how a submitted job is followed, and the environment such jobs need, as `inv batch-setup`
makes it. tasks/batch.py carries them out, through the AWS seam (seams/aws.py).

The requests are built here, so `--dry-run` prints exactly what would be sent and the tests check
them with botocore's Stubber. Secrets are never copied into a job definition: an env-file value
that is a Secrets Manager or SSM ARN becomes a reference Batch resolves at run time, and a
secret-looking variable with a plain value is refused.

The environment: an ECR repository for the image, an S3 bucket where the shards leave their parts,
the IAM roles Batch and the job's containers act as, a managed compute environment and a job
queue. Each is looked for by name, reused when it is there and created when it is not, and tagged
with the project, so that `inv batch-teardown` removes what batch-setup created and nothing else.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from docker_tasks import run_options
from docker_tasks.errors import TaskError
from docker_tasks.labels import PROJECT
from docker_tasks.run_options import TMPFS, TMPFS_SIZE, RunPlan, gpu_count

# --- The job: its definition and its submission -------------------------------------------------

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
    # The defences of a local run that Batch offers (docs/tasks.md, "Secrets and the container's
    # defences"): a read-only root with a tmpfs /tmp (EC2 only: Fargate has no tmpfs, so there the
    # root stays writable), and an init process. It has no setting to drop capabilities.
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
# fields, prefix); the image's launcher uploads the job's output folder with it (docker_tasks/launcher/).
UPLOAD_VARIABLE = "OUTPUT_UPLOAD"
# And the files sent along with `--file`: JSON, a presigned GET by file name, which the launcher
# fetches into the output folder before the job starts.
DOWNLOAD_VARIABLE = "INPUT_DOWNLOAD"


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


# --- The environment: what batch-setup makes ----------------------------------------------------

COMPUTE_TYPES = ("EC2", "FARGATE")
MANAGED_POLICY = "arn:aws:iam::aws:policy/"


@dataclass(frozen=True)
class Role:
    """An IAM role: who may act as it, and the AWS-managed policy it gets."""

    name: str
    service: str  # the AWS service that assumes it
    policy: str
    instance_profile: bool = False  # EC2 instances take a role through an instance profile

    @property
    def trust_policy(self) -> str:
        return json.dumps({"Version": "2012-10-17", "Statement": [{
            "Effect": "Allow", "Principal": {"Service": self.service}, "Action": "sts:AssumeRole"}]})


@dataclass(frozen=True)
class Environment:
    """What batch-setup looks for or creates, by name."""

    project: str
    repository: str
    compute: str  # EC2 or FARGATE
    max_vcpus: int
    subnets: tuple[str, ...]
    security_groups: tuple[str, ...]
    queue: str
    instance_profile: str | None = None  # an existing one to use (EC2), instead of a role of our own
    roles: tuple[Role, ...] = field(default=())

    @property
    def compute_environment(self) -> str:
        return f"{self.project}-compute"

    @property
    def tags(self) -> dict[str, str]:
        return {PROJECT: self.project}

    def role(self, purpose: str) -> Role | None:
        return next((role for role in self.roles if role.name == role_name(self.project, purpose)), None)


def role_name(project: str, purpose: str) -> str:
    """The name of one of the project's roles (`service`, `execution`, `instance`); with purpose "",
    the prefix all of them share."""
    return f"{project}-batch-{purpose}"


def role_arn(account: str, name: str, kind: str = "role") -> str:
    """The ARN of an IAM role of `account`, or with kind `instance-profile`, of an instance profile."""
    return f"arn:aws:iam::{account}:{kind}/{name}"


def parse_compute(value: str) -> str:
    if value.upper() not in COMPUTE_TYPES:
        raise TaskError(f"--compute {value!r}: give ec2 (instances Batch starts for you; GPUs need it) or fargate "
                        "(serverless, up to 16 vCPUs and 120 GiB a job, no GPUs)")
    return value.upper()


def parse_vcpus(value: str | int) -> int:
    if not str(value).isdigit() or int(value) < 1:
        raise TaskError(f"--max-vcpus {value!r}: give how many vCPUs the compute environment may run at once, e.g. 16")
    return int(value)


def split_list(value: str | None) -> tuple[str, ...]:
    """`subnet-1,subnet-2` (spaces allowed) as a tuple."""
    return tuple(item.strip() for item in (value or "").replace(" ", ",").split(",") if item.strip())


def environment(project: str, repository: str, *, compute: str, max_vcpus: int, subnets: Sequence[str],
                security_groups: Sequence[str], queue: str | None, instance_profile: str | None) -> Environment:
    """The environment of a project: its names, and the roles it needs. The execution role lets
    Batch pull from ECR, write logs and resolve secrets for the job's containers (Fargate jobs
    cannot run without one); the service role lets Batch manage the compute environment; on EC2,
    the instance role lets the instances join it."""
    if not subnets:
        raise TaskError("which subnets? the account has no default VPC here; give --subnets subnet-1,subnet-2 "
                        "(or BATCH_SUBNETS in .env)")
    if not security_groups:
        raise TaskError("which security groups? give --security-groups sg-1 (or BATCH_SECURITY_GROUPS in .env)")
    roles = [
        Role(role_name(project, "service"), "batch.amazonaws.com",
             f"{MANAGED_POLICY}service-role/AWSBatchServiceRole"),
        Role(role_name(project, "execution"), "ecs-tasks.amazonaws.com",
             f"{MANAGED_POLICY}service-role/AmazonECSTaskExecutionRolePolicy"),
    ]
    if compute == "EC2" and not instance_profile:
        roles.append(Role(role_name(project, "instance"), "ec2.amazonaws.com",
                          f"{MANAGED_POLICY}service-role/AmazonEC2ContainerServiceforEC2Role", instance_profile=True))
    return Environment(project=project, repository=repository, compute=compute, max_vcpus=max_vcpus,
                       subnets=tuple(subnets), security_groups=tuple(security_groups),
                       queue=queue or f"{project}-queue", instance_profile=instance_profile, roles=tuple(roles))


def compute_environment_request(env: Environment, service_role_arn: str, instance_profile_arn: str | None) -> dict:
    """create_compute_environment's arguments: managed, scaling from 0 to max_vcpus."""
    resources: dict = {"type": env.compute, "maxvCpus": env.max_vcpus, "subnets": list(env.subnets),
                       "securityGroupIds": list(env.security_groups)}
    if env.compute == "EC2":
        resources |= {"minvCpus": 0, "instanceTypes": ["optimal"], "instanceRole": instance_profile_arn}
    return {"computeEnvironmentName": env.compute_environment, "type": "MANAGED", "state": "ENABLED",
            "serviceRole": service_role_arn, "computeResources": resources, "tags": env.tags}


def job_queue_request(env: Environment) -> dict:
    return {"jobQueueName": env.queue, "state": "ENABLED", "priority": 1,
            "computeEnvironmentOrder": [{"order": 1, "computeEnvironment": env.compute_environment}],
            "tags": env.tags}


def ours(tags: Mapping[str, str] | Sequence[Mapping[str, str]] | None, project: str) -> bool:
    """Whether a resource carries this project's tag: a mapping (Batch) or Key/Value pairs (IAM, ECR)."""
    if isinstance(tags, Mapping):
        return tags.get(PROJECT) == project
    return any(tag.get("Key") == PROJECT and tag.get("Value") == project for tag in tags or [])


def queue_problem(queue: Mapping) -> str | None:
    """Why a job queue cannot take jobs now, or None: it must be ENABLED and VALID."""
    name, state, status = queue.get("jobQueueName"), queue.get("state"), queue.get("status")
    if state != "ENABLED":
        return f"the job queue {name} is {state}: enable it (aws batch update-job-queue --state ENABLED) or use another"
    if status not in ("VALID", "UPDATING", "CREATING"):
        reason = queue.get("statusReason") or "no reason given"
        return f"the job queue {name} is {status} ({reason}); fix it in the AWS console, or run `inv batch-setup`"
    return None


def bucket_name(project: str, account: str) -> str:
    """The S3 bucket of the shards' parts: bucket names are global, so the account is in it."""
    return f"{project.lower()}-batch-{account}"[:63].strip("-.")


def run_prefix(job_name: str, token: str) -> str:
    """Where one job's shards put their files in the bucket."""
    return f"runs/{job_name}-{token}/"
