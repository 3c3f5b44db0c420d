import base64
import sys

import boto3
import pytest
from botocore.stub import Stubber

from docker_tasks.errors import TaskError
from docker_tasks.seams import aws


def test_ecr_token_through_boto3():
    client = boto3.client("ecr", region_name="eu-west-3", aws_access_key_id="x", aws_secret_access_key="y")
    token = base64.b64encode(b"AWS:ecr-password").decode()
    with Stubber(client) as stub:
        stub.add_response("get_authorization_token", {"authorizationData": [
            {"authorizationToken": token, "proxyEndpoint": "https://123456789012.dkr.ecr.eu-west-3.amazonaws.com"}]})
        assert aws.ecr_credentials("eu-west-3", client) == ("AWS", "ecr-password")


def test_ecr_refusal_is_one_line():
    client = boto3.client("ecr", region_name="eu-west-3", aws_access_key_id="x", aws_secret_access_key="y")
    with Stubber(client) as stub:
        stub.add_client_error("get_authorization_token", "AccessDeniedException", "not allowed")
        with pytest.raises(TaskError, match="AWS refused an ECR token"):
            aws.ecr_credentials("eu-west-3", client)


def test_without_boto3_the_error_says_how_to_install_it(monkeypatch):
    monkeypatch.setitem(sys.modules, "boto3", None)
    with pytest.raises(TaskError, match="pip install boto3"):
        aws.ecr_credentials("eu-west-3")
