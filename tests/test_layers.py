"""Imports flow one way (DESIGN.md section 2), and the verifier stands alone."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
LAYERS = ["ledger", "domain", "projections", "api", "tools"]
FORBIDDEN = {
    "ledger": {"domain", "projections", "api", "tools"},
    "domain": {"projections", "api", "tools"},
    "projections": {"api", "tools"},
    "api": {"tools"},
    "tools": {"api"},
}


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text())
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module.split(".")[0])
    return names


@pytest.mark.parametrize("layer", LAYERS)
def test_a_layer_imports_no_later_layer(layer: str) -> None:
    for path in (ROOT / layer).rglob("*.py"):
        wrong = _imports(path) & FORBIDDEN[layer]
        assert not wrong, f"{path.relative_to(ROOT)} imports {sorted(wrong)}"


def test_the_verifier_needs_only_ledger_stdlib_cryptography_and_rfc8785(tmp_path: Path) -> None:
    """Run the verifier with every other third-party package made unimportable."""
    script = tmp_path / "isolated.py"
    script.write_text(
        "import sys\n"
        "class Block:\n"
        "    banned = {'eventsourcing', 'pydantic', 'pydantic_settings', 'psycopg',\n"
        "              'psycopg_pool', 'typer', 'rich', 'fastapi', 'uvicorn'}\n"
        "    def find_spec(self, name, path=None, target=None):\n"
        "        if name.split('.')[0] in self.banned:\n"
        "            raise ImportError(f'the verifier must not import {name}')\n"
        "sys.meta_path.insert(0, Block())\n"
        "import ledger.verify, ledger.bundle\n"
        "print('ok')\n"
    )
    result = subprocess.run(
        [sys.executable, str(script)], cwd=ROOT, capture_output=True, text=True, check=False
    )
    assert result.stdout.strip() == "ok", result.stderr
