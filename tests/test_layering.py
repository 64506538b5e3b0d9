"""``core`` is a library on its own: it never imports the training code, the app or gradio."""
from __future__ import annotations

import ast
from pathlib import Path

import pytest

CORE = Path(__file__).resolve().parent.parent / "core"
FORBIDDEN = {"training", "app", "gradio", "argparse"}


def _imports(path: Path) -> set[str]:
    names = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            names |= {a.name.split(".")[0] for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module.split(".")[0])
    return names


@pytest.mark.parametrize("path", sorted(p for p in CORE.rglob("*.py") if p.name != "__main__.py"),
                         ids=lambda p: str(p.relative_to(CORE)))
def test_core_module_imports_no_outer_layer(path):
    assert _imports(path) & FORBIDDEN == set()
