"""Build, run and manage this project's Docker image: `inv --list` shows the tasks.

Each task gathers its flags and hands them to a module of docker_tasks/tasks/: building builds,
workflow runs, lifecycle lists and removes, release versions and verifies, shipping talks to
registries, batch to AWS Batch, swarm to Docker Swarm, starter renames and checks the project
(docker_tasks/__init__.py shows the layers). Settings come from the flag, then the environment,
then `.env`, then the defaults in docker_tasks/settings.py; the job contract comes from
pyproject.toml.
"""

import os
import sys

from docker_tasks.tasking import arguments_after_double_dash, task

# The modules behind the tasks are imported inside them, so that `inv --list` stays quick.

DRY_RUN = "print the equivalent docker command lines and do nothing"
IMAGE_NAME = "image name, optionally with a registry (default: IMAGE_NAME, else the name in pyproject.toml)"
BATCH_JOB = "the job's id (default: the last one `inv batch-submit` sent from here)"
CONTAINER = "the container's name (see `inv ps`)"


def flags(**specific):
    """Help for a task's own flags, plus the two that every task has."""
    return {"image_name": IMAGE_NAME, "dry_run": DRY_RUN, **specific}


def load(**given):
    """This checkout's settings: the flags given, then the environment, then .env, then defaults."""
    from docker_tasks import settings

    return settings.load(os.environ, **given)


SECRET = ("id=NAME,env=VARIABLE or id=NAME,src=FILE: a value RUN --mount=type=secret reads, in no layer "
          "(repeatable; the Dockerfile reads id=index_url, a private package index)")


@task(
    iterable=["tag", "build_arg", "secret"],
    help=flags(
        tag="an extra tag for this build (repeatable)",
        no_cache="rebuild every layer, ignoring BuildKit's cache",
        build_arg="KEY=VALUE for the Dockerfile's ARGs (repeatable)",
        secret=SECRET,
        cache_from="a build cache to read, e.g. type=registry,ref=REGISTRY/NAME:cache or type=gha "
                   "(default: CACHE_FROM)",
        cache_to="export the build cache there, as --cache-from names it (default: CACHE_TO; mode=max unless given)",
        platform="target platform(s), e.g. linux/amd64, or linux/amd64,linux/arm64 for one image of both "
                 "(default: PLATFORM)",
        base_image="base image (default: BASE_IMAGE, else the Dockerfile's pin; see `inv base`)",
        check="then check the image: it imports every module src/ imports, and src/ compiles",
        reproducible="build the commit's files so that the commit alone decides the image (see `inv verify`)",
    ),
)
def build(c, tag=None, no_cache=False, build_arg=None, secret=None, platform=None, base_image=None, check=False,
          reproducible=False, cache_from=None, cache_to=None, image_name=None, dry_run=False):
    """Build the image with BuildKit and tag it with the git SHA and `latest`."""
    from docker_tasks.tasks import building

    project = load(image_name=image_name, base_image=base_image, cache_from=cache_from, cache_to=cache_to)
    tags = building.build(project, extra_tags=tag, build_args=build_arg, secret_specs=secret, platform=platform,
                          no_cache=no_cache, reproducible=reproducible, dry_run=dry_run)
    if check and not dry_run:
        building.check_image(project, tags[0])


@task(iterable=["build_arg", "secret"], help=flags(
    build_arg="KEY=VALUE, as given to `inv build` (repeatable)",
    secret="as given to `inv build` (repeatable): " + SECRET,
    platform="the platform the image was built for, as given to `inv build`",
    base_image="base image, as given to `inv build` (default: BASE_IMAGE, else the Dockerfile's pin)",
))
def verify(c, build_arg=None, secret=None, platform=None, base_image=None, image_name=None, dry_run=False):
    """Rebuild the current commit without cache and say whether it gives the very same image."""
    from docker_tasks.tasks import release

    release.verify(load(image_name=image_name, base_image=base_image), build_args=build_arg, secret_specs=secret,
                   platform=platform, environ=os.environ, dry_run=dry_run)


@task(iterable=["secret"], help={
    "upgrade": "move every package to the newest version requirements.txt allows",
    "base_image": "base image whose Python resolves (default: BASE_IMAGE, else the Dockerfile's pin)",
    "secret": "as `inv build` takes it (repeatable): " + SECRET,
    "dry_run": DRY_RUN,
})
def lock(c, upgrade=False, base_image=None, secret=None, dry_run=False):
    """Write requirements.lock from requirements.txt: every package pinned, with hashes."""
    from docker_tasks.tasks import dependencies

    dependencies.lock(load(base_image=base_image), upgrade=upgrade, secret_specs=secret, dry_run=dry_run,
                      environ=os.environ)


@task(help={
    "update": "move the Dockerfile's pin to what the tag names now, and show what changed",
    "dry_run": "with --update, show the change and write nothing",
})
def base(c, update=False, dry_run=False):
    """Say whether the Dockerfile's base image pin is current; `--update` moves it."""
    from docker_tasks.tasks import dependencies

    dependencies.base(load(), update=update, dry_run=dry_run)


@task(
    iterable=["env", "port", "volume", "env_file"],
    help=flags(
        detach="run in the background and print the container's name",
        env="KEY=VALUE for the job's environment (repeatable); a bare KEY passes your shell's value",
        port="publish a port, [IP:]HOST:CONTAINER, e.g. 8080:80 (repeatable)",
        volume="mount HOST_PATH:CONTAINER_PATH[:ro] (repeatable); output/ is mounted at the job's output_dir",
        name="the container's name (default: the project's name and a random suffix)",
        image="image to run (default: IMAGE_NAME:latest)",
        env_file="env file read with python-dotenv (repeatable; default: .env when present)",
        entrypoint="override the image's entrypoint, as in docker run",
        gpus="GPUs to expose, as in docker run: all, a count, or device=0,1; with --shards, shared out among them",
        gpus_per_shard="with --shards and --gpus: how many GPUs each shard gets (default 1; shard i from GPU i on)",
        shm_size="size of /dev/shm: 2g, 512m or MiB (default: Docker's 64m; 2g when --gpus is given)",
        ipc="IPC namespace: private (default), shareable, host or none",
        cache_volume="mount the project's model cache volume at /cache, with HF_HOME, TORCH_HOME and XDG_CACHE_HOME "
                     "in it (default: on; --no-cache-volume: off)",
        memory="limit the job's memory: 2g, 512m, or a plain number of MiB, to see whether it fits where it will run",
        platform="which platform of a multi-platform image to run, e.g. linux/arm64 (emulated if not this machine's)",
        rm="remove the container when a foreground run ends (default: on; --no-rm keeps it)",
        read_only="read-only root filesystem, with a tmpfs /tmp and output/ writable (--no-read-only: off)",
        drop_caps="drop every Linux capability (--no-drop-caps: keep Docker's default set)",
        new_privileges="allow privilege escalation through setuid binaries (off by default)",
        shards="run N shards (the job's shard_command, pyproject.toml), then its merge_command",
        parallel="with --shards, how many run at once (default: one per CPU)",
    ),
)
def run(c, detach=False, env=None, port=None, volume=None, name=None, image=None, env_file=None,
        entrypoint=None, gpus=None, gpus_per_shard=1, shm_size=None, ipc=None, cache_volume=True, memory=None,
        platform=None, rm=True, read_only=True, drop_caps=True, new_privileges=False, shards=0, parallel=0,
        image_name=None, dry_run=False):
    """Run the image; arguments after `--` go to the job, e.g. `inv run -- predict --input x.csv`."""
    from docker_tasks.run_options import Hardening
    from docker_tasks.tasks import workflow

    project = load(image_name=image_name)
    plan = workflow.plan_run(
        project, image=image, command=arguments_after_double_dash(c.remainder, sys.argv), env=env,
        env_files=env_file, ports=port, volumes=volume, name=name, entrypoint=entrypoint, gpus=gpus,
        memory=memory, platform=platform, shm_size=shm_size, ipc=ipc, model_cache=cache_volume, detach=detach,
        remove=rm,
        hardening=Hardening(read_only=read_only, drop_capabilities=drop_caps, no_new_privileges=not new_privileges),
    )
    if shards:
        workflow.run_shards(plan, settings=project, shards=shards, parallel=parallel or None, dry_run=dry_run,
                            gpus_per_shard=gpus_per_shard)
    else:
        workflow.run(plan, settings=project, dry_run=dry_run)


@task(
    iterable=["env", "volume", "env_file"],
    help=flags(
        env="KEY=VALUE for the environment (repeatable), as `inv run` takes it",
        env_file="env file read with python-dotenv (repeatable; default: .env when present)",
        volume="mount HOST_PATH:CONTAINER_PATH[:ro] (repeatable), as `inv run` takes it",
        image="image to open (default: IMAGE_NAME:latest)",
        gpus="GPUs to expose, as `inv run` takes them",
        cache_volume="mount the model cache at /cache, as `inv run` does (--no-cache-volume: off)",
    ),
)
def shell(c, env=None, volume=None, env_file=None, image=None, gpus=None, cache_volume=True, image_name=None,
          dry_run=False):
    """A shell in the image, with src/ mounted read-only over its copy and `inv run`'s env, mounts and
    defences; `inv shell -- python` runs that instead."""
    from docker_tasks.tasks import workflow

    project = load(image_name=image_name)
    plan = workflow.plan_run(project, image=image, command=None, env=env, env_files=env_file, volumes=volume,
                             gpus=gpus, model_cache=cache_volume)
    plan = workflow.shell_plan(plan, project, arguments_after_double_dash(c.remainder, sys.argv))
    workflow.shell(plan, settings=project, dry_run=dry_run, terminal=sys.stdin.isatty())


@task(name="images", help=flags())
def list_images(c, image_name=None, dry_run=False):
    """List this project's images with their tags, size, age and git revision."""
    from docker_tasks.tasks import workflow

    workflow.images(load(image_name=image_name), dry_run=dry_run)


@task(help=flags(
    version="the version tag to give, e.g. 2.0 (Docker's tag grammar)",
    source="the tag of the image to version (default: the build of the current commit)",
    allow_dirty="allow versioning an image built from uncommitted changes",
    force="move an existing version tag (and --git-tag) to this image",
    git_tag="also create the annotated git tag v<version> at the image's commit",
))
def tag(c, version, source=None, allow_dirty=False, force=False, git_tag=False, image_name=None, dry_run=False):
    """Give an image a version tag, e.g. `inv tag --version 2.0`."""
    from docker_tasks.tasks import release

    release.tag(load(image_name=image_name), version=version, source=source, allow_dirty=allow_dirty,
                force=force, git_tag=git_tag, dry_run=dry_run)


@task(help=flags())
def ps(c, image_name=None, dry_run=False):
    """List this project's containers, running and stopped."""
    from docker_tasks.tasks import lifecycle

    lifecycle.ps(load(image_name=image_name), dry_run=dry_run)


@task(help=flags(
    name=CONTAINER + " (default: the newest)",
    follow="keep printing new output until the container stops (Ctrl-C leaves it running)",
    tail="how many of the last lines to show, or all",
))
def logs(c, name=None, follow=False, tail="all", image_name=None, dry_run=False):
    """Show a container's output, by default the newest one's."""
    from docker_tasks.tasks import lifecycle

    lifecycle.logs(load(image_name=image_name), name=name, follow=follow, tail=tail, dry_run=dry_run)


@task(help=flags(
    name=CONTAINER,
    all_="every running container of this project",
    timeout="seconds between SIGTERM and SIGKILL",
))
def stop(c, name=None, all_=False, timeout=10, image_name=None, dry_run=False):
    """Stop containers gracefully: SIGTERM, then SIGKILL after the timeout."""
    from docker_tasks.tasks import lifecycle

    lifecycle.stop(load(image_name=image_name), name=name, every=all_, timeout=timeout, dry_run=dry_run)


@task(help=flags(
    name=CONTAINER,
    all_="every running container of this project",
    signal="the signal to send, by name or number (default: KILL)",
))
def kill(c, name=None, all_=False, signal="KILL", image_name=None, dry_run=False):
    """Send a signal to running containers, SIGKILL by default."""
    from docker_tasks.tasks import lifecycle

    lifecycle.kill(load(image_name=image_name), name=name, every=all_, signal=signal, dry_run=dry_run)


@task(help=flags(
    name=CONTAINER,
    all_="every container of this project",
    force="remove running containers too",
))
def rm(c, name=None, all_=False, force=False, image_name=None, dry_run=False):
    """Remove containers; running ones only with --force."""
    from docker_tasks.tasks import lifecycle

    lifecycle.rm(load(image_name=image_name), name=name, every=all_, force=force, dry_run=dry_run)


@task(iterable=["tag"], help=flags(
    tag="a tag of this project's image to remove, e.g. 2.0 (repeatable)",
    all_="every image of this project",
    keep="remove all but the N newest builds; latest and version tags always stay",
    force="remove images that containers still use",
))
def rmi(c, tag=None, all_=False, keep=None, force=False, image_name=None, dry_run=False):
    """Remove this project's images: by tag, --all, or --keep N."""
    from docker_tasks.tasks import lifecycle

    lifecycle.rmi(load(image_name=image_name), tags=tag, every=all_, keep=keep, force=force, dry_run=dry_run)


@task(help=flags(
    keep="how many of the newest builds to keep (default: KEEP_BUILDS, else 3)",
    all_="also stop and remove running containers, and remove every image of this project",
    yes="with --all, do not ask for confirmation",
    dry_run="print what would be removed and remove nothing",
))
def clean(c, keep=None, all_=False, yes=False, image_name=None, dry_run=False):
    """Remove stopped containers, old images and local caches of this project."""
    from docker_tasks.tasks import lifecycle

    project = load(image_name=image_name, keep_builds=keep)
    lifecycle.clean(project, keep=project.keep_builds, every=all_, yes=yes, dry_run=dry_run,
                    interactive=sys.stdin.isatty())


@task(help=flags(
    registry="the registry to log in to (default: REGISTRY, else IMAGE_NAME's registry host)",
    ecr="get a token for Amazon ECR through boto3 and your AWS credentials",
))
def login(c, registry=None, ecr=False, image_name=None, dry_run=False):
    """Log in to a registry; credentials come from REGISTRY_USERNAME/REGISTRY_PASSWORD or a prompt."""
    from docker_tasks.tasks import shipping

    shipping.login(load(image_name=image_name), registry_flag=registry, ecr=ecr, environ=os.environ,
                   interactive=sys.stdin.isatty(), dry_run=dry_run)


@task(iterable=["tag"], help=flags(
    registry="where to push (default: REGISTRY, or IMAGE_NAME's registry prefix)",
    version="push this version tag",
    tag="push this tag (repeatable)",
    all_versions="push every version tag",
    allow_dirty="push an image built from uncommitted changes",
    allow_platform_mismatch="push even though the image's platform differs from PLATFORM",
    compression="how the layers travel: gzip, which every client pulls (default: PUSH_COMPRESSION, else gzip), "
                "or zstd",
    provenance="attach BuildKit's provenance to a reproducible build of this commit (default: on; "
               "--no-provenance pushes the image alone)",
))
def push(c, registry=None, version=None, tag=None, all_versions=False, allow_dirty=False,
         allow_platform_mismatch=False, compression=None, provenance=True, image_name=None, dry_run=False):
    """Push this project's image to a registry: the current build and `latest` unless told otherwise."""
    from docker_tasks.tasks import shipping

    shipping.push(load(image_name=image_name, push_compression=compression), registry_flag=registry,
                  version=version, tags=tag, all_versions=all_versions, allow_dirty=allow_dirty,
                  allow_platform_mismatch=allow_platform_mismatch, provenance=provenance, dry_run=dry_run)


@task(help=flags(reference="what to pull: NAME:TAG or NAME@sha256:DIGEST"))
def pull(c, reference, image_name=None, dry_run=False):
    """Pull an image by tag or digest, e.g. to run exactly what was pushed."""
    from docker_tasks.tasks import shipping

    shipping.pull(load(image_name=image_name), reference=reference, dry_run=dry_run)


@task(help={
    "name": "the new name, e.g. my-model: in the job contract, .env.example, .env and the README title",
    "dry_run": "show the changes and write nothing",
})
def init(c, name, dry_run=False):
    """Make the repository yours: rename the project in one step, e.g. `inv init --name my-model`."""
    from docker_tasks import job, settings
    from docker_tasks.tags import check_project_name
    from docker_tasks.tasks import starter

    root = settings.PROJECT_ROOT
    starter.init(root, old=settings.project_name(job.read(root)), new=check_project_name(name), dry_run=dry_run)


@task(help={
    "from_": "the upstream repository: a git URL or a local path (default: the one .upstream records)",
    "ref": "the branch, tag or commit to take (default: the one .upstream records, else upstream's HEAD)",
    "check": "only say whether this fork is behind upstream, and fail if it is (for CI)",
    "no_commit": "apply the upgrade but leave the commit to you",
    "dry_run": "list what would change and write nothing",
})
def upgrade(c, from_=None, ref=None, check=False, no_commit=False, dry_run=False):
    """Take a newer machinery from upstream: its files updated, yours never touched, edits merged."""
    from docker_tasks import settings
    from docker_tasks.tasks import upgrade

    upgrade.upgrade(settings.PROJECT_ROOT, source=from_, ref=ref, check=check, commit=not no_commit, dry_run=dry_run)


@task(help={
    "write": "rewrite requirements.txt: add what src/ imports and it lacks, pin every line; then `inv lock`",
    "prune": "with --write, also remove what src/ never imports (check first: a backend is never imported)",
    "dry_run": "show the rewrite --write would make",
})
def reqs(c, write=False, prune=False, dry_run=False):
    """Compare requirements.txt with what src/ imports (with deptry)."""
    from docker_tasks.tasks import dependencies

    dependencies.reqs(load(), write=write, prune=prune, dry_run=dry_run)


@task
def doctor(c):
    """Check Docker, disk space, .env, ignores, requirements, the Dockerfile and the image, with fixes."""
    from docker_tasks import settings
    from docker_tasks.tasks import starter

    starter.doctor(settings.PROJECT_ROOT, os.environ)


@task(help={"folder": "where the records are (default: output/)", "limit": "how many to show"})
def runs(c, folder=None, limit=20):
    """List the records of recent runs, newest first."""
    from docker_tasks.tasks import workflow

    workflow.runs(load(), folder=folder, limit=limit)


@task(help=flags(
    compute="ec2 (default; instances Batch starts, GPUs possible) or fargate (default: BATCH_COMPUTE)",
    max_vcpus="how many vCPUs the compute environment may run at once (default: BATCH_MAX_VCPUS, else 16)",
    subnets="subnet ids, comma-separated (default: BATCH_SUBNETS, else the default VPC's)",
    security_groups="security group ids, comma-separated (default: BATCH_SECURITY_GROUPS, else the default VPC's)",
    queue="the job queue's name (default: BATCH_JOB_QUEUE, else <project>-queue)",
    instance_profile="an instance profile ARN for EC2 instances (default: BATCH_INSTANCE_PROFILE, else one is made)",
))
def batch_setup(c, compute=None, max_vcpus=None, subnets=None, security_groups=None, queue=None,
                instance_profile=None, image_name=None, dry_run=False):
    """Make, or find, what AWS Batch jobs need: ECR repository, roles, compute environment, job queue."""
    from docker_tasks.tasks import batch

    batch.setup(load(image_name=image_name), compute=compute, max_vcpus=max_vcpus, subnets=subnets,
                security_groups=security_groups, queue=queue, instance_profile=instance_profile, dry_run=dry_run,
                environ=os.environ)


@task(help=flags(yes="remove them; without it, the task only says what it would remove"))
def batch_teardown(c, yes=False, image_name=None, dry_run=False):
    """Remove what `inv batch-setup` made for this project (found by its tag), and nothing else."""
    from docker_tasks.tasks import batch

    batch.teardown(load(image_name=image_name), yes=yes, dry_run=dry_run)


@task(iterable=["env_file", "file"], help=flags(
    shards="how many shards (an AWS Batch array job of that size)",
    queue="the Batch job queue (default: BATCH_JOB_QUEUE, else <project>-queue, as batch-setup names it)",
    vcpus="vCPUs for each shard",
    memory="memory for each shard, as `inv run` takes it: 2g, 512m, or a plain number of MiB (default 2048)",
    gpus="GPUs for each shard (an EC2 queue with GPU instances; Fargate has none)",
    env_file="env file for the job (repeatable; default: .env); secrets as Secrets Manager ARNs",
    image="the image in ECR (default: REGISTRY/IMAGE_NAME:<current build>)",
    wait="follow the shards until all have ended; fail, with their output, if any did; then collect and merge",
    file="a file each shard gets in its output folder, e.g. output/model.joblib (repeatable; through S3)",
))
def batch_submit(c, shards=1, queue=None, vcpus="1", memory="2048", gpus="0", env_file=None, image=None, wait=False,
                 file=None, image_name=None, dry_run=False):
    """Submit the job to AWS Batch as an array of shards; arguments after `--` go to the job."""
    from docker_tasks.run_options import memory_mib, parse_gpu_count
    from docker_tasks.tasks import batch

    batch.batch_submit(load(image_name=image_name), shards_count=shards, queue=queue, vcpus=vcpus,
                       memory_mib=memory_mib(memory), gpus=parse_gpu_count(gpus), env_files=env_file, image=image,
                       command=arguments_after_double_dash(c.remainder, sys.argv), dry_run=dry_run, wait=wait,
                       files=file or [])


@task(help={"job": BATCH_JOB})
def batch_status(c, job=None):
    """Show each shard's state in an AWS Batch job."""
    from docker_tasks.tasks import batch

    batch.batch_status(load(), job_id=job)


@task(help={"job": BATCH_JOB,
            "index": "which shard, from 0"})
def batch_logs(c, job=None, index=0):
    """Show one shard's output, from CloudWatch Logs."""
    from docker_tasks.tasks import batch

    batch.batch_logs(load(), job_id=job, index=index)


@task(help={"job": BATCH_JOB,
            "wait": "follow the job to its end first, as `batch-submit --wait` does"})
def batch_collect(c, job=None, wait=False):
    """Fetch a Batch job's outputs into output/ and merge them."""
    from docker_tasks.tasks import batch

    batch.batch_collect(load(), job_id=job, wait=wait)


@task(iterable=["env_file"], help=flags(
    shards="how many shards (the job's completions)",
    parallel="how many run at once (default: all)",
    image="the image in the registry (default: REGISTRY/IMAGE_NAME:<current build>)",
    env_file="env file for the job (repeatable; default: .env)",
    detach="return at once; `inv swarm-status` reports later",
    timeout="seconds to wait for every shard",
    gpus="GPUs for each shard, as Swarm generic resources (NVIDIA-GPU) the nodes advertise",
    cache_volume="mount the project's model cache volume at /cache, as `inv run` does (--no-cache-volume: off)",
))
def swarm_run(c, shards=1, parallel=0, image=None, env_file=None, detach=False, timeout=3600, gpus="0",
              cache_volume=True, image_name=None, dry_run=False):
    """Run the job as shards on Docker Swarm, wait, merge and remove the service; args after `--` go to the job."""
    from docker_tasks.run_options import parse_gpu_count
    from docker_tasks.tasks import swarm

    swarm.swarm_run(load(image_name=image_name), shards_count=shards, parallel=parallel or None, image=image,
                    command=arguments_after_double_dash(c.remainder, sys.argv), env_files=env_file,
                    detach=detach, timeout=timeout, dry_run=dry_run, gpus=parse_gpu_count(gpus),
                    model_cache=cache_volume)


@task(help={"name": "one Swarm job's name (default: all of this project's)", "image_name": IMAGE_NAME})
def swarm_status(c, name=None, image_name=None):
    """Show each shard's state of this project's Swarm jobs; removes the finished ones."""
    from docker_tasks.tasks import swarm

    swarm.swarm_status(load(image_name=image_name), name=name)
