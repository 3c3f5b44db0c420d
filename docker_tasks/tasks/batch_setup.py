"""`inv batch-setup` and `inv batch-teardown`: the AWS environment of Batch jobs, made and unmade,
through the AWS seam (seams/aws.py)."""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping

from docker_tasks import batch_environment, registry
from docker_tasks.batch_environment import Environment, Role, ours, role_name
from docker_tasks.errors import TaskError
from docker_tasks.seams.aws import Clients, aws_errors, bucket_missing, bucket_tags, every
from docker_tasks.settings import Settings

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
        given_subnets = batch_environment.split_list(setting(subnets, "BATCH_SUBNETS"))
        given_groups = batch_environment.split_list(setting(security_groups, "BATCH_SECURITY_GROUPS"))
        found_subnets, found_groups = default_network(aws.ec2) if not (given_subnets and given_groups) else ([], [])
        env = batch_environment.environment(
            settings.project, repository_name(settings.image_name),
            compute=batch_environment.parse_compute(setting(compute, "BATCH_COMPUTE") or "ec2"),
            max_vcpus=batch_environment.parse_vcpus(setting(max_vcpus, "BATCH_MAX_VCPUS") or 16),
            subnets=given_subnets or found_subnets, security_groups=given_groups or found_groups,
            queue=setting(queue, "BATCH_JOB_QUEUE"),
            instance_profile=setting(instance_profile, "BATCH_INSTANCE_PROFILE"))
        _repository(aws.ecr, env, act)
        _bucket(aws.s3, env, batch_environment.bucket_name(env.project, aws.account), act)
        for role in env.roles:
            _role(aws.iam, env, role, act)
        service_role = batch_environment.role_arn(aws.account, role_name(env.project, "service"))
        instance_role = env.role("instance")
        profile = env.instance_profile or (batch_environment.role_arn(aws.account, instance_role.name,
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


def _compute_environment(batch, env: Environment, service_role: str, profile: str | None, act: Act,
                         dry_run: bool) -> None:
    found = batch.describe_compute_environments(computeEnvironments=[env.compute_environment])["computeEnvironments"]
    if found:
        kind = (found[0].get("computeResources") or {}).get("type", "?")
        other = (f"; it is {kind}, not the {env.compute} asked for: `inv batch-teardown --yes` and set up again "
                 "to change it") if kind != env.compute else ""
        print(f"found the compute environment {env.compute_environment} ({kind}, {found[0].get('state')}, "
              f"{found[0].get('status')}){_kept(found[0].get('tags'), env)}{other}")
        return
    request = batch_environment.compute_environment_request(env, service_role, profile)
    act(f"created the compute environment {env.compute_environment}: {env.compute}, 0 to {env.max_vcpus} vCPUs, "
        f"in {len(env.subnets)} subnet(s)", lambda: batch.create_compute_environment(**request))
    if not dry_run:
        _wait_until_valid(lambda: batch.describe_compute_environments(
            computeEnvironments=[env.compute_environment])["computeEnvironments"], env.compute_environment)


def _job_queue(batch, env: Environment, act: Act) -> None:
    found = batch.describe_job_queues(jobQueues=[env.queue])["jobQueues"]
    if not found:
        request = batch_environment.job_queue_request(env)
        act(f"created the job queue {env.queue}", lambda: batch.create_job_queue(**request))
        return
    problem = batch_environment.queue_problem(found[0])
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
        bucket = batch_environment.bucket_name(project, aws.account)
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


def _remove_job_queue(batch, name: str) -> None:
    """A queue must be disabled, and done updating, before it can go."""
    batch.update_job_queue(jobQueue=name, state="DISABLED")
    _wait_while_updating(lambda: batch.describe_job_queues(jobQueues=[name])["jobQueues"], name)
    batch.delete_job_queue(jobQueue=name)
    _wait_while_updating(lambda: batch.describe_job_queues(jobQueues=[name])["jobQueues"], name, gone=True)
    print(f"removed the job queue {name}")


def _remove_compute_environment(batch, name: str) -> None:
    batch.update_compute_environment(computeEnvironment=name, state="DISABLED")
    describe = lambda: batch.describe_compute_environments(computeEnvironments=[name])["computeEnvironments"]  # noqa: E731
    _wait_while_updating(describe, name)
    batch.delete_compute_environment(computeEnvironment=name)
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
