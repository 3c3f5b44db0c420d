"""`inv upgrade`: take a newer machinery from upstream, leaving the fork's own files as they are."""

from __future__ import annotations

from pathlib import Path

from docker_tasks import machinery
from docker_tasks.errors import TaskError
from docker_tasks.seams.upstream import Repository

# How far back in upstream's history a fork made by copying files (no shared history, no record)
# is looked for: the commit whose machinery matches the fork's best is the one it was copied from.
HISTORY_SEARCHED = 500


def source_given(source: str, root: Path) -> str:
    """A local path as an absolute one, so that the record means the same from anywhere; a URL as it is."""
    if "://" in source or source.startswith("git@"):
        return source
    as_path = Path(source).expanduser()
    found = next((path for path in (as_path, root / as_path) if path.exists()), None)
    return str(found.resolve()) if found else source


def _record(root: Path) -> machinery.Record | None:
    path = root / machinery.RECORD
    return machinery.parse_record(path.read_text()) if path.is_file() else None


def _copied_from(repo: Repository, theirs: str, paths: list[str], ours: machinery.Tree) -> str:
    """The upstream commit whose machinery files the fork's match most, newest first among equals."""
    def matching(commit: str) -> int:
        return sum(ours.get(path) == held for path, held in repo.tree(commit, paths).items())

    return max(repo.history(theirs, HISTORY_SEARCHED), key=matching)


def upgrade(root: Path, *, source: str | None, ref: str | None, check: bool, commit: bool, dry_run: bool) -> None:
    repo = Repository(root)
    if repo.root.resolve() != root.resolve():
        raise TaskError(f"the project is {root}, inside the repository {repo.root}: `inv upgrade` needs the "
                        "project at the repository's top")
    if repo.commit_of("HEAD") is None:
        raise TaskError("this repository has no commit yet: commit your files first, then upgrade")
    record = _record(root)
    if source is None and record is None:
        raise TaskError("where from? `inv upgrade --from URL_OR_PATH` (the template's repository); "
                        f"later upgrades find it in {machinery.RECORD}")
    source = source_given(source, root) if source else record.source
    ref = ref or (record.ref if record and record.source == source else "HEAD")

    theirs = repo.fetch(source, ref)
    manifest = repo.text_at(theirs, machinery.MANIFEST)
    if manifest is None:
        raise TaskError(f"{source} at {ref} has no {machinery.MANIFEST}: is it this template's repository?")
    entries = machinery.parse_manifest(manifest)
    here = machinery.parse_manifest((root / machinery.MANIFEST).read_text()) \
        if (root / machinery.MANIFEST).is_file() else entries
    paths = sorted({entry.path for entry in entries + here})

    ours = repo.tree("HEAD", paths)
    if record and repo.commit_of(record.commit):
        base, how = record.commit, f"as {machinery.RECORD} records"
    elif shared := repo.merge_base("HEAD", theirs):
        base, how = shared, "the history this fork shares with upstream"
    else:
        base, how = _copied_from(repo, theirs, paths, ours), "the upstream commit whose machinery this fork's matches"
    base_tree, theirs_tree = repo.tree(base, paths), repo.tree(theirs, paths)
    steps = machinery.plan(entries, base_tree, theirs_tree, ours)
    new_version = machinery.version(repo.text_at(theirs, machinery.VERSION_FILE) or "")
    old_version = machinery.version((root / machinery.VERSION_FILE).read_text()) \
        if (root / machinery.VERSION_FILE).is_file() else "unknown"
    changing = [step for step in steps if step.action != machinery.SKIPPED]
    upstream = f"{source} at {ref} (commit {theirs[:12]}, machinery {new_version})"

    if check:
        if changing:
            raise TaskError(f"behind {upstream}: {len(changing)} machinery file(s) differ (this fork has machinery "
                            f"{old_version}, from upstream {base[:12]}); `inv upgrade --from {source}` takes them")
        print(f"up to date with {upstream}")
        return
    print(f"this fork's machinery: {old_version}, from upstream {base[:12]} ({how})")
    print(f"upstream: {upstream}")
    if not changing:
        print("nothing to upgrade: the machinery is already upstream's")
        if record and record.commit == theirs:
            return
    if dry_run:
        for line in machinery.summary(steps, {}):
            print(f"  would {line}" if not line.startswith(("keep", "skip")) else f"  {line}")
        return
    uncommitted = repo.uncommitted([step.path for step in changing])
    if uncommitted:
        raise TaskError(f"uncommitted changes in machinery files the upgrade would write: {', '.join(uncommitted)}; "
                        "commit or stash them first, so that nothing of yours is lost")

    conflicts = {}
    for step in changing:
        if step.action == machinery.TAKE:
            repo.write(step.path, repo.blob(theirs_tree[step.path][1]), step.mode)
        elif step.action == machinery.REMOVE:
            repo.remove(step.path)
        elif step.action == machinery.MERGE:
            old = repo.blob(base_tree[step.path][1]) if step.path in base_tree else b""
            merged, conflicts[step.path] = repo.merge(repo.blob(ours[step.path][1]), old,
                                                      repo.blob(theirs_tree[step.path][1]), step.path)
            repo.write(step.path, merged, step.mode)
    for line in machinery.summary(steps, conflicts):
        print(f"  {line}")
    (root / machinery.RECORD).write_text(machinery.Record(source, ref, theirs, new_version).text())

    written = [step.path for step in changing if step.action != machinery.KEPT] + [machinery.RECORD]
    conflicted = sorted(path for path, count in conflicts.items() if count)
    if conflicted:
        raise TaskError(f"{len(conflicted)} file(s) with conflicts ({', '.join(conflicted)}): resolve them, then "
                        f"`git add {' '.join(conflicted)}` and commit the upgrade with {machinery.RECORD}")
    if not commit:
        print(f"not committed (--no-commit): `git commit -- {' '.join(written)}` when you are ready")
        return
    made = repo.commit(written, f"Upgrade the machinery to {new_version} (upstream {theirs[:12]})\n\n"
                                f"Upstream-Commit: {theirs}\nUpstream-Source: {source}\n")
    print(f"committed {made[:12]}: machinery {old_version} -> {new_version}; your own files are as they were. "
          "Next: `make test`, then `inv build`")
