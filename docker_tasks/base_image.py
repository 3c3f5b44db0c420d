"""The base image the Dockerfile pins: `name:tag@sha256:digest` in its `ARG BASE_IMAGE=` line.

A tag says which image was meant (python:3.11-slim), the digest which image exactly: the tag
moves when Python or Debian publish fixes, the digest never does. `inv base` compares the two.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

ARG_LINE = re.compile(r"^(ARG\s+BASE_IMAGE=)(\S+)[ \t]*$", re.M)
DIGEST = re.compile(r"^sha256:[0-9a-f]{64}$")


@dataclass(frozen=True)
class Pin:
    reference: str  # what the tag names: python:3.11-slim
    digest: str | None  # sha256:..., or None when the Dockerfile names a tag alone

    @property
    def repository(self) -> str:
        """The reference without its tag: `registry:5000/python:3.11-slim` -> `registry:5000/python`."""
        name, _, tag = self.reference.rpartition(":")
        return name if name and "/" not in tag else self.reference

    def __str__(self) -> str:
        return f"{self.reference}@{self.digest}" if self.digest else self.reference


def parse(value: str) -> Pin:
    reference, _, digest = value.partition("@")
    return Pin(reference, digest or None)


def dockerfile_pin(dockerfile: str) -> Pin | None:
    """The default of the Dockerfile's BASE_IMAGE argument; None if it has no such line."""
    match = ARG_LINE.search(dockerfile)
    return parse(match.group(2)) if match else None


def with_pin(dockerfile: str, pin: Pin) -> str:
    """The Dockerfile with its BASE_IMAGE default replaced, and nothing else changed."""
    if not DIGEST.match(pin.digest or ""):
        raise ValueError(f"not a sha256 digest: {pin.digest!r}")
    return ARG_LINE.sub(lambda match: f"{match.group(1)}{pin}", dockerfile, count=1)


def short(digest: str | None) -> str:
    return f"{digest[:19]}…" if digest else "no digest"
