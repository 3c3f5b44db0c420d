"""The fork's repository as `inv upgrade` sees it: upstream's commits fetched into it, trees, blobs,
three-way merges and the upgrade's commit (GitPython, which runs git itself)."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from docker_tasks.errors import TaskError

# Where the newest upstream commit that was fetched stays, so that git keeps its objects.
UPSTREAM_REF = "refs/machinery/upstream"


class Repository:
    def __init__(self, root: Path) -> None:
        import git

        try:
            self._repo = git.Repo(root)
        except (git.InvalidGitRepositoryError, git.NoSuchPathError):
            raise TaskError(f"{root} is not a git repository: `inv upgrade` needs the fork's history "
                            "(git init, then commit your files)") from None
        self.root = Path(self._repo.working_tree_dir)
        self._git = self._repo.git

    def _run(self, *args: str, binary: bool = False, ok_codes: tuple[int, ...] = (0,)) -> tuple[int, str | bytes]:
        status, output, errors = self._git.execute(["git", *args], with_extended_output=True,
                                                   with_exceptions=False, stdout_as_string=not binary,
                                                   strip_newline_in_stdout=not binary)  # a file's bytes, exactly
        if status not in ok_codes:
            last = (errors.strip().splitlines() or ["git failed"])[-1]
            raise TaskError(f"git {args[0]} failed: {last}")
        return status, output

    def fetch(self, source: str, ref: str) -> str:
        """Fetch `ref` from `source` (a URL or a path) and return its commit."""
        status, _ = self._run("fetch", "--quiet", "--no-tags", source, ref, ok_codes=(0, 128, 1))
        if status:
            raise TaskError(f"cannot fetch {ref} from {source}: check the URL or path, and --ref "
                            "(a branch, a tag or a commit of that repository)")
        commit = self.commit_of("FETCH_HEAD")
        self._run("update-ref", UPSTREAM_REF, commit)
        return commit

    def commit_of(self, revision: str) -> str | None:
        status, output = self._run("rev-parse", "--verify", "--quiet", f"{revision}^{{commit}}", ok_codes=(0, 1, 128))
        return output.strip() if status == 0 else None

    def tree(self, revision: str, paths: list[str]) -> dict[str, tuple[str, str]]:
        """Each file below `paths` at `revision`: its mode and blob id."""
        _, output = self._run("ls-tree", "-r", "-z", "--full-tree", revision, "--", *paths)
        files = {}
        for line in output.split("\0"):
            if line:
                meta, path = line.split("\t", 1)
                mode, kind, blob = meta.split()
                if kind == "blob":
                    files[path] = (mode, blob)
        return files

    def blob(self, blob: str) -> bytes:
        return self._run("cat-file", "blob", blob, binary=True)[1]

    def text_at(self, revision: str, path: str) -> str | None:
        status, output = self._run("show", f"{revision}:{path}", ok_codes=(0, 128))
        return output if status == 0 else None

    def merge_base(self, one: str, other: str) -> str | None:
        status, output = self._run("merge-base", one, other, ok_codes=(0, 1))
        return output.strip() or None if status == 0 else None

    def history(self, revision: str, limit: int) -> list[str]:
        """`revision` and its first parents, newest first."""
        return self._run("rev-list", "--first-parent", f"--max-count={limit}", revision)[1].split()

    def uncommitted(self, paths: list[str]) -> list[str]:
        """The paths below `paths` that differ from HEAD, untracked ones too."""
        _, output = self._run("status", "--porcelain", "-z", "--untracked-files=all", "--", *paths)
        return sorted(entry[3:] for entry in output.split("\0") if len(entry) > 3)

    def merge(self, ours: bytes, base: bytes, theirs: bytes, name: str) -> tuple[bytes, int]:
        """git merge-file's three-way merge: the merged text and how many conflicts it marked."""
        with tempfile.TemporaryDirectory(prefix="upgrade-") as folder:
            sides = []
            for side, text in (("ours", ours), ("base", base), ("theirs", theirs)):
                (Path(folder) / side).write_bytes(text)
                sides.append(str(Path(folder) / side))
            labels = ("-L", f"{name} (this fork)", "-L", f"{name} (upstream, before)", "-L", f"{name} (upstream, now)")
            # merge-file's exit status is the number of conflicts; a negative one is an error
            status, merged = self._run("merge-file", "-p", *labels, *sides, binary=True, ok_codes=tuple(range(128)))
        return merged, status

    def write(self, path: str, data: bytes, mode: str) -> None:
        target = self.root / path
        target.parent.mkdir(parents=True, exist_ok=True)
        if target.is_symlink() or (mode == "120000" and target.exists()):
            target.unlink()
        if mode == "120000":
            os.symlink(data.decode(), target)
            return
        target.write_bytes(data)
        target.chmod(0o755 if mode == "100755" else 0o644)

    def remove(self, path: str) -> None:
        target = self.root / path
        target.unlink(missing_ok=True)
        for folder in target.parents:
            if folder == self.root or any(folder.iterdir()):
                break
            folder.rmdir()

    def commit(self, paths: list[str], message: str) -> str:
        """Commit `paths` alone, whatever else is staged, and return the new commit."""
        self._run("add", "--all", "--", *paths)
        self._run("commit", "--quiet", "--no-verify", "-m", message, "--", *paths)
        return self.commit_of("HEAD")
