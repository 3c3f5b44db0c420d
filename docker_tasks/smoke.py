"""The smoke check: does the image hold what the job needs? (pure functions; the engine runs it)

After a build, one short container imports every top-level module that src/ imports and compiles
every file of src/, and reports what failed. That catches a package missing from
requirements.txt, a system library missing from system-packages.txt (named), and a syntax error,
before the job runs for real; `inv build --check` and `inv doctor` run it.
"""

from __future__ import annotations

import ast
import json
import re
import sys
from collections.abc import Mapping

# Runs in the image with its Python, from the image's working directory, where src/ is.
SCRIPT = """
import importlib, json, pathlib, sys, traceback
results = {"imports": {}, "syntax": {}}
for name in sys.argv[1:]:
    try:
        importlib.import_module(name)
    except BaseException as exc:
        results["imports"][name] = f"{type(exc).__name__}: {exc}"
for path in sorted(pathlib.Path("src").rglob("*.py")):
    try:
        compile(path.read_bytes(), str(path), "exec")
    except SyntaxError as exc:
        results["syntax"][str(path)] = f"line {exc.lineno}: {exc.msg}"
print("SMOKE " + json.dumps(results))
"""
MARK = "SMOKE "

# The Debian package that holds a shared library the usual ML packages load (bookworm's names).
LIBRARY_PACKAGES = {
    "libgomp.so.1": "libgomp1", "libGL.so.1": "libgl1", "libgthread-2.0.so.0": "libglib2.0-0",
    "libglib-2.0.so.0": "libglib2.0-0", "libpq.so.5": "libpq5", "libsndfile.so.1": "libsndfile1",
    "libgfortran.so.5": "libgfortran5", "libxml2.so.2": "libxml2", "libsm.so.6": "libsm6",
    "libxext.so.6": "libxext6", "libxrender.so.1": "libxrender1",
}
SHARED_LIBRARY = re.compile(r"(lib[\w.+-]+\.so(?:\.\d+)*): cannot open shared object file")


def local_modules(sources: Mapping[str, str]) -> set[str]:
    """The job's own top-level modules and packages: the files and folders right under src/."""
    names = set()
    for path in sources:
        parts = path.split("/")[1:]  # below src/
        names.add(parts[0].removesuffix(".py"))
    return names


def imported_modules(sources: Mapping[str, str]) -> list[str]:
    """The top-level modules src/ imports, other than its own and the standard library's; a file
    that does not parse is skipped here (the check reports it)."""
    found = set()
    for text in sources.values():
        try:
            tree = ast.parse(text)
        except SyntaxError:
            continue
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                found |= {alias.name.split(".")[0] for alias in node.names}
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                found.add(node.module.split(".")[0])
    return sorted(found - local_modules(sources) - set(sys.stdlib_module_names) - {"__future__"})


def problems(output: str) -> list[str] | None:
    """What the check found, a line each; None when its output holds no report (it did not run)."""
    line = next((ln for ln in reversed(output.splitlines()) if ln.startswith(MARK)), None)
    if line is None:
        return None
    report = json.loads(line[len(MARK):])
    found = []
    for module, error in report["imports"].items():
        library = SHARED_LIBRARY.search(error)
        if library:
            package = LIBRARY_PACKAGES.get(library[1])
            add = f"add {package} to system-packages.txt" if package else \
                "add the Debian package that provides it to system-packages.txt"
            found.append(f"importing {module} needs the system library {library[1]}, which the image lacks: {add}")
        elif error.startswith("ModuleNotFoundError"):
            missing = re.search(r"No module named '([^']+)'", error)
            name = missing[1] if missing else module
            found.append(f"importing {module} fails: the image has no module {name}; add its package to "
                         "requirements.txt (`inv reqs --write`), then build again")
        else:
            found.append(f"importing {module} fails in the image: {' '.join(error.split())[:300]}")
    for path, error in report["syntax"].items():
        found.append(f"{path} does not compile: {error}")
    return found
