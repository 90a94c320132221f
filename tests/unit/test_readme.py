"""The README's Python API example runs as written (on the bundled table, nothing beside the repository)."""
from __future__ import annotations

import re
from pathlib import Path

README = Path(__file__).resolve().parents[2] / "README.md"


def test_readme_python_api_block_runs():
    text = README.read_text()
    section = text[text.index("## Python API"):]
    code = re.search(r"```python\n(.*?)```", section, re.S).group(1)
    scope: dict = {}
    exec(compile(code, "README.md (Python API)", "exec"), scope)  # noqa: S102 - our own README
    assert round(scope["table"].query(scope["arch"], "cifar100", "test"), 2) == 70.89
    assert scope["api"].find_best("cifar100", "x-test")[0] == 9930
    assert len(scope["history"]) == 100
