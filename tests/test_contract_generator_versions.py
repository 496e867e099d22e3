"""The committed contract files come out byte-identical whichever msgspec the project allows
generates them: the oldest release `pyproject.toml` admits and the newest one on the index.

Each version is installed with pip into a folder of its own and put first on the path of a
child `tools/export_contract.py --check`; the lock's msgspec is not touched."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def _msgspec_requirement() -> str:
    deps = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    (req,) = [d for d in deps if re.match(r"msgspec\b", d)]
    return str(req)


def _install(spec: str, target: Path) -> Path:
    done = subprocess.run(
        [sys.executable, "-m", "pip", "install", "-qq", "--no-deps", "--target", str(target), spec],
        capture_output=True,
        text=True,
        timeout=300,
    )
    if done.returncode != 0:
        if os.environ.get("CI") == "true":
            pytest.fail(f"pip could not install {spec}:\n{done.stderr}")
        pytest.skip(
            f"pip could not install {spec} (no package index?): {done.stderr.strip()[:200]}"
        )
    return target


def _check_with(folder: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(folder), str(ROOT)])}
    return subprocess.run(
        [sys.executable, str(ROOT / "tools" / "export_contract.py"), "--check"],
        capture_output=True,
        text=True,
        env=env,
        cwd=ROOT,
        timeout=120,
    )


def _version_in(folder: Path) -> str:
    (dist,) = folder.glob("msgspec-*.dist-info")
    return dist.name.removeprefix("msgspec-").removesuffix(".dist-info")


@pytest.mark.parametrize("which", ["oldest", "newest"])
def test_contract_files_do_not_depend_on_the_generators_version(which: str, tmp_path: Path) -> None:
    """`export_contract --check` passes with the oldest and the newest msgspec in range."""
    req = _msgspec_requirement()
    floor = re.fullmatch(r"msgspec>=([0-9.]+)", req)
    assert floor, f"expected msgspec's requirement to be a plain lower bound, got {req!r}"
    spec = f"msgspec=={floor.group(1)}" if which == "oldest" else req
    folder = _install(spec, tmp_path / "msgspec")
    if which == "oldest":
        assert _version_in(folder) == floor.group(1)
    done = _check_with(folder)
    assert done.returncode == 0, (
        f"msgspec {_version_in(folder)} writes other bytes than the committed files:\n{done.stderr}"
    )
