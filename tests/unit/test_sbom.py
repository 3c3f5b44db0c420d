import json
from pathlib import Path

import pytest

from docker_tasks import lockfile, sbom

ROOT = Path(__file__).resolve().parents[2]
LOCK = """# requirements.txt: sha256:ab
six==1.17.0 \\
    --hash=sha256:4721f391ed90541fddacab5acf947aa0d3dc7d27b2e1e8eda2be8970586c3274 \\
    --hash=sha256:ff70335d468e7eb6ec65b95b99d3a2836546063f63acc5171de367e834932a81
    # via python-dateutil
Typing_Extensions==4.15.0 ; python_version < "3.12" \\
    --hash=sha256:0cea48d173cc12fa28ecabc3b837ea3cf6f38c6d1136f85cbaaf598984861466
"""
DIGEST = "sha256:" + "d" * 64


def test_packages_come_from_the_lock_with_their_hashes():
    assert sbom.packages(LOCK) == [
        ("six", "1.17.0", ["4721f391ed90541fddacab5acf947aa0d3dc7d27b2e1e8eda2be8970586c3274",
                           "ff70335d468e7eb6ec65b95b99d3a2836546063f63acc5171de367e834932a81"]),
        ("typing_extensions", "4.15.0", ["0cea48d173cc12fa28ecabc3b837ea3cf6f38c6d1136f85cbaaf598984861466"]),
    ]
    assert sbom.purl("typing_extensions", "4.15.0") == "pkg:pypi/typing-extensions@4.15.0"


def test_the_document_names_the_image_and_every_package_and_is_the_same_each_time():
    document = sbom.cyclonedx(LOCK, repository="registry.example.com/team/app", digest=DIGEST, commit="abc")
    assert document["metadata"]["component"]["name"] == "registry.example.com/team/app"
    assert document["metadata"]["component"]["version"] == DIGEST
    assert [c["purl"] for c in document["components"]] == ["pkg:pypi/six@1.17.0", "pkg:pypi/typing-extensions@4.15.0"]
    assert {"name": "dockertasks:git-sha", "value": "abc"} in document["metadata"]["properties"]
    again = sbom.cyclonedx(LOCK, repository="registry.example.com/team/app", digest=DIGEST, commit="abc")
    assert sbom.rendered(document) == sbom.rendered(again)  # no time of its own
    assert sbom.tag_for(DIGEST) == f"sha256-{'d' * 64}.sbom"


@pytest.mark.parametrize("lock", [LOCK, "", "project-lock"], ids=["two packages", "none", "this project's"])
def test_the_sbom_is_valid_cyclonedx_1_5(lock):
    validation = pytest.importorskip("cyclonedx.validation.json")
    from cyclonedx.schema import SchemaVersion

    if lock == "project-lock":  # whatever this project (or a fork of it) installs
        lock = (ROOT / "requirements.lock").read_text()
    validator = validation.JsonStrictValidator(SchemaVersion.V1_5)
    document = sbom.cyclonedx(lock, repository="r.io/app", digest=DIGEST, commit=None)
    assert len(document["components"]) == len(lockfile.pins(lock))  # as the lock's own reader counts them
    assert validator.validate_str(sbom.rendered(document)) is None
    broken = {**document, "components": [{"type": "not-a-type", "name": "x"}]}
    assert validator.validate_str(json.dumps(broken)) is not None  # the schema check can fail
