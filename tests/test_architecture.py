"""Dependencies flow one way: the contract imports nothing of ours and does no I/O; the
runtime knows no service; services import the contract and the runtime, never each other;
only the simulator imports both services."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
OURS = {"schemas", "runtime", "agent", "vendor_adapter", "bus_auth", "registry", "simulator"}
ALLOWED = {
    "schemas": set(),
    "runtime": {"schemas"},
    "agent": {"schemas", "runtime"},
    "vendor_adapter": {"schemas", "runtime"},
    "bus_auth": {"runtime"},
    "registry": {"schemas", "runtime"},
    # The one place where both services meet: markets simulated over the real code.
    "simulator": {"schemas", "runtime", "agent", "vendor_adapter"},
}
IO_MODULES = {
    "socket",
    "sqlite3",
    "subprocess",
    "asyncio",
    "nats",
    "pathlib",
    "shutil",
    "urllib",
    "http",
    "tempfile",
    "structlog",
}


def _imports(package: str) -> dict[str, set[str]]:
    out: dict[str, set[str]] = {}
    for f in (ROOT / package).rglob("*.py"):
        names: set[str] = set()
        for node in ast.walk(ast.parse(f.read_text())):
            if isinstance(node, ast.Import):
                names |= {a.name.split(".")[0] for a in node.names}
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names.add(node.module.split(".")[0])
        out[str(f.relative_to(ROOT))] = names
    return out


def test_packages_import_only_what_they_may() -> None:
    """No service imports another; the contract and runtime import no service."""
    for package, allowed in ALLOWED.items():
        for path, names in _imports(package).items():
            bad = (names & OURS) - allowed - {package}
            assert not bad, f"{path} imports {sorted(bad)}"


def test_the_contract_does_no_io() -> None:
    """schemas/ is pure: no sockets, files, processes, event loops or loggers."""
    for path, names in _imports("schemas").items():
        assert not names & IO_MODULES, f"{path} imports {sorted(names & IO_MODULES)}"
        tree = ast.parse((ROOT / path).read_text())
        calls = {
            n.func.id
            for n in ast.walk(tree)
            if isinstance(n, ast.Call) and isinstance(n.func, ast.Name)
        }
        assert not calls & {"open", "print", "input"}, (
            f"{path} calls {sorted(calls & {'open', 'print', 'input'})}"
        )


def test_every_package_has_a_sorted_all() -> None:
    """Public names are explicit and sorted, httpx style."""
    import importlib

    for package in OURS:
        mod = importlib.import_module(package)
        # Constants, then classes, then functions, each alphabetical: ruff's RUF022 order.
        kind = lambda n: (0 if n.isupper() else 1 if n[0].isupper() else 2, n)  # noqa: E731
        assert mod.__all__ == sorted(mod.__all__, key=kind), package
        assert all(hasattr(mod, n) for n in mod.__all__), package
