"""A software bill of materials of the image's Python packages, from requirements.lock (pure functions).

The lock is what the image installs, each file checked against its hash, so it is the truth of
what is in the virtualenv; no scanner needs to read the image (and none can be pulled here). The
document is CycloneDX 1.5 JSON, which scanners (Grype, Trivy, Dependency-Track) read. It names no
time of its own: the same lock and image give the same document.
"""

from __future__ import annotations

import hashlib
import json
import re

SUFFIX = ".sbom"  # the tag beside a digest: sha256-<hex>.sbom, as cosign names the SBOM it attaches
# The SBOM travels as an image of one file, which any registry takes and any client reads
# (`docker create` and `docker cp`, or `crane export`); its label names the digest it describes.
FILE_NAME = "sbom.cdx.json"
DOCKERFILE = f"FROM scratch\nCOPY {FILE_NAME} /{FILE_NAME}\n"
SUBJECT = "dockertasks.sbom-of"
_ENTRY = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)(?:\[[^\]]*\])?==([^\s;\\]+)((?:[^\n]*\\\n)*[^\n]*)", re.M)
_HASH = re.compile(r"--hash=sha256:([0-9a-f]{64})")


def packages(lock: str) -> list[tuple[str, str, list[str]]]:
    """(name, version, sha256 hashes) of each package the lock pins, sorted by name."""
    found = [(m[1].lower(), m[2], _HASH.findall(m[3])) for m in _ENTRY.finditer(lock)]
    return sorted(found)


def lock_digest(lock: str) -> str:
    """What an image's label records of the lock it was built from (labels.LOCK)."""
    return "sha256:" + hashlib.sha256(lock.encode()).hexdigest()


def purl(name: str, version: str) -> str:
    """The package URL: PyPI names are lower case with `-` for runs of `-`, `_` and `.`."""
    return f"pkg:pypi/{re.sub(r'[-_.]+', '-', name)}@{version}"


def cyclonedx(lock: str, *, repository: str, digest: str, commit: str | None) -> dict:
    """The SBOM of the image `repository@digest`, built from `lock` at `commit`."""
    import uuid  # here, not at the top: every build imports this module for lock_digest

    components = [
        {"type": "library", "bom-ref": purl(name, version), "name": name, "version": version,
         "purl": purl(name, version), "hashes": [{"alg": "SHA-256", "content": h} for h in hashes]}
        for name, version, hashes in packages(lock)
    ]
    subject = f"pkg:oci/{repository.rsplit('/', 1)[-1]}@{digest.replace(':', '%3A')}?repository_url={repository}"
    properties = [{"name": "dockertasks:source", "value": "requirements.lock"},
                  {"name": "dockertasks:lock", "value": lock_digest(lock)}]
    if commit:
        properties.append({"name": "dockertasks:git-sha", "value": commit})
    return {
        "bomFormat": "CycloneDX",
        "specVersion": "1.5",
        "serialNumber": f"urn:uuid:{uuid.uuid5(uuid.NAMESPACE_URL, subject + lock_digest(lock))}",
        "version": 1,
        "metadata": {
            "component": {"type": "container", "bom-ref": subject, "name": repository, "version": digest,
                          "purl": subject},
            "properties": properties,
        },
        "components": components,
        "dependencies": [{"ref": subject, "dependsOn": [c["bom-ref"] for c in components]}],
    }


def rendered(document: dict) -> str:
    return json.dumps(document, indent=2, sort_keys=True) + "\n"


def tag_for(digest: str) -> str:
    """`sha256-<hex>.sbom`: the tag beside the pushed digest that holds its SBOM."""
    return digest.replace(":", "-") + SUFFIX
