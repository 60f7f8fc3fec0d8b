"""The documentation stays true: the README example runs and the diagrams match the tables."""

from __future__ import annotations

import re
from pathlib import Path

from core.lifecycle import lifecycles_markdown

ROOT = Path(__file__).parents[2]
README = ROOT / "README.md"


def test_the_readme_embedding_example_runs() -> None:
    blocks = re.findall(r"```python\n(.*?)```", README.read_text(encoding="utf-8"), re.DOTALL)
    assert len(blocks) == 1
    namespace: dict[str, object] = {}
    exec(compile(blocks[0], "README.md", "exec"), namespace)
    assert "result" in namespace


def test_the_readme_shows_exactly_the_two_set_up_commands() -> None:
    quickstart = README.read_text(encoding="utf-8").split("## Quickstart")[1].split("##")[0]
    commands = re.findall(r"^(make \w+)", quickstart, re.MULTILINE)
    assert commands == ["make demo", "make test"]


def test_the_lifecycle_diagrams_in_the_docs_are_generated_from_the_tables() -> None:
    docs = ROOT / "docs" / "lifecycles.md"
    assert docs.read_text(encoding="utf-8") == lifecycles_markdown(), (
        "docs/lifecycles.md is stale: regenerate it with "
        "python -c 'from core.lifecycle import lifecycles_markdown as m; print(m(), end=\"\")' > docs/lifecycles.md"
    )
