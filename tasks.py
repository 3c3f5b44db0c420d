"""Build, run and manage this project's Docker image: `inv --list` shows the tasks.

Each task gathers its flags and hands them to docker_tasks/workflow.py, where the steps are.
Settings come from the flag, then the environment, then `.env`, then the defaults in
docker_tasks/settings.py.
"""

import os
import shlex

from docker_tasks import settings, workflow
from docker_tasks.tasking import task

DRY_RUN = "print the equivalent docker command lines and do nothing"
IMAGE_NAME = "image name, optionally with a registry (default: IMAGE_NAME, else app-name)"


@task(
    iterable=["tag", "build_arg"],
    help={
        "tag": "an extra tag for this build (repeatable)",
        "no_cache": "rebuild every layer, ignoring BuildKit's cache",
        "build_arg": "KEY=VALUE for the Dockerfile's ARGs (repeatable)",
        "platform": "target platform, e.g. linux/amd64 for an amd64 cluster",
        "base_image": "base image (default: BASE_IMAGE, else python:3.11-slim)",
        "image_name": IMAGE_NAME,
        "dry_run": DRY_RUN,
    },
)
def build(c, tag=None, no_cache=False, build_arg=None, platform=None, base_image=None, image_name=None, dry_run=False):
    """Build the image with BuildKit and tag it with the git SHA and `latest`."""
    project = settings.load(os.environ, image_name=image_name, base_image=base_image)
    workflow.build(project, extra_tags=tag, build_args=build_arg, platform=platform,
                   no_cache=no_cache, dry_run=dry_run)


@task(
    iterable=["env", "port", "volume", "env_file"],
    help={
        "detach": "run in the background and print the container's name",
        "env": "KEY=VALUE for the job's environment (repeatable); a bare KEY passes your shell's value",
        "port": "publish a port, [IP:]HOST:CONTAINER, e.g. 8080:80 (repeatable)",
        "volume": "mount HOST_PATH:CONTAINER_PATH[:ro] (repeatable); output/ is mounted at /app/output",
        "name": "the container's name (default: the project's name and a random suffix)",
        "image": "image to run (default: IMAGE_NAME:latest)",
        "env_file": "env file read with python-dotenv (repeatable; default: .env when present)",
        "entrypoint": "override the image's entrypoint, as in docker run",
        "gpus": "GPUs to expose, as in docker run: all, a count, or device=0,1",
        "rm": "remove the container when a foreground run ends (default: on; --no-rm keeps it)",
        "image_name": IMAGE_NAME,
        "dry_run": DRY_RUN,
    },
)
def run(c, detach=False, env=None, port=None, volume=None, name=None, image=None, env_file=None,
        entrypoint=None, gpus=None, rm=True, image_name=None, dry_run=False):
    """Run the image; arguments after `--` go to the job, e.g. `inv run -- predict --input x.csv`."""
    project = settings.load(os.environ, image_name=image_name)
    plan = workflow.plan_run(
        project, image=image, command=shlex.split(c.remainder), env=env, env_files=env_file,
        ports=port, volumes=volume, name=name, entrypoint=entrypoint, gpus=gpus,
        detach=detach, remove=rm,
    )
    workflow.run(plan, settings=project, gpus=gpus, dry_run=dry_run)


@task(name="images", help={"image_name": IMAGE_NAME, "dry_run": DRY_RUN})
def list_images(c, image_name=None, dry_run=False):
    """List this project's images with their tags, size, age and git revision."""
    workflow.images(settings.load(os.environ, image_name=image_name), dry_run=dry_run)


@task(help={"image_name": IMAGE_NAME, "dry_run": "print what would be removed and remove nothing"})
def clean(c, image_name=None, dry_run=False):
    """Remove this project's stopped containers, dangling images and local caches."""
    workflow.clean(settings.load(os.environ, image_name=image_name), dry_run=dry_run)
