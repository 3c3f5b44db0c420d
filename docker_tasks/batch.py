"""AWS Batch: the job definition and the array job that run the image as N shards.

The requests are built by pure functions, so `--dry-run` prints exactly what would be sent and
the tests check them with botocore's Stubber. Secrets are never copied into a job definition:
an env-file value that is a Secrets Manager or SSM ARN becomes a reference Batch resolves at run
time, and a secret-looking variable with a plain value is refused.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping

from docker_tasks.errors import NO_AWS_CREDENTIALS, TaskError
from docker_tasks.run_options import TMPFS, TMPFS_SIZE, RunPlan

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


def job_definition(spec: RunPlan, *, vcpus: str, memory_mib: int, shards: int) -> dict:
    """The job (the same value a local run renders) as a Batch job definition named after it."""
    plain, secrets = split_environment({**spec.environment, "SHARD_COUNT": str(shards)})
    hardening = spec.hardening
    properties = {
        "image": spec.image,
        "command": list(spec.command or []),
        "resourceRequirements": [{"type": "VCPU", "value": vcpus}, {"type": "MEMORY", "value": str(memory_mib)}],
        "environment": plain,
        # The defences of a local run that Batch offers (on EC2; README, "Scaling out"): a read-only
        # root with a tmpfs /tmp, and an init process. It has no setting to drop capabilities.
        "readonlyRootFilesystem": hardening.read_only,
        "linuxParameters": {
            "initProcessEnabled": True,
            **({"tmpfs": [{"containerPath": path, "size": TMPFS_SIZE >> 20, "mountOptions": ["rw", "nosuid", "nodev"]}
                          for path in TMPFS]} if hardening.read_only else {}),
        },
    }
    if secrets:
        properties["secrets"] = secrets
    return {"jobDefinitionName": spec.name, "type": "container", "containerProperties": properties}


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


def submit(batch_client, definition: dict, job: dict) -> tuple[str, str]:
    """Register the definition, submit the job against the new revision; return (job id, definition ARN)."""
    import botocore.exceptions

    try:
        arn = batch_client.register_job_definition(**definition)["jobDefinitionArn"]
        job_id = batch_client.submit_job(**{**job, "jobDefinition": arn})["jobId"]
    except botocore.exceptions.NoCredentialsError:
        raise TaskError(NO_AWS_CREDENTIALS) from None
    except (botocore.exceptions.BotoCoreError, botocore.exceptions.ClientError) as exc:
        raise TaskError(f"AWS Batch refused the job: {exc}") from None
    return job_id, arn
