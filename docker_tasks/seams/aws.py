"""The one module that talks to AWS: boto3 clients, and AWS's failures as one line each.

boto3 finds credentials, the region and AWS_ENDPOINT_URL (which the tests point at moto's
emulator) itself; nothing here overrides them.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from functools import cached_property

from docker_tasks import registry
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


def region_of(image_name: str) -> str | None:
    found = registry.ECR_HOST.match(image_name.split("/")[0])
    return found["region"] if found else None
