"""The README's embedding example runs as written: the product's code, then the product's own test."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

README = Path(__file__).resolve().parents[2] / "README.md"


def _embedding_blocks() -> list[str]:
    text = README.read_text()
    section = text.split("## Embedding the check in a Python product", 1)[1].split("\n## ", 1)[0]
    return re.findall(r"```python\n(.*?)```", section, flags=re.S)


def test_the_embedding_example_runs_and_its_test_passes() -> None:
    """The product block is under ten lines of code; with the test block after it, every test_ function in it passes."""
    blocks = _embedding_blocks()
    assert len(blocks) == 2, "the README's embedding section has the product's code and its test"
    product, product_test = blocks
    assert len([ln for ln in product.splitlines() if ln.strip() and not ln.lstrip().startswith("#")]) < 10
    namespace: dict[str, Any] = {"__name__": "readme_example"}
    exec(compile(product, "README.md (product)", "exec"), namespace)  # noqa: S102  # our own README, by design
    exec(compile(product_test, "README.md (test)", "exec"), namespace)  # noqa: S102
    tests = [f for name, f in namespace.items() if name.startswith("test_") and callable(f)]
    assert tests
    for f in tests:
        f()
