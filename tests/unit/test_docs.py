"""The README and the manual in docs/: a short README, every page reachable from it, no broken link."""

import importlib.util
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
README = ROOT / "README.md"
PAGES = sorted((ROOT / "docs").glob("*.md"))
MAX_README_LINES = 250
# The README is the fork's (docs/your-project.md, "Your files and the machinery's"): it is held to
# the template's shape only while it is the template's, whose title `inv init` renames. The manual
# is the machinery's, so its pages link to the README itself, never to a section a fork may drop.
TEMPLATE_README = README.is_file() and README.read_text().startswith("# app-name:")
template_readme = pytest.mark.skipif(not TEMPLATE_README, reason="the README is the fork's own")

FENCE = re.compile(r"^(```|~~~).*?^\1[^\n]*$", re.M | re.S)
CODE_SPAN = re.compile(r"(`+).+?\1", re.S)
LINK = re.compile(r"!?\[(?:[^\[\]]|\[[^\]]*\])*\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")
HEADING = re.compile(r"^ {0,3}(#{1,6})[ \t]+(.+?)[ \t#]*$", re.M)


def prose(markdown: str) -> str:
    """The text without fenced code blocks and code spans, where brackets and #s are not markdown."""
    return CODE_SPAN.sub("``", FENCE.sub("", markdown))


def slug(heading: str) -> str:
    """GitHub's anchor for a heading: its text, lowercased, without punctuation but - and _, spaces as -."""
    text = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", heading)  # a link in a heading: its text
    text = re.sub(r"[*`]|(?<!\w)_|_(?!\w)", "", text).strip().lower()
    return re.sub(r"[^\w\- ]", "", text).replace(" ", "-")


def anchors(markdown: str) -> set[str]:
    """Every heading's anchor; a repeated heading gets -1, -2, ... as on GitHub."""
    found, seen = set(), {}
    for _, heading in HEADING.findall(FENCE.sub("", markdown)):
        base = slug(heading)
        count = seen.get(base, 0)
        seen[base] = count + 1
        found.add(base if count == 0 else f"{base}-{count}")
    return found


def relative_links(markdown: str) -> list[str]:
    """The targets of the links that stay in the repository: no scheme, no mailto."""
    return [target for target in LINK.findall(prose(markdown)) if not re.match(r"^[a-z][a-z0-9+.-]*:", target, re.I)]


def broken(page: Path, target: str) -> str | None:
    """Why the link from `page` to `target` leads nowhere, or None when it leads to a file and heading."""
    path, _, anchor = target.partition("#")
    destination = (page.parent / path).resolve() if path else page
    if not destination.exists():
        return f"{path} does not exist"
    if anchor:
        if destination.suffix != ".md" or not destination.is_file():
            return f"#{anchor} points into {path}, which is no markdown file"
        if anchor not in anchors(destination.read_text()):
            return f"{destination.name} has no heading whose anchor is #{anchor}"
    return None


def links_of(pages: list[Path]) -> list[tuple[Path, str]]:
    return [(page, target) for page in pages if page.is_file() for target in relative_links(page.read_text())]


LINKS = links_of([README, *PAGES])


@pytest.mark.parametrize("heading, anchor", [
    ("The tasks", "the-tasks"),
    ("`inv build`", "inv-build"),
    ("Secrets and the container's defences", "secrets-and-the-containers-defences"),
    ("Releases: several platforms, a build cache, secrets, provenance and an SBOM",
     "releases-several-platforms-a-build-cache-secrets-provenance-and-an-sbom"),
    ("Taking a newer machinery: `inv upgrade`", "taking-a-newer-machinery-inv-upgrade"),
    ("Where the shards run (on AWS Batch)", "where-the-shards-run-on-aws-batch"),
    ("snake_case and kebab-case", "snake_case-and-kebab-case"),
    ("**Bold** [linked](x.md) text", "bold-linked-text"),
])
def test_a_heading_s_anchor_is_github_s(heading, anchor):
    assert slug(heading) == anchor


def test_headings_in_code_are_not_headings_and_repeated_ones_are_numbered():
    text = "# Title\n\n```console\n# a comment, not a heading\n```\n\n## Usage\n\n## Usage\n"
    assert anchors(text) == {"title", "usage", "usage-1"}


def test_links_in_code_are_not_links_and_urls_are_not_relative():
    text = ("See [the tasks](docs/tasks.md#inv-run), [a site](https://example.com/x.md),\n"
            "`[not](a-link.md)` and\n\n```\n[nor](this.md)\n```\n")
    assert relative_links(text) == ["docs/tasks.md#inv-run"]


def test_a_broken_link_is_found(tmp_path):
    """The checker itself: a missing file, a missing heading and a good link, in a tree of its own."""
    (tmp_path / "docs").mkdir()
    page = tmp_path / "docs" / "page.md"
    page.write_text("# Page\n\n## A section\n\nBack to the [README](../README.md).\n")
    (tmp_path / "README.md").write_text("# Readme\n")
    assert broken(tmp_path / "README.md", "docs/page.md#a-section") is None
    assert broken(page, "#a-section") is None
    assert broken(page, "../README.md") is None
    assert broken(tmp_path / "README.md", "docs/gone.md") == "docs/gone.md does not exist"
    assert broken(tmp_path / "README.md", "docs/page.md#another-section") == \
        "page.md has no heading whose anchor is #another-section"


@template_readme
def test_the_readme_is_short():
    lines = len(README.read_text().splitlines())
    assert lines <= MAX_README_LINES, f"README.md has {lines} lines; move the detail into docs/"


@pytest.mark.parametrize("page, target", LINKS, ids=[f"{page.relative_to(ROOT)} -> {target}" for page, target in LINKS])
def test_every_relative_link_leads_to_a_file_and_heading(page, target):
    if page == README and not TEMPLATE_README:
        pytest.skip("the README is the fork's own")
    assert broken(page, target) is None, f"{page.relative_to(ROOT)}: [..]({target}): {broken(page, target)}"


@template_readme
def test_the_readme_links_every_page_of_the_manual():
    linked = {(ROOT / target.partition("#")[0]).resolve() for _, target in links_of([README])}
    assert [page.name for page in PAGES if page.resolve() not in linked] == []


@pytest.mark.parametrize("page", PAGES, ids=lambda page: page.name)
def test_every_page_opens_with_its_purpose_and_a_link_back_to_the_readme(page):
    title, blank, purpose, *_ = page.read_text().splitlines() + ["", "", ""]
    assert title.startswith("# ") and blank == "", f"{page.name} opens with its title, then a blank line"
    assert purpose and not purpose.startswith("#"), f"{page.name}: the line under the title says what it is for"
    assert "../README.md" in relative_links(purpose), f"{page.name}: the line under the title links to the README"
    into_readme = [target for target in relative_links(page.read_text()) if target.startswith("../README.md#")]
    assert into_readme == [], f"{page.name} links into README sections, which a fork may rewrite: {into_readme}"


BENCH = ROOT / "bench" / "run.py"


@pytest.mark.skipif(not BENCH.is_file(), reason="bench/ is this repository's own extra, which a fork may delete")
@pytest.mark.parametrize("store", ["containerd", "classic"])
def test_the_bench_puts_each_store_s_table_between_its_markers_in_the_manual(store, monkeypatch):
    monkeypatch.delenv("PYTHONDONTWRITEBYTECODE", raising=False)  # the bench drops it; put it back after
    spec = importlib.util.spec_from_file_location("bench_run", BENCH)
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)  # asks nothing of the engine until a measurement starts
    page = bench.DOCS.read_text()
    updated = bench.with_table(page, store, "| new | table |")
    begin, end = bench.markers(store)
    assert updated.split(begin)[1].split(end)[0] == "\n| new | table |\n"
    assert updated.split(begin)[0] == page.split(begin)[0] and updated.split(end)[1] == page.split(end)[1]
    with pytest.raises(SystemExit, match="needs one"):
        bench.with_table(page.replace(end, ""), store, "| new | table |")
