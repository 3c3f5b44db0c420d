import json

from docker_tasks import smoke

SOURCES = {
    "src/main.py": "import os\nimport numpy as np\nfrom sklearn.ensemble import RandomForestClassifier\n"
                   "import helpers\nfrom pipeline import fit\nfrom . import nothing\nimport yaml.loader\n",
    "src/helpers/__init__.py": "from __future__ import annotations\nimport lightgbm\n",
    "src/pipeline.py": "import pandas as pd\n",
    "src/broken.py": "def (:\n",
}


def test_the_check_imports_what_src_imports_but_not_its_own_modules_or_the_standard_library():
    assert smoke.imported_modules(SOURCES) == ["lightgbm", "numpy", "pandas", "sklearn", "yaml"]


def report(imports=None, syntax=None) -> str:
    return "some output of the imports\n" + smoke.MARK + json.dumps({"imports": imports or {}, "syntax": syntax or {}})


def test_a_missing_system_library_is_named_with_its_package():
    error = "OSError: libgomp.so.1: cannot open shared object file: No such file or directory"
    assert smoke.problems(report({"lightgbm": error})) == [
        "importing lightgbm needs the system library libgomp.so.1, which the image lacks: add libgomp1 to "
        "system-packages.txt"]
    unknown = "ImportError: libfoo.so.3: cannot open shared object file: No such file or directory"
    assert "add the Debian package that provides it" in smoke.problems(report({"foo": unknown}))[0]


def test_a_missing_package_and_a_syntax_error():
    found = smoke.problems(report({"yaml": "ModuleNotFoundError: No module named 'yaml'"},
                                  {"src/broken.py": "line 1: invalid syntax"}))
    assert found == ["importing yaml fails: the image has no module yaml; add its package to requirements.txt "
                     "(`inv reqs --write`), then build again", "src/broken.py does not compile: line 1: invalid syntax"]


def test_a_clean_image_and_a_check_that_did_not_run():
    assert smoke.problems(report()) == []
    assert smoke.problems("exec: python: not found") is None
