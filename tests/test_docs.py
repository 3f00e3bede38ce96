"""Executable documentation: every ```python block of docs/tutorial.md and README.md runs."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def python_blocks(path: Path) -> list[str]:
    return re.findall(r"```python\n(.*?)```", path.read_text(), flags=re.S)


@pytest.mark.parametrize("doc", ["docs/tutorial.md", "README.md"])
def test_code_blocks_run(doc, data_dir, monkeypatch, tmp_path):
    path = ROOT / doc
    blocks = python_blocks(path)
    assert blocks, f"{doc} has no python blocks"
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("EIGENNAS_DATA", str(data_dir))
    namespace: dict[str, object] = {"__name__": "__doc_test__"}
    for i, code in enumerate(blocks):
        try:
            exec(compile(code, f"{doc}[block {i + 1}]", "exec"), namespace)
        except Exception as exc:  # pragma: no cover - the message names the block
            raise AssertionError(f"{doc}: python block {i + 1} failed: {exc!r}\n{code}") from exc


def _text_files() -> list[Path]:
    skip = {".git", ".venv", ".venv-ci", "build", "results", ".eigennas_cache"}
    files = []
    for p in ROOT.rglob("*"):
        rel = p.relative_to(ROOT)
        if p.suffix in (".py", ".md", ".toml") and not (set(rel.parts) & skip) and "results" not in rel.parts[:2]:
            files.append(p)
    return files


def test_no_references_to_files_outside_the_repository_or_to_issue_numbers():
    """Readers cannot follow a pointer to notes outside the repository or to an issue tracker."""
    notes = re.compile("NOTES" + r"(\.md| §)")
    issue = re.compile(r"\b[Ii]ssue[- ]?#?\d")
    bad = []
    for p in _text_files():
        for n, line in enumerate(p.read_text(encoding="utf-8").splitlines(), 1):
            if notes.search(line) or issue.search(line):
                bad.append(f"{p.relative_to(ROOT)}:{n}: {line.strip()[:80]}")
    assert len(_text_files()) > 50
    assert not bad, "\n".join(bad)


def test_readme_is_a_front_door_and_the_doc_links_resolve():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert len(readme.splitlines()) <= 160
    assert "docs/tutorial.md" in readme and "docs/results.md" in readme
    broken = []
    # the front door and the pages it sends readers to first
    front = ("README.md", "docs/results.md", "docs/tutorial.md", "experiments/results/README.md")
    for doc in [ROOT / p for p in front]:
        for target in re.findall(r"\]\(([^)#\s]+)(?:#[^)]*)?\)", doc.read_text(encoding="utf-8")):
            if "://" in target:
                continue
            if not (doc.parent / target).exists():
                broken.append(f"{doc.relative_to(ROOT)} -> {target}")
    assert not broken, "broken links:\n" + "\n".join(broken)
