"""The test tree's import rule: shared helpers live in ``tests/support``, and nothing else in
``tests/`` (or ``bench/``) is imported by another module — no test module, no conftest.

A helper kept in a test module or a conftest and imported from elsewhere ties two folders
together: moving or renaming one test breaks the other, and pytest may import a conftest
twice under two names.
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _imported_modules(path: Path) -> list[tuple[int, str]]:
    """(line, dotted name) of every module ``path`` imports; relative imports resolved."""
    tree = ast.parse(path.read_text(), filename=str(path))
    package = path.relative_to(ROOT).parent.parts
    found: list[tuple[int, str]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parent = package[:len(package) - node.level + 1]
                base = ".".join([*parent, *([base] if base else [])])
            # `from tests import x` may import the module tests.x.
            found += [(node.lineno, f"{base}.{alias.name}") for alias in node.names]
    return found


def _allowed(module: str) -> bool:
    parts = module.split(".")
    if "conftest" in parts:
        return False
    if parts[0] != "tests":
        return True
    return len(parts) >= 2 and parts[1] == "support"


def test_only_the_support_package_is_imported_across_the_test_tree() -> None:
    files = sorted([*ROOT.glob("tests/**/*.py"), *ROOT.glob("bench/**/*.py")])
    assert len(files) > 50, files  # the globs found the trees
    offences = [f"{path.relative_to(ROOT)}:{line}: imports {module}"
                for path in files for line, module in _imported_modules(path) if not _allowed(module)]
    assert not offences, (f"{len(offences)} imports outside tests.support (move the helper there):\n"
                          + "\n".join(offences))
