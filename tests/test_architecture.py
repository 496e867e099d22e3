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


# Outside the packages, code that is not a unit test of one package (bench, demo, tools, and
# the tests' shared helpers) uses only what a package exports.
HELPERS = ["bench", "demo", "tools", "tests/conftest.py", "tests/factories.py", "tests/cluster.py"]


def _files(where: str) -> list[Path]:
    p = ROOT / where
    return [p] if p.is_file() else sorted(p.rglob("*.py"))


def test_helpers_outside_the_packages_use_only_public_names() -> None:
    """bench/, demo/, tools/ and the tests' helpers import our packages only by the names in
    their __all__, never a private module: what they need is what any user could use."""
    import importlib

    bad = []
    for where in HELPERS:
        for f in _files(where):
            for node in ast.walk(ast.parse(f.read_text())):
                if isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                    pkg = node.module.split(".")[0]
                    if pkg not in OURS:
                        continue
                    if node.module != pkg:
                        bad.append(f"{f.relative_to(ROOT)}: from {node.module} import ...")
                        continue
                    public = set(importlib.import_module(pkg).__all__)
                    bad += [
                        f"{f.relative_to(ROOT)}: {pkg}.{a.name} is not in {pkg}.__all__"
                        for a in node.names
                        if a.name not in public
                    ]
                elif isinstance(node, ast.Import):
                    bad += [
                        f"{f.relative_to(ROOT)}: import {a.name}"
                        for a in node.names
                        if a.name.split(".")[0] in OURS and "." in a.name
                    ]
    assert not bad, "\n".join(bad)
