"""How the project is installed: the locks agree with pyproject.toml and with each other, and
the container image's wheel, built from exactly the files its Dockerfile copies, installs from
the image lock into a fresh venv where every entry point and the health check work.

There is no Docker engine on this machine, so the image's build stage is replayed by hand:
the build context is the repository less `.dockerignore`, the wheel is built the way the
Dockerfile's RUN line builds it, and the fresh venv installs what the image installs."""

from __future__ import annotations

import fnmatch
import os
import re
import shutil
import subprocess
import sys
import tomllib
import zipfile
from pathlib import Path

import pytest
from packaging.markers import default_environment
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from tests.cluster import free_port

ROOT = Path(__file__).resolve().parent.parent
DOCKERFILE = ROOT / "deploy" / "docker" / "Dockerfile"
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())


def _pins(lock: Path) -> dict[str, str]:
    """name -> version for the lines of a lock whose marker holds on this interpreter."""
    env = default_environment()
    out: dict[str, str] = {}
    for line in lock.read_text().splitlines():
        if not line or line[0] in " #":
            continue
        req = Requirement(line.rstrip(" \\"))
        if req.marker is None or req.marker.evaluate(env):
            (spec,) = req.specifier
            assert spec.operator == "==", f"{lock.name}: expected a pin, got {line!r}"
            out[canonicalize_name(req.name)] = spec.version
    return out


def _requirements(extras: bool) -> list[Requirement]:
    reqs = [Requirement(r) for r in PYPROJECT["project"]["dependencies"]]
    if extras:
        for group in PYPROJECT["project"]["optional-dependencies"].values():
            reqs += [Requirement(r) for r in group]
    reqs += [Requirement(r) for r in PYPROJECT["build-system"]["requires"]]
    return reqs


@pytest.mark.parametrize(
    ("lock", "extras"), [("requirements.lock", True), ("requirements-image.lock", False)]
)
def test_each_lock_pins_every_requirement_within_its_range(lock: str, extras: bool) -> None:
    """Every requirement of pyproject.toml (and the build backend) is pinned in the lock at a
    version its range admits; a stale lock after a pyproject edit fails here."""
    pins = _pins(ROOT / lock)
    problems = []
    for req in _requirements(extras):
        got = pins.get(canonicalize_name(req.name))
        if got is None:
            problems.append(f"{req.name}: expected a pin, got none")
        elif not req.specifier.contains(got, prereleases=True):
            problems.append(f"{req.name}: expected {req.specifier}, got {got}")
    assert not problems, f"{lock} is stale; run `make lock`:\n" + "\n".join(problems)


def test_the_two_locks_agree_on_every_package_they_share() -> None:
    """The image runs the versions the suite is green with: no package is pinned at one
    version for development and another for the image."""
    dev, image = _pins(ROOT / "requirements.lock"), _pins(ROOT / "requirements-image.lock")
    differ = {n: (dev.get(n), v) for n, v in image.items() if dev.get(n) != v}
    assert not differ, f"expected equal pins, got (dev, image): {differ}; run `make lock`"


def _stage(name: str) -> str:
    text = DOCKERFILE.read_text().replace("\\\n", " ")
    return text.split(f" AS {name}\n", 1)[1].split("\nFROM ", 1)[0]


def _ignored(rel: str, patterns: list[str]) -> bool:
    parts = rel.split("/")
    for i in range(1, len(parts) + 1):
        prefix = "/".join(parts[:i])
        for pat in patterns:
            if fnmatch.fnmatchcase(prefix, pat) or (
                pat.startswith("**/") and fnmatch.fnmatchcase(prefix, pat[3:])
            ):
                return True
    return False


def _build_context(dest: Path) -> list[str]:
    """The files `docker build` would send, copied to ``dest`` the way the build stage's
    COPY lines place them. Returns the relative paths copied."""
    patterns = [
        ln.strip()
        for ln in (ROOT / ".dockerignore").read_text().splitlines()
        if ln.strip() and not ln.startswith("#")
    ]
    copies = re.findall(r"^COPY (?!--from)(.+)$", _stage("build"), re.M)
    assert copies == [". ."], f"expected the build stage to copy the whole context, got {copies}"
    copied = []
    for path in sorted(ROOT.rglob("*")):
        rel = path.relative_to(ROOT).as_posix()
        if path.is_file() and not _ignored(rel, patterns):
            (dest / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(path, dest / rel)
            copied.append(rel)
    return copied


def _pip(python: Path, *args: str) -> None:
    done = subprocess.run(
        [str(python), "-m", "pip", *args], capture_output=True, text=True, timeout=600
    )
    if done.returncode != 0:
        if os.environ.get("CI") != "true" and "Could not find a version" in done.stderr:
            pytest.skip(f"no package index reachable for the image's install: {done.stderr[:200]}")
        raise AssertionError(f"pip {' '.join(args)} failed:\n{done.stderr}")


@pytest.mark.e2e
def test_the_image_wheel_installs_from_its_lock_and_every_entry_point_runs(
    tmp_path: Path,
) -> None:
    """The wheel built from the Dockerfile's own file set holds every package pyproject.toml
    names; installed with the image lock into a fresh venv, each console script answers
    --help and the image's health check tells a serving agent from a stopped one."""
    src = tmp_path / "src"
    copied = _build_context(src)
    assert "pyproject.toml" in copied and "requirements-image.lock" in copied
    assert not [c for c in copied if c.startswith((".venv", ".git/"))]
    assert "RUN pip install --require-hashes --no-deps -r requirements-image.lock" in _stage(
        "build"
    )
    assert "pip install --require-hashes --no-deps -r /tmp/requirements-image.lock" in _stage(
        "base"
    )

    wheels = tmp_path / "wheels"
    _pip(Path(sys.executable), "wheel", "-qq", "--no-deps", "--no-build-isolation",
         "--wheel-dir", str(wheels), str(src))  # fmt: skip
    (wheel,) = wheels.glob("intentcast-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    for package in PYPROJECT["tool"]["setuptools"]["packages"]:
        assert f"{package}/__init__.py" in names, f"the image's wheel lacks {package}"
    for package, globs in PYPROJECT["tool"]["setuptools"]["package-data"].items():
        for pattern in globs:
            for data in (src / package).glob(pattern):
                rel = data.relative_to(src).as_posix()
                assert rel in names, f"the image's wheel lacks {rel}"
    assert "schemas/json/offer.json" in names

    venv = tmp_path / "image-venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=120)
    py = venv / "bin" / "python"
    _pip(py, "install", "-qq", "--require-hashes", "--no-deps", "-r",
         str(src / "requirements-image.lock"))  # fmt: skip
    _pip(py, "install", "-qq", "--no-deps", str(wheel))

    for script in PYPROJECT["project"]["scripts"]:
        done = subprocess.run(
            [str(venv / "bin" / script), "--help"], capture_output=True, text=True, timeout=60
        )
        assert done.returncode == 0 and "usage:" in done.stdout, f"{script}: {done.stderr}"

    home = tmp_path / "agent-home"
    env = {"INTENTCAST_HOME": str(home), "PATH": f"{venv / 'bin'}:{os.environ['PATH']}"}
    subprocess.run([str(venv / "bin" / "intentcast"), "init"], env={**os.environ, **env},
                   check=True, capture_output=True, timeout=60)  # fmt: skip
    port = free_port()
    url = f"http://127.0.0.1:{port}/healthz"
    check = [str(py), "-m", "runtime.healthcheck", url]
    web = subprocess.Popen(
        [str(venv / "bin" / "intentcast"), "web", "--port", str(port)],
        env={**os.environ, **env},
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        assert web.stdout is not None
        assert "page" in web.stdout.readline()  # printed once it listens
        assert subprocess.run(check, capture_output=True, timeout=30).returncode == 0
    finally:
        web.terminate()
        web.wait(10)
    assert subprocess.run(check, capture_output=True, timeout=30).returncode == 1
