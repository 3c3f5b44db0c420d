import pytest

from docker_tasks.dependencies import Findings, canonical, describe, findings_from, propose
from docker_tasks.errors import TaskError

REPORT = [
    {"error": {"code": "DEP002", "message": "'pandas' defined as a dependency but not used"}, "module": "pandas"},
    {"error": {"code": "DEP001", "message": "'yaml' imported but missing"}, "module": "yaml"},
    {"error": {"code": "DEP003", "message": "'requests' imported but transitive"}, "module": "requests"},
    {"error": {"code": "DEP001", "message": "'yaml' imported but missing"}, "module": "yaml"},
]
REQUIREMENTS = "# what the job needs\nscikit-learn==1.9.1\nPandas==3.1.1  # data frames\n"
DISTRIBUTIONS = {"yaml": ["PyYAML"], "requests": ["requests"], "sklearn": ["scikit-learn"]}
VERSIONS = {"PyYAML": "6.0.3", "requests": "2.32.0"}


def test_deptrys_report_sorted_into_missing_transitive_and_unused():
    found = findings_from(REPORT)
    assert (found.missing, found.transitive, found.unused) == (["yaml"], ["requests"], ["pandas"])
    assert not found.clean and Findings().clean


def test_the_proposal_drops_unused_and_pins_what_is_missing():
    proposed = propose(REQUIREMENTS, findings_from(REPORT), DISTRIBUTIONS, VERSIONS.get)
    assert proposed == "# what the job needs\nscikit-learn==1.9.1\nPyYAML==6.0.3\nrequests==2.32.0\n"


def test_a_missing_package_that_is_not_installed_cannot_be_pinned():
    found = Findings(missing=["nowhere"])
    with pytest.raises(TaskError, match="no installed package provides it"):
        propose(REQUIREMENTS, found, DISTRIBUTIONS, VERSIONS.get)


@pytest.mark.parametrize("name, normal", [("Scikit_Learn", "scikit-learn"), ("python.dotenv", "python-dotenv")])
def test_canonical_names(name, normal):
    assert canonical(name) == normal


def test_describe_says_what_is_wrong():
    assert describe(findings_from(REPORT)) == [
        "imported but not in requirements.txt: yaml",
        "imported but only installed as another package's dependency: requests",
        "in requirements.txt but not imported by src/: pandas",
    ]
