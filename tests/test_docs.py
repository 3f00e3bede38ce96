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
