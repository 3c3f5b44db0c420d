"""The sample job in its image, for real: it trains, then scores in shards that the tasks merge.

The tasks' own tests run a job of their own (tests/integration/fixture_job/); this one is the
sample's, like the rest of tests/job/: replace it with a test of your job in its image.
"""

import os

import pytest

from tests.integration.conftest import aws, engine, make_project  # noqa: F401 (fixtures)

pytestmark = pytest.mark.docker


def ok(result):
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return result


def test_the_sample_trains_and_scores_in_shards_in_its_image(make_project):  # noqa: F811
    import pandas as pd

    project = make_project(sample=True)
    ok(project.inv("build", "--check"))
    assert "train finished" in ok(project.inv("run", "--", "train", "--n-estimators", "10")).stdout
    ok(project.inv("run", "--shards", "2"))
    merged = pd.read_csv(project.root / "output" / "predictions-merged.csv")
    assert len(merged) == 569  # scikit-learn's breast-cancer data set, every row scored once


def test_the_sample_scores_in_shards_on_aws_batch_with_the_model_trained_here(make_project, aws, engine):  # noqa: F811
    """On moto's emulator, whose Batch runs each shard as a container of the sample's image."""
    import json

    import boto3
    import pandas as pd

    project = make_project(sample=True)
    ok(project.inv("build"))
    ok(project.inv("run", "--", "train", "--n-estimators", "10"))
    ok(project.inv("batch-setup", "--compute", "fargate", env=aws))
    tag = project.head(True)
    repository = f"123456789012.dkr.ecr.{aws['AWS_DEFAULT_REGION']}.amazonaws.com/{project.image_name}"
    engine.images.get(f"{project.image_name}:{tag}").tag(repository, tag)
    ecr = boto3.client("ecr", endpoint_url=aws["AWS_ENDPOINT_URL"], region_name=aws["AWS_DEFAULT_REGION"],
                       aws_access_key_id="testing", aws_secret_access_key="testing")
    ecr.put_image(repositoryName=project.image_name, imageTag=tag, imageManifest=json.dumps({  # as a push leaves it
        "schemaVersion": 2, "mediaType": "application/vnd.docker.distribution.manifest.v2+json", "layers": [],
        "config": {"mediaType": "application/vnd.docker.container.image.v1+json", "size": 1,
                   "digest": "sha256:" + "0" * 64}}))
    (project.root / "output" / "predictions-merged.csv").unlink(missing_ok=True)
    try:
        done = ok(project.inv("batch-submit", "--shards", "3", "--queue", f"{project.image_name}-queue", "--image",
                              f"{repository}:{tag}", "--file", "output/model.joblib", "--wait", env=aws,
                              timeout=600)).stdout
    finally:
        project.inv("batch-teardown", "--yes", env=aws)
    assert "all 3 shard(s) succeeded" in done and "collected 3 file(s)" in done
    merged = pd.read_csv(project.root / "output" / "predictions-merged.csv")
    assert len(merged) == 569  # every row scored once, by three containers on the local engine


def test_the_sample_trains_in_its_arm64_image_under_emulation(make_project):  # noqa: F811
    """One build for amd64 and arm64 (Apple silicon, Graviton), and the arm64 one trains, under QEMU."""
    import json

    from tests.integration.test_platforms import BOTH, base_holds_arm64, store

    if store() == "classic" or not base_holds_arm64():
        reason = "a multi-platform image needs the containerd store and a base image that holds linux/arm64"
        if os.environ.get("CI") and store() != "classic":
            pytest.fail(reason)
        pytest.skip(reason)
    project = make_project(sample=True)
    ok(project.inv("build", "--platform", BOTH))
    machine = ok(project.inv("run", "--platform", "linux/arm64", "--entrypoint", "uname", "--", "-m")).stdout
    assert machine.split()[-1] == "aarch64"
    ok(project.inv("run", "--platform", "linux/arm64", "--", "train", "--n-estimators", "10"))
    metrics = json.loads((project.root / "output" / "metrics.json").read_text())
    assert metrics["accuracy"] > 0.9
