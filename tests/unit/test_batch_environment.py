import json

import pytest

from docker_tasks import batch_environment as be
from docker_tasks.errors import TaskError


def make(compute="EC2", profile=None, queue=None):
    return be.environment("churn", "churn", compute=compute, max_vcpus=8, subnets=["subnet-1", "subnet-2"],
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
    request = be.compute_environment_request(env, "arn:role/s", "arn:profile/i")
    assert request["computeResources"] == {"type": "EC2", "maxvCpus": 8, "minvCpus": 0, "instanceTypes": ["optimal"],
                                           "subnets": ["subnet-1", "subnet-2"], "securityGroupIds": ["sg-1"],
                                           "instanceRole": "arn:profile/i"}
    assert request["tags"] == {"dockertasks.project": "churn"} == be.job_queue_request(env)["tags"]
    fargate = be.compute_environment_request(make(compute="FARGATE"), "arn:role/s", None)["computeResources"]
    assert "instanceRole" not in fargate and "minvCpus" not in fargate
    assert be.job_queue_request(make(queue="ml"))["jobQueueName"] == "ml"
    assert be.job_queue_request(env)["computeEnvironmentOrder"] == [{"order": 1, "computeEnvironment": "churn-compute"}]


@pytest.mark.parametrize("tags, mine", [
    ({"dockertasks.project": "churn"}, True), ({"dockertasks.project": "other"}, False), (None, False),
    ([{"Key": "dockertasks.project", "Value": "churn"}], True), ([{"Key": "team", "Value": "churn"}], False),
])
def test_what_is_ours_is_told_by_the_tag_in_either_form(tags, mine):
    assert be.ours(tags, "churn") is mine


@pytest.mark.parametrize("queue, problem", [
    ({"jobQueueName": "q", "state": "ENABLED", "status": "VALID"}, None),
    ({"jobQueueName": "q", "state": "DISABLED", "status": "VALID"}, "the job queue q is DISABLED"),
    ({"jobQueueName": "q", "state": "ENABLED", "status": "INVALID", "statusReason": "CE gone"},
     "the job queue q is INVALID (CE gone)"),
])
def test_a_queue_takes_jobs_only_enabled_and_valid(queue, problem):
    found = be.queue_problem(queue)
    assert (found is None) if problem is None else found.startswith(problem)


def test_bad_settings_are_one_line_each():
    with pytest.raises(TaskError, match="give ec2 .* or fargate"):
        be.parse_compute("lambda")
    with pytest.raises(TaskError, match="--max-vcpus '0'"):
        be.parse_vcpus("0")
    with pytest.raises(TaskError, match="which subnets"):
        be.environment("p", "p", compute="EC2", max_vcpus=1, subnets=[], security_groups=["sg"], queue=None,
                       instance_profile=None)
    assert be.split_list("subnet-1, subnet-2,,") == ("subnet-1", "subnet-2")
    assert be.parse_compute("fargate") == "FARGATE"
