import dataclasses
import json
import re

import boto3
import pytest
from botocore.stub import ANY, Stubber

from docker_tasks import batch, records, settings
from docker_tasks.errors import TaskError
from docker_tasks.job import Job
from docker_tasks.run_options import Hardening, RunPlan, create_kwargs
from docker_tasks.seams.aws import Clients
from docker_tasks.tasks import batch as batch_tasks
from docker_tasks.tasks import swarm, workflow

IMAGE = "123456789012.dkr.ecr.eu-west-1.amazonaws.com/app-name:abc123"
SECRET_ARN = "arn:aws:secretsmanager:eu-west-1:123456789012:secret:db-password-AbCd"


def test_the_job_definition_references_secrets_by_arn():
    spec = RunPlan(image=IMAGE, name="app-name", labels={}, command=["predict"],
                   environment={"LOG_LEVEL": "DEBUG", "DB_PASSWORD": SECRET_ARN})
    definition = batch.job_definition(spec, vcpus="2", memory_mib=4096, shards=8)
    assert definition == {
        "jobDefinitionName": "app-name",
        "type": "container",
        "containerProperties": {
            "image": IMAGE,
            "command": ["predict"],
            "resourceRequirements": [{"type": "VCPU", "value": "2"}, {"type": "MEMORY", "value": "4096"}],
            "environment": [{"name": "LOG_LEVEL", "value": "DEBUG"}, {"name": "SHARD_COUNT", "value": "8"}],
            "secrets": [{"name": "DB_PASSWORD", "valueFrom": SECRET_ARN}],
            "readonlyRootFilesystem": True,
            "linuxParameters": {"initProcessEnabled": True, "tmpfs": [
                {"containerPath": "/tmp", "size": 512, "mountOptions": ["rw", "nosuid", "nodev"]}]},
        },
    }


def test_a_secret_given_as_a_plain_value_is_refused():
    with pytest.raises(TaskError, match="DB_PASSWORD looks like a secret"):
        batch.split_environment({"DB_PASSWORD": "hunter2"})


@pytest.mark.parametrize("shards, array", [(1, None), (2, {"size": 2}), (10_000, {"size": 10_000})])
def test_an_array_job_of_the_shards(shards, array):
    job = batch.submission(name="j", queue="q", definition="d", shards=shards)
    assert job.get("arrayProperties") == array


@pytest.mark.parametrize("shards", [0, 10_001])
def test_batch_shard_limits(shards):
    with pytest.raises(TaskError, match="AWS Batch runs 1 to 10000 shards"):
        batch.submission(name="j", queue="q", definition="d", shards=shards)


def test_job_names_keep_to_batchs_alphabet():
    assert batch.job_name("app-name", "1.0+build") == "app-name-1-0-build"


@pytest.fixture
def project(tmp_path):
    """A project whose job shards: it declares `score` and reads its shard from the environment."""
    (tmp_path / ".env").write_text(f"LOG_LEVEL=DEBUG\nDB_PASSWORD={SECRET_ARN}\nIMAGE_NAME=app-name\n")
    (tmp_path / "src").mkdir()
    (tmp_path / "src" / "main.py").write_text('import os\nSHARD = int(os.environ["SHARD_INDEX"])\n')
    return dataclasses.replace(settings.load({}, tmp_path), job=Job(shard_command=("score",)))


def test_a_job_that_does_not_shard_is_refused_before_any_request(project):
    unsharded = dataclasses.replace(project, job=Job())
    with pytest.raises(TaskError, match="the job does not run in shards: it declares no shard_command"):
        batch_tasks.batch_submit(unsharded, shards_count=2, queue="q", vcpus="1", memory_mib=2048, env_files=[],
                                 image=IMAGE, command=None, dry_run=True, environ={})


class StubbedAWS(Clients):
    """The AWS seam's clients, each a real boto3 client whose answers a Stubber gives."""

    def __init__(self):
        super().__init__("eu-west-1")
        self.made = {name: boto3.client(name, region_name="eu-west-1", aws_access_key_id="x",
                                        aws_secret_access_key="y") for name in ("batch", "ecr", "logs", "s3", "sts")}


CALLER = {"Account": "123456789012", "Arn": "arn:aws:iam::123456789012:user/me", "UserId": "me"}


def no_bucket(sts: Stubber, s3: Stubber) -> None:
    """What AWS answers where batch-setup made no bucket: the job gets nowhere to upload to."""
    sts.add_response("get_caller_identity", CALLER)
    s3.add_client_error("head_bucket", "404", "Not Found", http_status_code=404,
                        expected_params={"Bucket": "app-name-batch-123456789012"})


QUEUE = {"jobQueueName": "ml-queue", "jobQueueArn": "arn:q", "state": "ENABLED", "status": "VALID", "priority": 1,
         "computeEnvironmentOrder": []}


def test_submit_sends_exactly_these_requests(project, capsys):
    aws = StubbedAWS()
    client = aws.batch
    arn = "arn:aws:batch:eu-west-1:123456789012:job-definition/app-name:3"
    with Stubber(client) as stub, Stubber(aws.ecr) as ecr, Stubber(aws.sts) as sts, Stubber(aws.s3) as s3:
        stub.add_response("describe_job_queues", {"jobQueues": [QUEUE]}, expected_params={"jobQueues": ["ml-queue"]})
        ecr.add_response("describe_images", {"imageDetails": []},
                         expected_params={"repositoryName": "app-name", "imageIds": [{"imageTag": "abc123"}]})
        sts.add_response("get_caller_identity", CALLER)
        s3.add_response("head_bucket", {}, expected_params={"Bucket": "app-name-batch-123456789012"})
        stub.add_response("register_job_definition", {"jobDefinitionName": "app-name", "jobDefinitionArn": arn,
                                                      "revision": 3},
                          expected_params=batch.job_definition(
                              RunPlan(image=IMAGE, name="app-name", labels={}, command=["score"],
                                      environment={"LOG_LEVEL": "DEBUG", "DB_PASSWORD": SECRET_ARN}),
                              vcpus="2", memory_mib=4096, shards=4))
        stub.add_response("submit_job", {"jobName": "app-name-abc123", "jobId": "job-1"},
                          expected_params={"jobName": "app-name-abc123", "jobQueue": "ml-queue",
                                           "jobDefinition": arn, "arrayProperties": {"size": 4},
                                           "containerOverrides": {"environment": [
                                               {"name": "OUTPUT_UPLOAD", "value": ANY}]}})
        batch_tasks.batch_submit(project, shards_count=4, queue="ml-queue", vcpus="2", memory_mib=4096, env_files=[],
                                 image=IMAGE, command=None, dry_run=False, environ={}, aws=aws)
        stub.assert_no_pending_responses()
    shown = capsys.readouterr().out
    assert "as job job-1" in shown and "once it has ended, its outputs: inv batch-collect --job job-1" in shown
    recorded = records.read_list(project.root / batch_tasks.BATCH_JOBS)[-1]
    assert recorded["job"] == "job-1" and recorded["command"] == ["score"]
    assert recorded["bucket"] == "app-name-batch-123456789012" and recorded["prefix"].startswith("runs/app-name-abc123")


def test_a_refusal_from_batch_is_one_line(project):
    aws = StubbedAWS()
    with Stubber(aws.batch) as stub, Stubber(aws.ecr) as ecr, Stubber(aws.sts) as sts, Stubber(aws.s3) as s3:
        stub.add_response("describe_job_queues", {"jobQueues": [{**QUEUE, "jobQueueName": "q"}]})
        ecr.add_response("describe_images", {"imageDetails": []})
        no_bucket(sts, s3)
        stub.add_client_error("register_job_definition", "ClientException", "image is not allowed")
        with pytest.raises(TaskError, match="AWS Batch refused the job"):
            batch_tasks.batch_submit(project, shards_count=2, queue="q", vcpus="1", memory_mib=2048, env_files=[],
                                     image=IMAGE, command=None, dry_run=False, environ={}, aws=aws)


@pytest.mark.parametrize("queues, message", [
    ([], "there is no job queue q in this account and region; `inv batch-setup` makes one"),
    ([{**QUEUE, "jobQueueName": "q", "state": "DISABLED"}], "the job queue q is DISABLED"),
    ([{**QUEUE, "jobQueueName": "q", "status": "INVALID", "statusReason": "no CE"}], "the job queue q is INVALID"),
])
def test_a_queue_that_cannot_take_the_job_is_refused_before_anything_is_registered(project, queues, message):
    aws = StubbedAWS()
    with Stubber(aws.batch) as stub:
        stub.add_response("describe_job_queues", {"jobQueues": queues})
        with pytest.raises(TaskError, match=re.escape(message)):
            batch_tasks.batch_submit(project, shards_count=2, queue="q", vcpus="1", memory_mib=2048, env_files=[],
                                     image=IMAGE, command=None, dry_run=False, environ={}, aws=aws)


def test_an_image_that_is_not_in_ecr_is_refused(project):
    aws = StubbedAWS()
    with Stubber(aws.batch) as stub, Stubber(aws.ecr) as ecr:
        stub.add_response("describe_job_queues", {"jobQueues": [{**QUEUE, "jobQueueName": "q"}]})
        ecr.add_client_error("describe_images", "ImageNotFoundException", "no such tag")
        with pytest.raises(TaskError, match="is not in ECR, so no shard could start; push it first"):
            batch_tasks.batch_submit(project, shards_count=2, queue="q", vcpus="1", memory_mib=2048, env_files=[],
                                     image=IMAGE, command=None, dry_run=False, environ={}, aws=aws)


def test_the_states_of_children_their_counts_and_reasons():
    jobs = [{"jobId": "j:0", "status": "SUCCEEDED"}, {"jobId": "j:2", "status": "RUNNING"},
            {"jobId": "j:1", "status": "FAILED", "statusReason": "Essential container in task exited",
             "container": {"exitCode": 2}}]
    states = batch.child_states(jobs)
    assert states == {0: "SUCCEEDED", 1: "FAILED (Essential container in task exited; exit code 2)", 2: "RUNNING"}
    assert batch.counts(states) == "3 shard(s): 1 RUNNING, 1 SUCCEEDED, 1 FAILED"
    assert not batch.finished(states, 3) and batch.failed_shards(states) == [1]
    assert batch.finished({**states, 2: "SUCCEEDED"}, 3) and not batch.finished({0: "SUCCEEDED"}, 2)
    assert batch.child_ids("j", 3) == ["j:0", "j:1", "j:2"] and batch.child_ids("j", 1) == ["j"]
    assert batch.log_stream({"attempts": [{"container": {"logStreamName": "def/default/j"}}]}) == "def/default/j"


def test_dry_run_prints_the_requests_without_values(project, capsys):
    batch_tasks.batch_submit(project, shards_count=3, queue="q", vcpus="1", memory_mib=2048, env_files=[],
                             image=IMAGE, command=["predict"], dry_run=True, environ={})
    printed = capsys.readouterr().out
    assert '"registerJobDefinition"' in printed and '"size": 3' in printed
    assert "DEBUG" not in printed and SECRET_ARN in printed  # a reference, not a secret


def test_without_a_queue_it_goes_to_the_one_batch_setup_names(project, capsys):
    batch_tasks.batch_submit(project, shards_count=1, queue=None, vcpus="1", memory_mib=1, env_files=[],
                             image=IMAGE, command=None, dry_run=True, environ={})
    assert '"jobQueue": "app-name-queue"' in capsys.readouterr().out


@pytest.mark.parametrize("hardening", [Hardening(), Hardening(False, False, False)], ids=["defaults", "off"])
def test_one_job_spec_renders_alike_on_every_engine(hardening):
    spec = RunPlan(image="reg.io/app:1", name="app-name", labels={"dockertasks.project": "app-name"},
                   command=["predict", "--fast"], environment={"A": "1"}, hardening=hardening)
    local = create_kwargs(spec)
    on_swarm = swarm.service_kwargs(spec, name="s", shards_count=2, at_once=1, volume="v")
    on_batch = batch.job_definition(spec, vcpus="1", memory_mib=512, shards=2)["containerProperties"]
    assert local["image"] == on_swarm["image"] == on_batch["image"] == "reg.io/app:1"
    assert local["command"] == on_swarm["args"] == on_batch["command"] == ["predict", "--fast"]
    assert bool(local.get("read_only")) is on_swarm["read_only"] is on_batch["readonlyRootFilesystem"] is \
        hardening.read_only
    assert (local.get("cap_drop") == ["ALL"]) is (on_swarm["cap_drop"] == ["ALL"]) is hardening.drop_capabilities
    assert "A=1" in on_swarm["env"] and {"name": "A", "value": "1"} in on_batch["environment"]


def test_a_fargate_queue_gets_a_fargate_definition_without_tmpfs(project):
    aws = StubbedAWS()
    spec = RunPlan(image=IMAGE, name="app-name", labels={}, command=["score"],
                   environment={"LOG_LEVEL": "DEBUG", "DB_PASSWORD": SECRET_ARN})
    role = "arn:aws:iam::123456789012:role/app-name-batch-execution"
    expected = batch.job_definition(spec, vcpus="1", memory_mib=2048, shards=2, fargate_execution_role=role)
    properties = expected["containerProperties"]
    assert expected["platformCapabilities"] == ["FARGATE"] and properties["executionRoleArn"] == role
    assert "tmpfs" not in properties["linuxParameters"] and properties["readonlyRootFilesystem"] is False
    with Stubber(aws.batch) as stub, Stubber(aws.ecr) as ecr, Stubber(aws.sts) as sts, Stubber(aws.s3) as s3:
        order = [{"order": 1, "computeEnvironment": "app-name-compute"}]
        stub.add_response("describe_job_queues",
                          {"jobQueues": [{**QUEUE, "jobQueueName": "q", "computeEnvironmentOrder": order}]})
        stub.add_response("describe_compute_environments", {"computeEnvironments": [{
            "computeEnvironmentName": "app-name-compute", "computeEnvironmentArn": "arn:ce",
            "computeResources": {"type": "FARGATE", "maxvCpus": 4, "subnets": [], "securityGroupIds": []}}]},
            expected_params={"computeEnvironments": ["app-name-compute"]})
        sts.add_response("get_caller_identity", {"Account": "123456789012", "Arn": "arn:aws:iam::123456789012:user/me",
                                                   "UserId": "me"})
        ecr.add_response("describe_images", {"imageDetails": []})
        s3.add_client_error("head_bucket", "404", "Not Found", http_status_code=404)
        stub.add_response("register_job_definition", {"jobDefinitionName": "app-name", "jobDefinitionArn": "arn:d",
                                                      "revision": 1}, expected_params=expected)
        stub.add_response("submit_job", {"jobName": "app-name-abc123", "jobId": "job-2", "jobArn": "arn:j"})
        batch_tasks.batch_submit(project, shards_count=2, queue="q", vcpus="1", memory_mib=2048, env_files=[],
                                 image=IMAGE, command=None, dry_run=False, environ={}, aws=aws)
        stub.assert_no_pending_responses()


def test_an_image_named_by_digest_is_looked_for_by_digest(project):
    aws = StubbedAWS()
    digest = "sha256:" + "d" * 64
    with Stubber(aws.batch) as stub, Stubber(aws.ecr) as ecr:
        stub.add_response("describe_job_queues", {"jobQueues": [{**QUEUE, "jobQueueName": "q"}]})
        ecr.add_client_error("describe_images", "ImageNotFoundException", "no such digest",
                             expected_params={"repositoryName": "app-name", "imageIds": [{"imageDigest": digest}]})
        with pytest.raises(TaskError, match="is not in ECR"):
            batch_tasks.batch_submit(project, shards_count=2, queue="q", vcpus="1", memory_mib=2048, env_files=[],
                                     image=f"{IMAGE.rsplit(':', 1)[0]}@{digest}", command=None, dry_run=False,
                                     environ={}, aws=aws)


def test_gpus_on_batch_and_swarm_are_asked_for_exactly_with_room_in_shared_memory(project):
    spec = workflow.job_spec(project, image=IMAGE, command=["train"], env_files=[], environ={}, gpus=2)
    properties = batch.job_definition(spec, vcpus="8", memory_mib=30000, shards=4)["containerProperties"]
    assert properties["resourceRequirements"] == [{"type": "VCPU", "value": "8"}, {"type": "MEMORY", "value": "30000"},
                                                  {"type": "GPU", "value": "2"}]
    assert properties["linuxParameters"]["sharedMemorySize"] == 2048
    with pytest.raises(TaskError, match="--gpus 2: Fargate has no GPUs"):
        batch.job_definition(spec, vcpus="8", memory_mib=30000, shards=4, fargate_execution_role="arn:role")
    kwargs = swarm.service_kwargs(spec, name="s", shards_count=4, at_once=4, volume="v")
    assert kwargs["resources"]["Reservations"]["GenericResources"] == [
        {"DiscreteResourceSpec": {"Kind": "NVIDIA-GPU", "Value": 2}}]
    line = " ".join(swarm.service_command(kwargs))
    assert "--generic-resource NVIDIA-GPU=2" in line
    assert f"--mount type=tmpfs,target=/dev/shm,tmpfs-size={2 << 30}" in line
    plain = workflow.job_spec(project, image=IMAGE, command=["train"], env_files=[], environ={})
    assert len(batch.job_definition(plain, vcpus="1", memory_mib=512, shards=1)["containerProperties"][
        "resourceRequirements"]) == 2
    assert swarm.service_kwargs(plain, name="s", shards_count=1, at_once=1, volume="v")["resources"] is None


def job_answer(job_id: str, status: str, shards: int = 0) -> dict:
    return {"jobName": "app-name-abc123", "jobId": job_id, "jobQueue": "q", "status": status, "startedAt": 1,
            "jobDefinition": "arn:d", **({"arrayProperties": {"size": shards}} if shards else {})}


def test_collecting_a_job_that_has_not_ended_says_when_to_and_how_to_wait(project):
    records.append_to_list(project.root / batch_tasks.BATCH_JOBS, {
        "job": "job-1", "image": IMAGE, "command": ["score"], "bucket": "b", "prefix": "runs/app-name-abc123-f00/"})
    aws = StubbedAWS()
    with Stubber(aws.batch) as stub:
        stub.add_response("describe_jobs", {"jobs": [job_answer("job-1", "RUNNING", shards=2)]})
        stub.add_response("describe_jobs", {"jobs": [job_answer("job-1:0", "SUCCEEDED"),
                                                     job_answer("job-1:1", "RUNNING")]},
                          expected_params={"jobs": ["job-1:0", "job-1:1"]})
        with pytest.raises(TaskError) as refused:
            batch_tasks.batch_collect(project, job_id=None, wait=False, aws=aws)
    assert str(refused.value) == (
        "job job-1 has not ended yet (RUNNING; 2 shard(s): 1 RUNNING, 1 SUCCEEDED): collect it once it has "
        "(`inv batch-status --job job-1`), or add --wait to follow it to the end")


def test_a_job_given_nowhere_to_upload_is_not_collected(project):
    records.append_to_list(project.root / batch_tasks.BATCH_JOBS, {"job": "job-2", "image": IMAGE})
    with pytest.raises(TaskError, match="job job-2 was given nowhere to upload its outputs"):
        batch_tasks.batch_collect(project, job_id="job-2", wait=False, aws=StubbedAWS())  # and asks AWS nothing


# --- The environment (batch-setup) ---------------------------------------------------------------

def make(compute="EC2", profile=None, queue=None):
    return batch.environment("churn", "churn", compute=compute, max_vcpus=8, subnets=["subnet-1", "subnet-2"],
                             security_groups=["sg-1"], queue=queue, instance_profile=profile)


def test_ec2_needs_an_instance_role_unless_a_profile_is_given_and_fargate_never_does():
    assert [role.name for role in make().roles] == ["churn-batch-service", "churn-batch-execution",
                                                    "churn-batch-instance"]
    assert make().role("instance").instance_profile
    assert make(profile="arn:aws:iam::1:instance-profile/theirs").role("instance") is None
    assert make(compute="FARGATE").role("instance") is None


def test_the_roles_trust_the_service_that_acts_as_them():
    trust = json.loads(make().role("execution").trust_policy)
    assert trust["Statement"][0]["Principal"] == {"Service": "ecs-tasks.amazonaws.com"}


def test_the_requests_scale_from_zero_and_carry_the_projects_tag():
    env = make()
    request = batch.compute_environment_request(env, "arn:role/s", "arn:profile/i")
    assert request["computeResources"] == {"type": "EC2", "maxvCpus": 8, "minvCpus": 0, "instanceTypes": ["optimal"],
                                           "subnets": ["subnet-1", "subnet-2"], "securityGroupIds": ["sg-1"],
                                           "instanceRole": "arn:profile/i"}
    assert request["tags"] == {"dockertasks.project": "churn"} == batch.job_queue_request(env)["tags"]
    fargate = batch.compute_environment_request(make(compute="FARGATE"), "arn:role/s", None)["computeResources"]
    assert "instanceRole" not in fargate and "minvCpus" not in fargate
    assert batch.job_queue_request(make(queue="ml"))["jobQueueName"] == "ml"
    assert batch.job_queue_request(env)["computeEnvironmentOrder"] == [
        {"order": 1, "computeEnvironment": "churn-compute"}]


@pytest.mark.parametrize("tags, mine", [
    ({"dockertasks.project": "churn"}, True), ({"dockertasks.project": "other"}, False), (None, False),
    ([{"Key": "dockertasks.project", "Value": "churn"}], True), ([{"Key": "team", "Value": "churn"}], False),
])
def test_what_is_ours_is_told_by_the_tag_in_either_form(tags, mine):
    assert batch.ours(tags, "churn") is mine


@pytest.mark.parametrize("queue, problem", [
    ({"jobQueueName": "q", "state": "ENABLED", "status": "VALID"}, None),
    ({"jobQueueName": "q", "state": "DISABLED", "status": "VALID"}, "the job queue q is DISABLED"),
    ({"jobQueueName": "q", "state": "ENABLED", "status": "INVALID", "statusReason": "CE gone"},
     "the job queue q is INVALID (CE gone)"),
])
def test_a_queue_takes_jobs_only_enabled_and_valid(queue, problem):
    found = batch.queue_problem(queue)
    assert (found is None) if problem is None else found.startswith(problem)


def test_bad_settings_are_one_line_each():
    with pytest.raises(TaskError, match="give ec2 .* or fargate"):
        batch.parse_compute("lambda")
    with pytest.raises(TaskError, match="--max-vcpus '0'"):
        batch.parse_vcpus("0")
    with pytest.raises(TaskError, match="which subnets"):
        batch.environment("p", "p", compute="EC2", max_vcpus=1, subnets=[], security_groups=["sg"], queue=None,
                       instance_profile=None)
    assert batch.split_list("subnet-1, subnet-2,,") == ("subnet-1", "subnet-2")
    assert batch.parse_compute("fargate") == "FARGATE"
