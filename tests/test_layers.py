"""Imports flow one way (DESIGN.md section 2), no module imports itself through others,
and the verifier stands alone."""

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


def _module_graph() -> dict[str, set[str]]:
    """module -> the modules of our packages it imports (relative imports resolved)."""
    files = {}
    for layer in LAYERS:
        for path in (ROOT / layer).rglob("*.py"):
            parts = path.relative_to(ROOT).with_suffix("").parts
            files[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path

    def ours(name: str) -> str | None:
        while name and name not in files:
            name = name.rpartition(".")[0]
        return name or None

    graph: dict[str, set[str]] = {}
    for module, path in files.items():
        package = module if path.name == "__init__.py" else module.rpartition(".")[0]
        targets: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                targets |= {alias.name for alias in node.names}
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    up = package.split(".")[: len(package.split(".")) - node.level + 1]
                    base = ".".join([*up, base] if base else up)
                targets |= {base, *(f"{base}.{alias.name}" for alias in node.names)}
        graph[module] = {t for t in map(ours, targets) if t and t != module}
    return graph


def test_no_module_imports_itself_through_others() -> None:
    graph = _module_graph()
    cycles = []
    for start in graph:  # a depth-first search from each module back to itself
        stack, seen = [(start, [start])], set()
        while stack:
            module, path = stack.pop()
            for target in graph[module]:
                if target == start:
                    cycles.append(" -> ".join([*path, start]))
                elif target not in seen:
                    seen.add(target)
                    stack.append((target, [*path, target]))
    assert not cycles, cycles[:3]


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
