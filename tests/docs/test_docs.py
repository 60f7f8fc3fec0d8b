"""The documentation stays true: the README's examples run, the docs stand on their own, and the diagrams match
the tables."""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from core.investments import lifecycles_markdown

ROOT = Path(__file__).parents[2]
README = ROOT / "README.md"
BIN = Path(sys.executable).parent


def blocks(language: str) -> list[str]:
    return re.findall(rf"```{language}\n(.*?)```", README.read_text(encoding="utf-8"), re.DOTALL)


@pytest.mark.parametrize("index", range(len(blocks("python"))))
def test_every_python_example_in_the_readme_runs(index: int) -> None:
    namespace: dict[str, object] = {}
    exec(compile(blocks("python")[index], "README.md", "exec"), namespace)
    assert {"result", "app"} & set(namespace)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def test_the_readme_walkthrough_and_its_webhook_example_run_on_loopback(tmp_path: Path) -> None:
    walkthrough = next(b for b in blocks("sh") if b.startswith("# walkthrough"))
    webhooks = next(b for b in blocks("sh") if "RECEIVER" in b)
    script = (walkthrough + webhooks).replace("$PWD/.venv/bin", str(BIN)).replace("/tmp/", f"{tmp_path}/")
    script = script.replace("8765", str(free_port()))
    ran = subprocess.run(
        ["bash", "-e", "-c", script], capture_output=True, text=True, timeout=180, cwd=tmp_path,
        env={**os.environ, "PATH": f"{BIN}:{os.environ['PATH']}"},
    )  # fmt: skip
    assert ran.returncode == 0, ran.stdout + ran.stderr
    assert "blocks: 1 filled" in ran.stdout
    # 5 000 left after the key's base, over 10 000 / 20 000: quotas 1 666 2/3 and 3 333 1/3, one unit left over.
    assert "by LARGEST_REMAINDER, 1 leftover step" in ran.stdout
    assert re.search(r"^Demo_8328394\s+10000\s+5000/3\s+1666\s+2/3\s+2\s+1\s+yes\s+LARGEST_REMAINDER\s+1667$",
                     ran.stdout, re.MULTILINE), ran.stdout  # fmt: skip
    shown = ran.stdout.split("BLOCK_ORDER.NEW")[0]
    for account, allocated in (
        ("Demo_8328394", "11667"),
        ("Demo_8328395", "23333"),
        ("Demo_8328424", "30000"),
    ):
        assert re.search(rf"^{account}\s+\S+\s+{allocated}\b", shown, re.MULTILINE), shown
    delivered = re.search(r"^(\d+) delivered, 0 to retry, 0 failed$", ran.stdout, re.MULTILINE)
    assert delivered is not None, ran.stdout
    assert int(delivered.group(1)) > 0
    assert "Traceback" not in ran.stderr


def test_shell_completion_is_what_the_readme_says(tmp_path: Path) -> None:
    completion = subprocess.run(
        [str(BIN / "allot")], capture_output=True, text=True, timeout=60,
        env={**os.environ, "_ALLOT_COMPLETE": "bash_source"},
    )  # fmt: skip
    assert completion.returncode == 0
    assert "complete -o nosort -F _allot_completion allot" in completion.stdout


def test_the_readme_shows_exactly_the_two_set_up_commands() -> None:
    quickstart = README.read_text(encoding="utf-8").split("## Quickstart")[1].split("##")[0]
    commands = re.findall(r"^(make \w+)", quickstart, re.MULTILINE)
    assert commands == ["make demo", "make test"]


def test_the_docs_stand_on_their_own() -> None:
    outside = re.compile(r"\.\./shared|DESIGN\.md|DESIGN §|\bseeds?\b \d|seed 00\d|\bissue \d", re.IGNORECASE)
    documents = [README, *(ROOT / "docs").glob("*.md")]
    sources = [
        p for folder in ("core", "ports", "adapters", "entrypoints") for p in (ROOT / folder).rglob("*.py")
    ]
    pointing = [
        str(p.relative_to(ROOT))
        for p in [*documents, *sources]
        if outside.search(p.read_text(encoding="utf-8"))
    ]
    assert pointing == []


def test_the_lifecycle_diagrams_in_the_docs_are_generated_from_the_tables() -> None:
    docs = ROOT / "docs" / "lifecycles.md"
    assert docs.read_text(encoding="utf-8") == lifecycles_markdown(), (
        "docs/lifecycles.md is stale: regenerate it with "
        "python -c 'from core.investments import lifecycles_markdown; print(lifecycles_markdown(), end=\"\")' > docs/lifecycles.md"
    )
