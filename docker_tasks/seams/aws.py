"""The one module that talks to AWS: boto3 clients, and AWS's failures as one line each.

boto3 finds credentials, the region and AWS_ENDPOINT_URL (which the tests point at moto's
emulator) itself; nothing here overrides them. boto3 and botocore are imported here, in the
functions that need them, and nowhere else; the tasks call the clients' methods themselves.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from functools import cached_property

from docker_tasks.errors import NO_AWS_CREDENTIALS, TaskError


@contextmanager
def aws_errors() -> Iterator[None]:
    """Each way AWS can fail, as one line."""
    import botocore.exceptions

    try:
        yield
    except botocore.exceptions.NoCredentialsError:
        raise TaskError(NO_AWS_CREDENTIALS) from None
    except botocore.exceptions.NoRegionError:
        raise TaskError("no AWS region: set AWS_DEFAULT_REGION (e.g. eu-west-1), or give IMAGE_NAME an ECR "
                        "registry, whose host names its region") from None
    except botocore.exceptions.EndpointConnectionError as exc:
        raise TaskError(f"AWS does not answer at {exc.kwargs.get('endpoint_url', 'its endpoint')}: check the "
                        "network, or AWS_ENDPOINT_URL if you set it") from None
    except botocore.exceptions.ClientError as exc:
        error = exc.response.get("Error", {})
        raise TaskError(f"AWS refused {exc.operation_name}: {error.get('Message') or error.get('Code')}") from None
    except botocore.exceptions.BotoCoreError as exc:
        raise TaskError(f"AWS could not be asked: {exc}") from None


@contextmanager
def refusals(what: str) -> Iterator[None]:
    """AWS's failures as `<what>: <AWS's error>`, and missing credentials as how to give them."""
    import botocore.exceptions

    try:
        yield
    except botocore.exceptions.NoCredentialsError:
        raise TaskError(NO_AWS_CREDENTIALS) from None
    except (botocore.exceptions.BotoCoreError, botocore.exceptions.ClientError) as exc:
        raise TaskError(f"{what}: {exc}") from None


class Clients:
    """boto3 clients, made when first needed, in the region of the image's ECR registry if it has one."""

    def __init__(self, region: str | None = None):
        self.region, self.made = region, {}

    @cached_property
    def account(self) -> str:
        """The AWS account the credentials belong to, asked once."""
        return self.sts.get_caller_identity()["Account"]

    def __getattr__(self, service: str):
        if service not in self.made:
            try:
                import boto3
            except ImportError:
                raise TaskError("AWS Batch needs boto3, an optional extra: pip install boto3") from None
            self.made[service] = boto3.client(service, region_name=self.region)
        return self.made[service]


def every(client, operation: str, key: str, **arguments) -> list:
    """Every item of a listing, from all its pages: AWS answers a page at a time (100 roles, say),
    and a project's own may be on any of them."""
    return [item for page in client.get_paginator(operation).paginate(**arguments) for item in page.get(key, [])]


def bucket_missing(s3, name: str, *, refused_is_missing: bool = False) -> bool:
    """Whether S3 says there is no bucket of that name (404). Any other refusal (403: another
    account's, or no permission) is raised, for aws_errors to say in one line, unless
    `refused_is_missing`."""
    import botocore.exceptions

    try:
        s3.head_bucket(Bucket=name)
    except botocore.exceptions.ClientError as exc:
        if refused_is_missing or exc.response.get("Error", {}).get("Code") in ("404", "NoSuchBucket", "NotFound"):
            return True
        raise
    return False


def bucket_tags(s3, name: str) -> list[dict]:
    """A bucket's tags as Key/Value pairs; none when it has none, is gone, or is another account's."""
    import botocore.exceptions

    try:
        return s3.get_bucket_tagging(Bucket=name).get("TagSet", [])
    except botocore.exceptions.ClientError:  # NoSuchTagSet, NoSuchBucket, or another account's (AccessDenied)
        return []


def ecr_credentials(region: str, ecr_client=None) -> tuple[str, str]:
    """A 12-hour ECR token through boto3, from the AWS credentials boto3 finds: (user name, password)."""
    import base64

    try:
        import boto3
    except ImportError:
        raise TaskError("--ecr needs boto3, an optional extra: pip install boto3") from None
    with refusals("AWS refused an ECR token"):
        answer = (ecr_client or boto3.client("ecr", region_name=region)).get_authorization_token()
    token = base64.b64decode(answer["authorizationData"][0]["authorizationToken"]).decode()
    username, _, password = token.partition(":")
    return username, password


def submit_job(batch_client, definition: dict, job: dict) -> tuple[str, str]:
    """Register a Batch job definition and submit the job against the new revision; return (job
    id, definition ARN)."""
    with refusals("AWS Batch refused the job"):
        arn = batch_client.register_job_definition(**definition)["jobDefinitionArn"]
        job_id = batch_client.submit_job(**{**job, "jobDefinition": arn})["jobId"]
    return job_id, arn
