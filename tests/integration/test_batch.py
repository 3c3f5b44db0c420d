"""AWS Batch against moto's emulator (the `aws` fixture): its environment made and unmade, and jobs
whose shards moto runs as containers on the local engine."""

import json
import re

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


def test_teardown_finds_the_projects_own_on_any_page_of_a_listing(project, aws):
    name = project.image_name
    iam = client(aws, "iam")
    decoys = [f"{name}-decoy-{number:03}" for number in range(101)]  # more than AWS's first page of 100
    for decoy in decoys:
        iam.create_role(RoleName=decoy, AssumeRolePolicyDocument="{}")
    ok(project.inv("batch-setup", env=aws))
    removed = ok(project.inv("batch-teardown", "--yes", env=aws)).stdout
    assert f"removed the IAM role {name}-batch-service" in removed
    left = [role["RoleName"] for page in iam.get_paginator("list_roles").paginate() for role in page["Roles"]
            if role["RoleName"].startswith(f"{name}-")]
    assert sorted(left) == decoys
    for decoy in decoys:
        iam.delete_role(RoleName=decoy)


def test_without_credentials_or_endpoint_the_setup_is_one_line(project, aws):
    anonymous = {**aws, "AWS_ACCESS_KEY_ID": "", "AWS_SECRET_ACCESS_KEY": "", "AWS_EC2_METADATA_DISABLED": "true"}
    assert "no AWS credentials" in one_line_error(project.inv("batch-setup", env=anonymous))
    nowhere = f"http://127.0.0.1:{free_port()}"
    unreachable = one_line_error(project.inv("batch-setup", env={**aws, "AWS_ENDPOINT_URL": nowhere,
                                                                   "AWS_MAX_ATTEMPTS": "1"}))
    assert f"AWS does not answer at {nowhere}" in unreachable


ACCOUNT = "123456789012"  # moto's


def ecr_image(project, aws, engine) -> str:
    """The project's build under its ECR name, here on the engine, where moto's Batch runs it from,
    and recorded in moto's ECR (which takes manifests, not layers) as `inv push` would leave it."""
    tag = project.head(True)
    image = f"{ACCOUNT}.dkr.ecr.{aws['AWS_DEFAULT_REGION']}.amazonaws.com/{project.image_name}"
    engine.images.get(f"{project.image_name}:{tag}").tag(image, tag)
    manifest = {"schemaVersion": 2, "mediaType": "application/vnd.docker.distribution.manifest.v2+json",
                "config": {"mediaType": "application/vnd.docker.container.image.v1+json", "size": 1,
                           "digest": "sha256:" + "0" * 64}, "layers": []}
    client(aws, "ecr").put_image(repositoryName=project.image_name, imageManifest=json.dumps(manifest), imageTag=tag)
    return f"{image}:{tag}"


def leftovers(engine, job_name: str) -> list[str]:
    """Containers moto's Batch started for a job (`<job name>-<job id>-...`) that are still here."""
    return [c.name for c in engine.containers.list(all=True) if c.name.startswith(f"{job_name}-")]


def test_an_array_job_runs_each_shard_in_a_container_and_is_followed_to_the_end(project, aws, engine):
    ok(project.inv("build"))
    ok(project.inv("batch-setup", "--compute", "fargate", env=aws))
    image = ecr_image(project, aws, engine)
    queue = f"{project.image_name}-queue"

    done = ok(project.inv("batch-submit", "--shards", "3", "--queue", queue, "--image", image, "--wait",
                          env=aws, timeout=300)).stdout
    job_id = re.search(r" as job (\S+),", done).group(1)
    for index in range(3):
        assert f"shard {index}/3: SUCCEEDED" in done
    assert "3 shard(s): 3 SUCCEEDED" in done and "all 3 shard(s) succeeded" in done
    assert re.search(r"collected 3 file\(s\) from s3://\S+/runs/\S+ into ", done)
    merged = (project.root / "output" / "predictions-merged.csv").read_text().splitlines()
    assert merged[0] == "row,score" and [int(line.split(",")[0]) for line in merged[1:]] == list(range(569))
    status = ok(project.inv("batch-status", env=aws)).stdout
    assert f"job {job_id}" in status and "3 shard(s): 3 SUCCEEDED" in status
    logs = ok(project.inv("batch-logs", "--job", job_id, "--index", "2", env=aws)).stdout
    assert "wrote part-00002-of-00003.csv" in logs  # from the `:2` that ends the child's AWS_BATCH_JOB_ID

    ok(project.inv("run", "--", "train", "--n-estimators", "7"))  # output/model.json, here
    # The test job has no transport code: the image's launcher fetches what --file sends and uploads the parts.
    sent = ok(project.inv("batch-submit", "--shards", "3", "--queue", queue, "--image", image, "--wait",
                          "--file", "output/model.json", env=aws, timeout=300)).stdout
    assert "sent 1 file(s) along: model.json" in sent and "collected 3 file(s)" in sent  # the parts, not the model
    weights = json.loads((project.root / "output" / "model.json").read_text())["weights"]
    merged = (project.root / "output" / "predictions-merged.csv").read_text().splitlines()
    assert [int(line.split(",")[0]) for line in merged[1:]] == list(range(569))
    assert float(merged[2].split(",")[1]) == pytest.approx(sum(weights), abs=1e-5)  # scored with the model sent
    sent_id = re.search(r" as job (\S+),", sent).group(1)
    shard = ok(project.inv("batch-logs", "--job", sent_id, "--index", "1", env=aws)).stdout
    assert "run-job: received model.json into /app/output" in shard and "shipped one" not in shard
    assert "run-job: uploaded 1 file(s) from /app/output" in shard
    missing = one_line_error(project.inv("batch-submit", "--queue", queue, "--image", image, "--file", "nope.bin",
                                         env=aws))
    assert missing.startswith("error: --file nope.bin: no such file here")

    failed = project.inv("batch-submit", "--shards", "2", "--queue", queue, "--image", image, "--wait",
                         "--", "predict", "--input", "/app/nowhere.csv", env=aws, timeout=300)
    assert failed.returncode == 1, failed.stdout[-3000:] + failed.stderr[-3000:]
    assert "2 shard(s): 2 FAILED" in failed.stdout
    assert "input file not found: /app/nowhere.csv" in failed.stdout  # the failed shards' own output
    assert failed.stderr.startswith("error: shard(s) 0, 1 of 2 failed: FAILED")
    assert len(failed.stderr.strip().splitlines()) == 1
    job_name = re.search(r"submitted (\S+) ", done).group(1)
    assert leftovers(engine, job_name) == []


def test_a_job_not_waited_for_is_collected_and_merged_later(project, aws, engine):
    """Submit and go: the shards upload their parts all the same, and `batch-collect` fetches and
    merges them once the job has ended (with --wait, after following it there)."""
    ok(project.inv("build"))
    ok(project.inv("batch-setup", "--compute", "fargate", env=aws))
    image = ecr_image(project, aws, engine)
    submitted = ok(project.inv("batch-submit", "--shards", "2", "--queue", f"{project.image_name}-queue",
                               "--image", image, env=aws)).stdout
    job_id = re.search(r" as job (\S+),", submitted).group(1)
    assert f"once it has ended, its outputs: inv batch-collect --job {job_id}" in submitted
    collected = ok(project.inv("batch-collect", "--wait", env=aws, timeout=300)).stdout
    assert "all 2 shard(s) succeeded" in collected and re.search(r"collected 2 file\(s\) from s3://", collected)
    merged = (project.root / "output" / "predictions-merged.csv").read_text().splitlines()
    assert [int(line.split(",")[0]) for line in merged[1:]] == list(range(569))
    (project.root / "output" / "predictions-merged.csv").unlink()
    again = ok(project.inv("batch-collect", "--job", job_id, env=aws)).stdout  # it has ended: no --wait needed
    assert "collected 2 file(s)" in again and (project.root / "output" / "predictions-merged.csv").exists()


def test_a_queue_that_is_not_there_and_an_image_not_in_ecr_are_refused(project, aws, engine):
    ok(project.inv("build"))
    ok(project.inv("batch-setup", "--compute", "fargate", env=aws))
    tag = project.head(True)
    image = f"{ACCOUNT}.dkr.ecr.{aws['AWS_DEFAULT_REGION']}.amazonaws.com/{project.image_name}:{tag}"
    missing_queue = one_line_error(project.inv("batch-submit", "--queue", "nope", "--image", image, "--", "train",
                                               env=aws))
    assert "there is no job queue nope" in missing_queue
    not_pushed = one_line_error(project.inv("batch-submit", "--queue", f"{project.image_name}-queue", "--image",
                                            image, "--", "train", env=aws))
    assert f"{image} is not in ECR" in not_pushed


def test_ctrl_c_stops_following_and_leaves_the_job_running(project, aws, engine):
    import signal
    import time

    ok(project.inv("build"))
    ok(project.inv("batch-setup", "--compute", "fargate", env=aws))
    image = ecr_image(project, aws, engine)
    following = project.start("batch-submit", "--queue", f"{project.image_name}-queue", "--image", image, "--wait",
                              "--", "train", "--n-estimators", "1500", env=aws)
    shown = ""
    deadline = time.monotonic() + 120
    while "RUNNING" not in shown and time.monotonic() < deadline:
        shown += following.stdout.readline()
    following.send_signal(signal.SIGINT)
    out, err = following.communicate(timeout=60)
    job_id = re.search(r" as job (\S+),", shown).group(1)
    assert following.returncode == 1 and len(err.strip().splitlines()) == 1, out + err
    assert err.startswith(f"error: stopped following; job {job_id} goes on in AWS Batch")
    assert f"inv batch-status --job {job_id}" in err and f"aws batch terminate-job --job-id {job_id}" in err
    (job,) = client(aws, "batch").describe_jobs(jobs=[job_id])["jobs"]
    assert job["status"] in ("RUNNING", "SUCCEEDED")  # it went on
    while job["status"] != "SUCCEEDED" and time.monotonic() < deadline + 60:  # and ends, its container removed
        time.sleep(1)
        (job,) = client(aws, "batch").describe_jobs(jobs=[job_id])["jobs"]
    time.sleep(2)  # moto removes the container just after it marks the job done
    assert job["status"] == "SUCCEEDED" and leftovers(engine, job["jobName"]) == []
