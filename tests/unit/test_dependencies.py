import pytest

from docker_tasks.errors import TaskError
from docker_tasks.tasks.dependencies import Findings, canonical, describe, findings_from, pinned, propose

REPORT = [
    {"error": {"code": "DEP002", "message": "'pandas' defined as a dependency but not used"}, "module": "pandas"},
    {"error": {"code": "DEP001", "message": "'yaml' imported but missing"}, "module": "yaml"},
    {"error": {"code": "DEP003", "message": "'requests' imported but transitive"}, "module": "requests"},
    {"error": {"code": "DEP001", "message": "'yaml' imported but missing"}, "module": "yaml"},
    {"error": {"code": "DEP004", "message": "'dotenv' imported but declared as a dev dependency"}, "module": "dotenv"},
]
REQUIREMENTS = "# what the job needs\nscikit-learn==1.9.1\nPandas==3.1.1  # data frames\n"
DISTRIBUTIONS = {"yaml": ["PyYAML"], "requests": ["requests"], "sklearn": ["scikit-learn"], "dotenv": ["python-dotenv"]}
VERSIONS = {"PyYAML": "6.0.3", "requests": "2.32.0", "python-dotenv": "1.2.2"}


def test_deptrys_report_sorted_into_missing_transitive_and_unused():
    found = findings_from(REPORT)
    assert (found.missing, found.transitive, found.unused) == (["yaml", "dotenv"], ["requests"], ["pandas"])
    assert not found.clean and Findings().clean


def test_the_proposal_keeps_what_is_not_imported_and_pins_what_is_missing():
    proposed = propose(REQUIREMENTS, findings_from(REPORT), DISTRIBUTIONS, VERSIONS.get)
    assert proposed == ("# what the job needs\nscikit-learn==1.9.1\nPandas==3.1.1  # data frames\n"
                        "python-dotenv==1.2.2\nPyYAML==6.0.3\nrequests==2.32.0\n")


def test_only_prune_drops_what_is_not_imported():
    proposed = propose(REQUIREMENTS, findings_from(REPORT), DISTRIBUTIONS, VERSIONS.get, prune=True)
    assert proposed == ("# what the job needs\nscikit-learn==1.9.1\n"
                        "python-dotenv==1.2.2\nPyYAML==6.0.3\nrequests==2.32.0\n")


@pytest.mark.parametrize("line, shown", [
    ("tensorflow", "tensorflow==2.20.0"),
    ("lightgbm>=4  # boosting", "lightgbm==4.6.0  # boosting"),
    ("uvicorn[standard]~=0.30; python_version >= '3.11'", "uvicorn[standard]==0.35.0; python_version >= '3.11'"),
    ("pandas==2.2.3", "pandas==2.2.3"),
    ("notinstalled>=1", "notinstalled>=1"),
    ("pkg @ https://example.com/pkg.whl", "pkg @ https://example.com/pkg.whl"),
    ("-r other.txt", "-r other.txt"),
])
def test_every_requirement_is_pinned_to_the_installed_version(line, shown):
    installed = {"tensorflow": "2.20.0", "lightgbm": "4.6.0", "uvicorn": "0.35.0", "pandas": "3.1.1", "pkg": "1"}
    assert pinned(line, installed.get) == shown


def test_a_missing_package_that_is_not_installed_cannot_be_pinned():
    found = Findings(missing=["nowhere"])
    with pytest.raises(TaskError, match="no installed package provides it"):
        propose(REQUIREMENTS, found, DISTRIBUTIONS, VERSIONS.get)


@pytest.mark.parametrize("name, normal", [("Scikit_Learn", "scikit-learn"), ("python.dotenv", "python-dotenv")])
def test_canonical_names(name, normal):
    assert canonical(name) == normal


def test_describe_says_what_is_wrong():
    assert describe(findings_from(REPORT)) == [
        "imported but not in requirements.txt: yaml, dotenv",
        "imported but only installed as another package's dependency: requests",
        "in requirements.txt but not imported by src/: pandas",
    ]


def test_a_version_comes_from_the_lock_first_then_this_environment_then_the_index():
    from docker_tasks.tasks.dependencies import version_finder

    lock = "psycopg2==2.9.13 \\\n    --hash=sha256:aa\nscikit-learn==1.9.1 \\\n    --hash=sha256:bb\n"
    asked = []
    version_of = version_finder(lock, {"pandas": "3.1.1", "psycopg2": "2.9.9"}.get,
                                lambda name: asked.append(name) or ("1.0" if name == "six" else None))
    assert [version_of(name) for name in ("psycopg2", "Scikit_Learn", "pandas", "six", "nothing")] == \
        ["2.9.13", "1.9.1", "3.1.1", "1.0", None]
    assert asked == ["six", "nothing"]  # the index is asked only for what the lock and this machine lack


def test_a_line_left_unpinned_is_named():
    from docker_tasks.tasks.dependencies import unpinned_name

    lines = ["psycopg2", "pandas>=2", "six==1.17.0", "# psycopg2", "-r other.txt", "torch @ https://x/t.whl", ""]
    assert [unpinned_name(line) for line in lines] == ["psycopg2", "pandas", None, None, None, None, None]
