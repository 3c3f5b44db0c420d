"""AWS Batch, all of it: its environment (`inv batch-setup`, `inv batch-teardown`) and its jobs
(`inv batch-submit`, `inv batch-status`, `inv batch-logs`, `inv batch-collect`).

The requests are batch.py's pure functions; the AWS seam (seams/aws.py) makes the clients, sends
what needs its library, and says AWS's failures in one line. The shards run the image from ECR,
so push it first; `inv run --shards N` covers one machine (workflow.run_shards), `inv swarm-run`
a swarm (swarm.py).
"""

from __future__ import annotations

import copy
import json
import os
import secrets
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

from docker_tasks import batch, records, registry, tables
from docker_tasks import job as job_contract
from docker_tasks.batch import Environment, Role, ours, role_name
from docker_tasks.commands import MASK
from docker_tasks.errors import TaskError
from docker_tasks.seams import engine
from docker_tasks.seams.aws import Clients, aws_errors, bucket_missing, bucket_tags, every, submit_job
from docker_tasks.settings import Settings
from docker_tasks.tags import split_reference
from docker_tasks.tasks import workflow

# --- The environment: batch-setup and batch-teardown ---------------------------------------------

WAIT_SECONDS = 180


def repository_name(image_name: str) -> str:
    """The ECR repository: IMAGE_NAME's path when it names an ECR registry, else the project's name."""
    host, _, path = image_name.partition("/")
    return path if registry.ECR_HOST.match(host) else image_name.rsplit("/", 1)[-1]


def default_network(ec2) -> tuple[list[str], list[str]]:
    """The default VPC's subnets and its default security group: what a new account has."""
    subnets = every(ec2, "describe_subnets", "Subnets", Filters=[{"Name": "default-for-az", "Values": ["true"]}])
    vpcs = {subnet["VpcId"] for subnet in subnets}
    groups = every(ec2, "describe_security_groups", "SecurityGroups",
                   Filters=[{"Name": "group-name", "Values": ["default"]}, {"Name": "vpc-id", "Values": sorted(vpcs)}])
    return sorted(subnet["SubnetId"] for subnet in subnets), sorted(group["GroupId"] for group in groups)


def setup(settings: Settings, *, compute: str | None, max_vcpus: str | None, subnets: str | None,
          security_groups: str | None, queue: str | None, instance_profile: str | None, dry_run: bool,
          environ: Mapping[str, str], aws: Clients | None = None) -> None:
    """Find or create each part of the environment, in the order they depend on each other; say
    what was found and what was made. Nothing is ever changed or deleted. Each option comes from
    its flag, else BATCH_<NAME> in the environment or .env."""
    def setting(flag: str | None, name: str) -> str | None:
        return flag or settings.lookup(name, environ)

    aws = aws or Clients(registry.ecr_region_of(settings.image_name))
    act = _dry if dry_run else _do
    with aws_errors():
        given_subnets = batch.split_list(setting(subnets, "BATCH_SUBNETS"))
        given_groups = batch.split_list(setting(security_groups, "BATCH_SECURITY_GROUPS"))
        found_subnets, found_groups = default_network(aws.ec2) if not (given_subnets and given_groups) else ([], [])
        env = batch.environment(
            settings.project, repository_name(settings.image_name),
            compute=batch.parse_compute(setting(compute, "BATCH_COMPUTE") or "ec2"),
            max_vcpus=batch.parse_vcpus(setting(max_vcpus, "BATCH_MAX_VCPUS") or 16),
            subnets=given_subnets or found_subnets, security_groups=given_groups or found_groups,
            queue=setting(queue, "BATCH_JOB_QUEUE"),
            instance_profile=setting(instance_profile, "BATCH_INSTANCE_PROFILE"))
        _repository(aws.ecr, env, act)
        _bucket(aws.s3, env, batch.bucket_name(env.project, aws.account), act)
        for role in env.roles:
            _role(aws.iam, env, role, act)
        service_role = batch.role_arn(aws.account, role_name(env.project, "service"))
        instance_role = env.role("instance")
        profile = env.instance_profile or (batch.role_arn(aws.account, instance_role.name,
                                                                      "instance-profile") if instance_role else None)
        _compute_environment(aws.batch, env, service_role, profile, act, dry_run)
        _job_queue(aws.batch, env, act)
    print(f"{'would be ready' if dry_run else 'ready'}: submit with `inv batch-submit --queue {env.queue} --shards N` "
          "after `inv login --ecr && inv push`; `inv batch-teardown --yes` removes what batch-setup created")


Act = Callable[[str, Callable[[], object]], None]


def _do(line: str, action: Callable[[], object]) -> None:
    action()
    print(line)


def _dry(line: str, action: Callable[[], object]) -> None:
    print(f"would {line.replace('created', 'create', 1)}")


def _repository(ecr, env: Environment, act: Act) -> None:
    try:
        found = ecr.describe_repositories(repositoryNames=[env.repository])["repositories"][0]
    except ecr.exceptions.RepositoryNotFoundException:
        act(f"created the ECR repository {env.repository}",
            lambda: ecr.create_repository(repositoryName=env.repository,
                                          tags=[{"Key": k, "Value": v} for k, v in env.tags.items()]))
        return
    tags = ecr.list_tags_for_resource(resourceArn=found["repositoryArn"]).get("tags")
    print(f"found the ECR repository {found['repositoryUri']}{_kept(tags, env)}")


def _bucket(s3, env: Environment, name: str, act: Act) -> None:
    """The bucket where the shards of `batch-submit` leave their parts."""
    if bucket_missing(s3, name):
        def create() -> None:
            region = s3.meta.region_name
            s3.create_bucket(Bucket=name, **({"CreateBucketConfiguration": {"LocationConstraint": region}}
                                             if region != "us-east-1" else {}))
            tags = [{"Key": k, "Value": v} for k, v in env.tags.items()]
            s3.put_bucket_tagging(Bucket=name, Tagging={"TagSet": tags})
        act(f"created the S3 bucket {name}, where the shards of `batch-submit` leave their parts",
            create)
        return
    print(f"found the S3 bucket {name}{_kept(bucket_tags(s3, name), env)}")


def _role(iam, env: Environment, role: Role, act: Act) -> None:
    try:
        iam.get_role(RoleName=role.name)
        print(f"found the IAM role {role.name}{_kept(every(iam, 'list_role_tags', 'Tags', RoleName=role.name), env)}")
    except iam.exceptions.NoSuchEntityException:
        def create() -> None:
            iam.create_role(RoleName=role.name, AssumeRolePolicyDocument=role.trust_policy,
                            Description=f"{role.service} for {env.project}'s Batch jobs (inv batch-setup)",
                            Tags=[{"Key": k, "Value": v} for k, v in env.tags.items()])
            iam.attach_role_policy(RoleName=role.name, PolicyArn=role.policy)
        act(f"created the IAM role {role.name}, for {role.service}, with {role.policy.rsplit('/', 1)[1]}", create)
    if not role.instance_profile:
        return
    try:
        iam.get_instance_profile(InstanceProfileName=role.name)
        print(f"found the instance profile {role.name}")
    except iam.exceptions.NoSuchEntityException:
        def create_profile() -> None:
            iam.create_instance_profile(InstanceProfileName=role.name,
                                        Tags=[{"Key": k, "Value": v} for k, v in env.tags.items()])
            iam.add_role_to_instance_profile(InstanceProfileName=role.name, RoleName=role.name)
        act(f"created the instance profile {role.name}, for the compute environment's instances", create_profile)


def _compute_environment(batch_client, env: Environment, service_role: str, profile: str | None, act: Act,
                         dry_run: bool) -> None:
    found = batch_client.describe_compute_environments(
        computeEnvironments=[env.compute_environment])["computeEnvironments"]
    if found:
        kind = (found[0].get("computeResources") or {}).get("type", "?")
        other = (f"; it is {kind}, not the {env.compute} asked for: `inv batch-teardown --yes` and set up again "
                 "to change it") if kind != env.compute else ""
        print(f"found the compute environment {env.compute_environment} ({kind}, {found[0].get('state')}, "
              f"{found[0].get('status')}){_kept(found[0].get('tags'), env)}{other}")
        return
    request = batch.compute_environment_request(env, service_role, profile)
    act(f"created the compute environment {env.compute_environment}: {env.compute}, 0 to {env.max_vcpus} vCPUs, "
        f"in {len(env.subnets)} subnet(s)", lambda: batch_client.create_compute_environment(**request))
    if not dry_run:
        _wait_until_valid(lambda: batch_client.describe_compute_environments(
            computeEnvironments=[env.compute_environment])["computeEnvironments"], env.compute_environment)


def _job_queue(batch_client, env: Environment, act: Act) -> None:
    found = batch_client.describe_job_queues(jobQueues=[env.queue])["jobQueues"]
    if not found:
        request = batch.job_queue_request(env)
        act(f"created the job queue {env.queue}", lambda: batch_client.create_job_queue(**request))
        return
    problem = batch.queue_problem(found[0])
    print(f"found the job queue {env.queue} ({found[0].get('state')}, {found[0].get('status')})"
          f"{_kept(found[0].get('tags'), env)}" + (f"; but {problem}" if problem else ""))


def _kept(tags, env: Environment) -> str:
    return "" if ours(tags, env.project) else ", not made by batch-setup: kept as it is"


def _wait_until_valid(describe: Callable[[], list[dict]], name: str) -> None:
    deadline = time.monotonic() + WAIT_SECONDS
    while True:
        found = describe()
        status = found[0].get("status") if found else "missing"
        if status == "VALID":
            return
        if status == "INVALID":
            raise TaskError(f"{name} is INVALID ({found[0].get('statusReason') or 'no reason given'}); fix its "
                            "subnets, security groups or roles, or remove it with `inv batch-teardown --yes`")
        if time.monotonic() > deadline:
            raise TaskError(f"{name} is still {status} after {WAIT_SECONDS} s; run `inv batch-setup` again later")
        time.sleep(2)


def teardown(settings: Settings, *, yes: bool, dry_run: bool, aws: Clients | None = None) -> None:
    """Remove what batch-setup created for this project, found by its tag, in the reverse order:
    the job queue, the compute environment, the roles, the ECR repository and its images."""
    aws = aws or Clients(registry.ecr_region_of(settings.image_name))
    project = settings.project
    with aws_errors():
        queues = [q for q in every(aws.batch, "describe_job_queues", "jobQueues") if ours(q.get("tags"), project)]
        computes = [c for c in every(aws.batch, "describe_compute_environments", "computeEnvironments")
                    if ours(c.get("tags"), project)]
        roles = [r["RoleName"] for r in every(aws.iam, "list_roles", "Roles")
                 if r["RoleName"].startswith(role_name(project, ""))
                 and ours(every(aws.iam, "list_role_tags", "Tags", RoleName=r["RoleName"]), project)]
        repository = _tagged_repository(aws.ecr, repository_name(settings.image_name), project)
        bucket = batch.bucket_name(project, aws.account)
        bucket = bucket if ours(bucket_tags(aws.s3, bucket), project) else None
        found = ([f"the job queue {q['jobQueueName']}" for q in queues]
                 + [f"the compute environment {c['computeEnvironmentName']}" for c in computes]
                 + [f"the IAM role {name}" for name in roles]
                 + ([f"the ECR repository {repository} with every image in it"] if repository else [])
                 + ([f"the S3 bucket {bucket} with every part in it"] if bucket else []))
        if not found:
            print(f"nothing to remove: no AWS resource carries {project}'s tag "
                  "(batch-setup made none, or they are gone)")
            return
        if dry_run or not yes:
            listing = "; ".join(found)
            if dry_run:
                print(f"would remove {listing}")
                return
            raise TaskError(f"batch-teardown would remove {listing}; add --yes to remove them")
        for queue in queues:
            _remove_job_queue(aws.batch, queue["jobQueueName"])
        for compute in computes:
            _remove_compute_environment(aws.batch, compute["computeEnvironmentName"])
        for name in roles:
            _remove_role(aws.iam, name)
        if repository:
            aws.ecr.delete_repository(repositoryName=repository, force=True)
            print(f"removed the ECR repository {repository}")
        if bucket:
            _remove_bucket(aws.s3, bucket)


def _remove_bucket(s3, name: str) -> None:
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=name):
        keys = [{"Key": item["Key"]} for item in page.get("Contents", [])]
        if keys:
            s3.delete_objects(Bucket=name, Delete={"Objects": keys})
    s3.delete_bucket(Bucket=name)
    print(f"removed the S3 bucket {name}")


def _tagged_repository(ecr, name: str, project: str) -> str | None:
    try:
        found = ecr.describe_repositories(repositoryNames=[name])["repositories"][0]
    except ecr.exceptions.RepositoryNotFoundException:
        return None
    return name if ours(ecr.list_tags_for_resource(resourceArn=found["repositoryArn"]).get("tags"), project) else None


def _remove_job_queue(batch_client, name: str) -> None:
    """A queue must be disabled, and done updating, before it can go."""
    batch_client.update_job_queue(jobQueue=name, state="DISABLED")
    _wait_while_updating(lambda: batch_client.describe_job_queues(jobQueues=[name])["jobQueues"], name)
    batch_client.delete_job_queue(jobQueue=name)
    _wait_while_updating(lambda: batch_client.describe_job_queues(jobQueues=[name])["jobQueues"], name, gone=True)
    print(f"removed the job queue {name}")


def _remove_compute_environment(batch_client, name: str) -> None:
    batch_client.update_compute_environment(computeEnvironment=name, state="DISABLED")
    describe = lambda: batch_client.describe_compute_environments(computeEnvironments=[name])["computeEnvironments"]  # noqa: E731
    _wait_while_updating(describe, name)
    batch_client.delete_compute_environment(computeEnvironment=name)
    _wait_while_updating(describe, name, gone=True)
    print(f"removed the compute environment {name}")


def _remove_role(iam, name: str) -> None:
    for profile in iam.list_instance_profiles_for_role(RoleName=name)["InstanceProfiles"]:
        iam.remove_role_from_instance_profile(InstanceProfileName=profile["InstanceProfileName"], RoleName=name)
        iam.delete_instance_profile(InstanceProfileName=profile["InstanceProfileName"])
    for policy in iam.list_attached_role_policies(RoleName=name)["AttachedPolicies"]:
        iam.detach_role_policy(RoleName=name, PolicyArn=policy["PolicyArn"])
    iam.delete_role(RoleName=name)
    print(f"removed the IAM role {name}")


def _wait_while_updating(describe: Callable[[], list[dict]], name: str, gone: bool = False) -> None:
    deadline = time.monotonic() + WAIT_SECONDS
    while True:
        found = describe()
        status = found[0].get("status") if found else "DELETED"
        if (status == "DELETED") if gone else status not in ("UPDATING", "CREATING", "DELETING"):
            return
        if time.monotonic() > deadline:
            raise TaskError(f"{name} is still {status} after {WAIT_SECONDS} s; run `inv batch-teardown --yes` again")
        time.sleep(2)


# --- Jobs: batch-submit, batch-status, batch-logs and batch-collect -------------------------------

def masked(requests: dict) -> dict:
    """The requests as printed: every plain environment value as ***, like every command line here."""
    printed = copy.deepcopy(requests)
    for value in printed.values():
        for variable in value.get("containerProperties", {}).get("environment", []):
            if variable["name"] != "SHARD_COUNT":
                variable["value"] = MASK
    return printed


BATCH_JOBS = Path(".dockertasks") / "batch-jobs.json"  # the jobs submitted here, for batch-status
# How long a job's presigned S3 links last: a week, the most SigV4 signs for, so that a job may wait
# in the queue and run for days. Links signed with temporary credentials end with them.
PRESIGNED_FOR = 7 * 24 * 3600


def batch_submit(settings: Settings, *, shards_count: int, queue: str | None, vcpus: str, memory_mib: int,
                 env_files: Sequence[str], image: str | None, command: list[str] | None, dry_run: bool,
                 wait: bool = False, files: Sequence[str] = (), poll_seconds: float = 5.0, gpus: int = 0,
                 environ: Mapping[str, str] = os.environ, aws: Clients | None = None) -> None:
    """Register a job definition for the image and submit an array job of `shards_count` children,
    each with a presigned POST to upload its outputs with (when batch-setup made the bucket); with
    `files`, send those along for each child; with `wait`, follow it until every child has ended,
    then collect and merge what they uploaded (as batch-collect does later for a job not waited for)."""
    sent = [_readable(name) for name in files]
    job = job_contract.require_sharding(settings.job, settings.root)
    queue = queue or settings.lookup("BATCH_JOB_QUEUE", environ) or f"{settings.project}-queue"  # batch-setup's
    image = image or workflow.pushed_image(settings)
    command = command or list(job.shard_command)
    spec = workflow.job_spec(settings, image=image, command=command, env_files=env_files, environ=environ,
                             gpus=gpus)

    def definition(fargate_execution_role: str | None = None) -> dict:
        return batch.job_definition(spec, vcpus=vcpus, memory_mib=memory_mib, shards=shards_count,
                                    fargate_execution_role=fargate_execution_role)

    request = batch.submission(name=batch.job_name(settings.project, image.rpartition(":")[2]), queue=queue,
                               definition=settings.project, shards=shards_count)
    if dry_run:
        print(batch.show(masked({"registerJobDefinition": definition(), "submitJob": request})))
        return
    aws = aws or Clients(registry.ecr_region_of(image))
    with aws_errors():
        fargate = _require_queue(aws.batch, queue) == "FARGATE"
        registered = definition(batch.role_arn(
            aws.account, batch.role_name(settings.project, "execution")) if fargate else None)
        _require_in_ecr(aws, image)
        destination = _upload_destination(aws, settings.project, request["jobName"])
        if sent and destination is None:
            raise TaskError("--file travels through the S3 bucket that `inv batch-setup` makes, and there is none yet; "
                            "run `inv batch-setup` first")
        overrides = ([{"name": batch.DOWNLOAD_VARIABLE, "value": json.dumps(_send(aws, *destination[:2], sent))}]
                     if sent else [])
        if destination:
            overrides.append({"name": batch.UPLOAD_VARIABLE, "value": json.dumps(destination[2])})
    if overrides:
        request["containerOverrides"] = {"environment": overrides}
    job_id, arn = submit_job(aws.batch, registered, request)
    print(f"submitted {request['jobName']} ({shards_count} shard(s)) as job {job_id}, with {arn}")
    submitted = {"job": job_id, "name": request["jobName"], "shards": shards_count, "queue": queue, "image": image,
                 "command": command, **({"bucket": destination[0], "prefix": destination[1]} if destination else {})}
    records.append_to_list(settings.root / BATCH_JOBS, submitted, keep=100)
    if not wait:
        print(f"  follow it: inv batch-status --job {job_id}; a shard's output: "
              f"inv batch-logs --job {job_id} --index 0")
        if destination:
            print(f"  once it has ended, its outputs: inv batch-collect --job {job_id}")
        return
    _follow(aws, job_id, shards_count, poll_seconds)
    _collect_and_merge(aws, settings, submitted)


def batch_collect(settings: Settings, *, job_id: str | None, wait: bool, poll_seconds: float = 5.0,
                  aws: Clients | None = None) -> None:
    """What the shards of a submitted job uploaded, into output/, merged as `batch-submit --wait`
    would have; with `wait`, after following the job to its end."""
    submitted = _submitted(settings, job_id)
    if "prefix" not in submitted:
        raise TaskError(f"job {submitted['job']} was given nowhere to upload its outputs (it was submitted from "
                        "another checkout, or before `inv batch-setup` made the S3 bucket); submit it again from here")
    aws, job_id, parent, shards_count = _submitted_job(settings, submitted, aws)
    if parent.get("status") not in batch.ENDED and not wait:
        states = batch.child_states(_jobs(aws.batch, batch.child_ids(job_id, shards_count)))
        raise TaskError(f"job {job_id} has not ended yet ({parent.get('status')}; {batch.counts(states)}): collect "
                        f"it once it has (`inv batch-status --job {job_id}`), or add --wait to follow it to the end")
    _follow(aws, job_id, shards_count, poll_seconds)
    _collect_and_merge(aws, settings, submitted)


def _collect_and_merge(aws: Clients, settings: Settings, submitted: dict) -> None:
    """Download what the shards of a job that succeeded uploaded, then run the job's merge command
    over it here, with the image the shards ran (or this project's build of its tag)."""
    if "prefix" not in submitted:
        print("the shards' parts stay where the job put them: `inv batch-setup` makes the S3 bucket that "
              "they upload them to")
        return
    command, image = submitted["command"], submitted["image"]
    job = settings.job
    if _collect(aws, settings, submitted["bucket"], submitted["prefix"]) and job.merges_after(command):
        print(f"merging the parts: {' '.join(job.merge_command)}")
        local = image if engine.inspect(engine.connect(), "image", image) else \
            f"{settings.image_name}:{image.rpartition(':')[2]}"
        workflow.run(workflow.plan_run(settings, image=local, command=list(job.merge_command)), settings=settings)


def _readable(name: str) -> Path:
    path = Path(name)
    if not path.is_file():
        raise TaskError(f"--file {name}: no such file here; name a file to send along with the job, "
                        "e.g. --file output/model.joblib")
    return path


def _send(aws: Clients, bucket: str, prefix: str, files: Sequence[Path]) -> dict[str, str]:
    """Upload each file below the run's prefix; return, by file name, a presigned GET (valid a week,
    PRESIGNED_FOR) with which a shard downloads it into its output folder."""
    links = {}
    with aws_errors():
        for path in files:
            key = f"{prefix}inputs/{path.name}"
            aws.s3.upload_file(str(path), bucket, key)
            links[path.name] = aws.s3.generate_presigned_url("get_object", Params={"Bucket": bucket, "Key": key},
                                                             ExpiresIn=PRESIGNED_FOR)
    print(f"sent {len(links)} file(s) along: {', '.join(links)}, into each shard's output folder")
    return links


def _upload_destination(aws: Clients, project: str, job_name: str) -> tuple[str, str, dict] | None:
    """The bucket, the prefix and the presigned POST (valid a week) with which each shard may upload
    files below that prefix and nowhere else; None when batch-setup made no bucket. A presigned
    POST needs no AWS library in the image: its launcher (docker_tasks/launcher/) sends it with the
    standard library."""
    bucket = batch.bucket_name(project, aws.account)
    if bucket_missing(aws.s3, bucket, refused_is_missing=True):
        return None
    prefix = batch.run_prefix(job_name, secrets.token_hex(3))
    post = aws.s3.generate_presigned_post(bucket, prefix + "${filename}", ExpiresIn=PRESIGNED_FOR,
                                          Conditions=[["starts-with", "$key", prefix]])
    return bucket, prefix, {"url": post["url"], "fields": post["fields"], "prefix": prefix}


def _collect(aws: Clients, settings: Settings, bucket: str, prefix: str) -> int:
    """Download what the shards uploaded into output/, replacing the parts of an earlier run."""
    folder = settings.output_folder
    folder.mkdir(exist_ok=True)
    inside = folder.resolve()
    job = settings.job
    for stale in sorted(folder.glob(job.parts)) if job.parts else []:
        stale.unlink()
    count = 0
    with aws_errors():
        for page in aws.s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
            for item in page.get("Contents", []):
                relative = item["Key"][len(prefix):]
                target = (inside / relative).resolve()
                if not relative or relative.startswith("inputs/") or inside not in target.parents:
                    continue  # what was sent along, or a key that would land outside output/
                target.parent.mkdir(parents=True, exist_ok=True)
                aws.s3.download_file(bucket, item["Key"], str(target))
                count += 1
    if count:
        print(f"collected {count} file(s) from s3://{bucket}/{prefix} into {folder}")
    else:
        print(f"the shards left nothing in s3://{bucket}/{prefix}: a job uploads its outputs when "
              f"{batch.UPLOAD_VARIABLE} is set (docs/scaling-out.md, \"The outputs of Batch's shards\")")
    return count


def _require_queue(batch_client, queue: str) -> str:
    """Refuse a queue that is missing or cannot take jobs; return what its compute is, EC2 or FARGATE
    (a queue serves one kind, and the job definition differs)."""
    found = batch_client.describe_job_queues(jobQueues=[queue])["jobQueues"]
    if not found:
        raise TaskError(f"there is no job queue {queue} in this account and region; `inv batch-setup` makes one, "
                        "or give --queue (BATCH_JOB_QUEUE) the name of yours")
    problem = batch.queue_problem(found[0])
    if problem:
        raise TaskError(problem)
    order = found[0].get("computeEnvironmentOrder") or [{}]
    computes = batch_client.describe_compute_environments(
        computeEnvironments=[order[0].get("computeEnvironment", "")])["computeEnvironments"] if order[0] else []
    kind = (computes[0].get("computeResources") or {}).get("type", "EC2") if computes else "EC2"
    return "FARGATE" if kind.startswith("FARGATE") else "EC2"


def _require_in_ecr(aws: Clients, image: str) -> None:
    """An ECR image must be there before Batch is asked to run it: else every shard fails to start."""
    host, _, rest = image.partition("/")
    if not registry.ECR_HOST.match(host):
        return
    repository, tag = split_reference(rest)
    wanted = {"imageDigest": rest.split("@", 1)[1]} if "@" in rest else {"imageTag": tag or "latest"}
    try:
        aws.ecr.describe_images(repositoryName=repository, imageIds=[wanted])
    except (aws.ecr.exceptions.ImageNotFoundException, aws.ecr.exceptions.RepositoryNotFoundException):
        raise TaskError(f"{image} is not in ECR, so no shard could start; push it first: "
                        "inv login --ecr && inv push") from None


def _jobs(batch_client, ids: list[str]) -> list[dict]:
    """describe_jobs takes 100 ids a call."""
    with aws_errors():
        return [job for start in range(0, len(ids), 100)
                for job in batch_client.describe_jobs(jobs=ids[start:start + 100])["jobs"]]


def _follow(aws: Clients, job_id: str, shards_count: int, poll_seconds: float) -> None:
    """Print each shard's state as it changes until all have ended; fail, with the failed shards'
    output, if any did. Ctrl-C stops the following, not the job."""
    seen: dict[int, str] = {}
    try:
        while True:
            states = batch.child_states(_jobs(aws.batch, batch.child_ids(job_id, shards_count)))
            for index, state in sorted(states.items()):
                if seen.get(index) != state:
                    print(f"shard {index}/{shards_count}: {state}", flush=True)
            seen = states
            if batch.finished(states, shards_count):
                break
            time.sleep(poll_seconds)
    except KeyboardInterrupt:
        raise TaskError(f"stopped following; job {job_id} goes on in AWS Batch: follow it with "
                        f"`inv batch-status --job {job_id}`, or cancel it with "
                        f"`aws batch terminate-job --job-id {job_id} --reason cancelled`") from None
    print(batch.counts(states))
    failed = batch.failed_shards(states)
    for index in failed:
        lines = _log_lines(aws, batch.child_ids(job_id, shards_count)[index])
        print(f"--- shard {index}, the last {min(len(lines), 20)} line(s) of its output:")
        print("\n".join(lines[-20:]) or "(no output)")
    if failed:
        raise TaskError(f"shard(s) {', '.join(map(str, failed))} of {shards_count} failed: "
                        f"{'; '.join(sorted({states[i] for i in failed}))}; their output is above, and "
                        f"`inv batch-logs --job {job_id} --index N` shows a shard's whole output")
    print(f"all {shards_count} shard(s) succeeded")


def _log_lines(aws: Clients, child_id: str) -> list[str]:
    """A job's output from CloudWatch Logs, oldest first; empty while it has none."""
    (job,) = _jobs(aws.batch, [child_id]) or [{}]
    stream = batch.log_stream(job)
    if not stream:
        return []
    lines, token = [], None
    with aws_errors():
        while True:
            page = aws.logs.get_log_events(logGroupName=batch.LOG_GROUP, logStreamName=stream, startFromHead=True,
                                           **({"nextToken": token} if token else {}))
            lines += [event["message"] for event in page["events"]]
            if not page["events"] or page.get("nextForwardToken") == token:
                return lines
            token = page.get("nextForwardToken")


def _submitted(settings: Settings, job_id: str | None) -> dict:
    """The job asked for, else the last one submitted from here."""
    known = records.read_list(settings.root / BATCH_JOBS)
    if job_id:
        return next((job for job in reversed(known) if job["job"] == job_id), {"job": job_id})
    if not known:
        raise TaskError("no Batch job was submitted from here; give --job ID (from `inv batch-submit`)")
    return known[-1]


def _submitted_job(settings: Settings, submitted: dict, aws: Clients | None) -> tuple[Clients, str, dict, int]:
    """The clients, the id of the `submitted` job (_submitted), what Batch says of it, and its
    number of shards."""
    aws = aws or Clients(registry.ecr_region_of(submitted.get("image", settings.image_name)))
    (parent,) = _jobs(aws.batch, [submitted["job"]]) or [None]
    if parent is None:
        raise TaskError(f"AWS Batch knows no job {submitted['job']} (it forgets jobs a week or so after they end)")
    return aws, submitted["job"], parent, (parent.get("arrayProperties") or {}).get("size") or 1


def batch_status(settings: Settings, *, job_id: str | None, aws: Clients | None = None) -> None:
    """Each shard's state in a submitted job, and the counts."""
    aws, job_id, parent, shards_count = _submitted_job(settings, _submitted(settings, job_id), aws)
    states = batch.child_states(_jobs(aws.batch, batch.child_ids(job_id, shards_count)))
    print(f"job {job_id} ({parent.get('jobName')}): {parent.get('status')}")
    print(tables.render(("SHARD", "STATE"), [(str(index), state) for index, state in sorted(states.items())]))
    print(batch.counts(states))


def batch_logs(settings: Settings, *, job_id: str | None, index: int, aws: Clients | None = None) -> None:
    """One shard's output, from CloudWatch Logs."""
    aws, job_id, _, shards_count = _submitted_job(settings, _submitted(settings, job_id), aws)
    if not 0 <= index < shards_count:
        raise TaskError(f"--index {index}: job {job_id} has shards 0 to {shards_count - 1}")
    child = batch.child_ids(job_id, shards_count)[index]
    lines = _log_lines(aws, child)
    if not lines:
        (job,) = _jobs(aws.batch, [child])
        print(f"shard {index} has no output yet ({job.get('status')})")
        return
    print("\n".join(lines))
