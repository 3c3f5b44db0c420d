import os

import pytest

from docker_tasks import settings
from docker_tasks.errors import TaskError
from docker_tasks.settings import Settings
from docker_tasks.tasks import workflow


@pytest.fixture
def project(tmp_path):
    return Settings(image_name="reg.io/team/app", base_image="py", registry=None, root=tmp_path)


def with_dotenv(project: Settings, text: str) -> Settings:
    """The project's settings once .env holds `text`: the tasks read .env once, when they load."""
    (project.root / ".env").write_text(text)
    return settings.load({}, project.root, image_name=project.image_name)


def test_defaults_run_latest_with_output_mounted_as_its_owner(project):
    (project.root / "output").mkdir()
    plan = workflow.plan_run(project, image=None, command=[], cwd=project.root, environ={})
    info = (project.root / "output").stat()
    assert plan.image == "reg.io/team/app:latest"
    assert plan.name.startswith("app-")
    assert plan.labels == {"dockertasks.project": "app", "dockertasks.image": "reg.io/team/app:latest"}
    assert plan.volumes == [f"{project.root / 'output'}:/app/output", "app-cache:/cache"]  # and the model cache
    assert plan.user == f"{info.st_uid}:{info.st_gid}"
    assert plan.command is None and plan.remove and not plan.detach


def test_dotenv_is_the_default_env_file_and_flags_win(project):
    project = with_dotenv(project, "A=from-dotenv\nB=from-dotenv\n")
    plan = workflow.plan_run(project, image=None, command=None, env=["B=flag"], cwd=project.root, environ={},
                             model_cache=False)
    assert plan.environment == {"A": "from-dotenv", "B": "flag"}


def test_explicit_env_files_replace_dotenv(project):
    (project.root / ".env").write_text("A=from-dotenv\n")
    (project.root / "other.env").write_text("C=other\n")
    plan = workflow.plan_run(project, image=None, command=None, env_files=["other.env"], cwd=project.root, environ={},
                             model_cache=False)
    assert plan.environment == {"C": "other"}


def test_mounting_your_own_output_folder_replaces_the_default(project):
    (project.root / "elsewhere").mkdir()
    plan = workflow.plan_run(project, image="x:1", command=["train"], volumes=["./elsewhere:/app/output"],
                             cwd=project.root, environ={})
    assert plan.volumes == [f"{project.root / 'elsewhere'}:/app/output", "app-cache:/cache"]
    assert plan.user is None


def test_a_detached_run_keeps_its_container(project):
    plan = workflow.plan_run(project, image=None, command=None, detach=True, remove=True, cwd=project.root, environ={})
    assert plan.detach and not plan.remove


@pytest.mark.parametrize("options, message", [
    ({"name": "bad name"}, "--name 'bad name'"),
    ({"ports": ["70000:80"]}, "--port"),
    ({"volumes": ["nowhere/x:/y"]}, "--volume"),
    ({"env": ["1=2"]}, "--env"),
    ({"env_files": ["missing.env"]}, "env file not found"),
    ({"gpus": "lots"}, "--gpus"),
    ({"memory": "lots"}, "--memory"),
])
def test_bad_options_fail_before_any_docker_call(project, options, message):
    with pytest.raises(TaskError, match=message):
        workflow.plan_run(project, image=None, command=None, cwd=project.root, environ={}, **options)


def test_output_owner_of_a_missing_folder_is_you(tmp_path):
    assert workflow.output_owner(tmp_path / "missing") == f"{os.getuid()}:{os.getgid()}"


def test_the_tasks_settings_and_registry_credentials_stay_out_of_the_job(project):
    project = with_dotenv(project, "IMAGE_NAME=x\nREGISTRY_PASSWORD=s3cret\nLOG_LEVEL=DEBUG\n")
    plan = workflow.plan_run(project, image=None, command=None, cwd=project.root, environ={}, model_cache=False)
    assert plan.environment == {"LOG_LEVEL": "DEBUG"}


def test_every_run_mounts_the_model_cache_with_its_variables_unless_told_not_to(project):
    plan = workflow.plan_run(project, image=None, command=None, env=["HF_HOME=/app/output/hf"], cwd=project.root,
                             environ={})
    assert "app-cache:/cache" in plan.volumes
    assert plan.environment == {"HF_HOME": "/app/output/hf", "TORCH_HOME": "/cache/torch", "XDG_CACHE_HOME": "/cache"}
    off = workflow.plan_run(project, image=None, command=None, cwd=project.root, environ={}, model_cache=False)
    assert not any(bind.endswith(":/cache") for bind in off.volumes) and "XDG_CACHE_HOME" not in off.environment
    (project.root / "mine").mkdir()
    own = workflow.plan_run(project, image=None, command=None, volumes=["./mine:/cache"], cwd=project.root, environ={})
    assert own.volumes.count(f"{project.root / 'mine'}:/cache") == 1 and "app-cache:/cache" not in own.volumes


def test_a_shell_mounts_src_read_only_over_the_images_copy_and_hands_no_value_as_an_argument(project):
    from docker_tasks import commands

    plan = workflow.plan_run(project, image=None, command=None, env=["TOKEN=s3cret"], cwd=project.root, environ={})
    shell = workflow.shell_plan(plan, project, [])
    assert shell.entrypoint == "sh" and shell.command == ["-c", workflow.SHELL[2]] and shell.remove
    assert f"{project.root / 'src'}:/app/src:ro" in shell.volumes and shell.name.startswith("app-shell-")
    assert shell.hardening == plan.hardening and shell.user == plan.user  # inv run's defences and user
    python = workflow.shell_plan(plan, project, ["python", "-q"])
    assert (python.entrypoint, python.command) == ("python", ["-q"])
    argv = commands.docker_run(shell, terminal=True, values_from_environment=True)
    assert argv[2:4] == ["--interactive", "--tty"] and "--env" in argv and "TOKEN" in argv
    assert "s3cret" not in " ".join(argv)
    assert "--tty" not in commands.docker_run(shell, terminal=False)  # no terminal to give it: scripts, CI
