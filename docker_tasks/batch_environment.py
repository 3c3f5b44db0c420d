"""The AWS environment a Batch job needs, as `inv batch-setup` makes it (pure functions).

An ECR repository for the image, an S3 bucket where the shards leave their parts, the IAM roles
Batch and the job's containers act as, a managed compute environment and a job queue: each is
looked for by name, reused when it is there and created when it is not, tagged with the project
so that `inv batch-teardown` removes what batch-setup created and nothing else.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from docker_tasks.errors import TaskError
from docker_tasks.labels import PROJECT

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
