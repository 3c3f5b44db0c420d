"""AWS Batch's environment made and unmade against moto's emulator (the `aws` fixture)."""

import boto3
import pytest

from tests.integration.support import free_port


def ok(result):
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return result


def one_line_error(result) -> str:
    assert result.returncode == 1, result.stdout[-3000:] + result.stderr[-3000:]
    assert len(result.stderr.strip().splitlines()) == 1 and "Traceback" not in result.stderr
    return result.stderr.strip()


def client(aws: dict, service: str):
    return boto3.client(service, endpoint_url=aws["AWS_ENDPOINT_URL"], region_name=aws["AWS_DEFAULT_REGION"],
                        aws_access_key_id="testing", aws_secret_access_key="testing")


@pytest.fixture
def project(make_project, aws):
    made = make_project()
    yield made
    made.inv("batch-teardown", "--yes", env=aws)


def test_setup_makes_what_is_missing_once_and_teardown_removes_only_that(project, aws):
    name = project.image_name
    batch, iam, ec2 = client(aws, "batch"), client(aws, "iam"), client(aws, "ec2")
    theirs_role = iam.create_role(RoleName=f"{name}-theirs", AssumeRolePolicyDocument="{}")["Role"]["Arn"]
    subnets = [subnet["SubnetId"] for subnet in ec2.describe_subnets()["Subnets"]]
    groups = [group["GroupId"] for group in ec2.describe_security_groups()["SecurityGroups"]][:1]
    batch.create_compute_environment(  # someone else's, in the same account, untagged
        computeEnvironmentName=f"{name}-theirs", type="MANAGED", serviceRole=theirs_role,
        computeResources={"type": "FARGATE", "maxvCpus": 2, "subnets": subnets, "securityGroupIds": groups})
    batch.create_job_queue(jobQueueName=f"{name}-theirs", state="ENABLED", priority=1,
                           computeEnvironmentOrder=[{"order": 1, "computeEnvironment": f"{name}-theirs"}])

    planned = ok(project.inv("batch-setup", "--dry-run", env=aws)).stdout
    assert f"would create the compute environment {name}-compute: EC2, 0 to 16 vCPUs" in planned
    assert batch.describe_compute_environments(computeEnvironments=[f"{name}-compute"])["computeEnvironments"] == []

    made = ok(project.inv("batch-setup", "--max-vcpus", "4", env=aws)).stdout
    for line in (f"created the ECR repository {name}", f"created the IAM role {name}-batch-service",
                 f"created the instance profile {name}-batch-instance", f"created the job queue {name}-queue"):
        assert line in made
    compute = batch.describe_compute_environments(computeEnvironments=[f"{name}-compute"])["computeEnvironments"][0]
    assert (compute["status"], compute["computeResources"]["maxvCpus"]) == ("VALID", 4)
    assert compute["serviceRole"].endswith(f":role/{name}-batch-service")
    queue = batch.describe_job_queues(jobQueues=[f"{name}-queue"])["jobQueues"][0]
    assert (queue["state"], queue["status"]) == ("ENABLED", "VALID")

    again = ok(project.inv("batch-setup", "--compute", "fargate", env=aws)).stdout
    assert not [line for line in again.splitlines() if line.startswith("created")]
    assert f"found the job queue {name}-queue (ENABLED, VALID)" in again
    assert "it is EC2, not the FARGATE asked for" in again

    theirs = ok(project.inv("batch-setup", "--queue", f"{name}-theirs", env=aws)).stdout
    assert f"found the job queue {name}-theirs" in theirs and "not made by batch-setup: kept as it is" in theirs

    refused = one_line_error(project.inv("batch-teardown", env=aws))
    assert f"the job queue {name}-queue" in refused and refused.endswith("add --yes to remove them")
    assert f"{name}-theirs" not in refused

    removed = ok(project.inv("batch-teardown", "--yes", env=aws)).stdout
    assert f"removed the compute environment {name}-compute" in removed
    assert batch.describe_job_queues(jobQueues=[f"{name}-queue"])["jobQueues"] == []
    assert [q["jobQueueName"] for q in batch.describe_job_queues(jobQueues=[f"{name}-theirs"])["jobQueues"]] \
        == [f"{name}-theirs"]
    assert not [r for r in iam.list_roles()["Roles"] if r["RoleName"].startswith(f"{name}-batch-")]
    assert "nothing to remove" in ok(project.inv("batch-teardown", "--yes", env=aws)).stdout


def test_without_credentials_or_endpoint_the_setup_is_one_line(project, aws):
    anonymous = {**aws, "AWS_ACCESS_KEY_ID": "", "AWS_SECRET_ACCESS_KEY": "", "AWS_EC2_METADATA_DISABLED": "true"}
    assert "no AWS credentials" in one_line_error(project.inv("batch-setup", env=anonymous))
    nowhere = f"http://127.0.0.1:{free_port()}"
    unreachable = one_line_error(project.inv("batch-setup", env={**aws, "AWS_ENDPOINT_URL": nowhere,
                                                                   "AWS_MAX_ATTEMPTS": "1"}))
    assert f"AWS does not answer at {nowhere}" in unreachable
