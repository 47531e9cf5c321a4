"""The requirements install on the four platforms users have, and the locks pin them.

With the package index: for Linux x86_64 and aarch64, macOS on Apple silicon and Windows AMD64, each of
requirements.txt, requirements-dev.txt and requirements-gpu.txt resolves (``uv pip compile``, Python 3.11),
TensorFlow's package is tensorflow-cpu where it has wheels (Linux x86_64, Windows) and tensorflow elsewhere,
each lock resolves to exactly its own pins there (nothing missing, a wheel for each), and the runtime lock
holds the packages requirements.txt needs and no others (no test tool). Without a network these skip, saying
so. Without it too: the locks pin every requirement once on each platform and Python, inside its range; the
test lock pins every package of the runtime lock at the runtime lock's version; each lock's header is the
Makefile's command that made it; and the locks hold the versions that made the committed results.
"""

from __future__ import annotations

import functools
import os
import re
import shutil
import ssl
import subprocess
import sys
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from packaging.markers import default_environment
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

REPO = Path(__file__).resolve().parent.parent
LOCKS = {  # each requirements file and the lock that pins it
    "requirements.txt": "requirements.lock",  # make venv: what the scripts need
    "requirements-dev.txt": "requirements-dev.lock",  # make test: the same pins, and the test tools
    "requirements-gpu.txt": "requirements-gpu.lock",
}
# uv's target triple -> the markers' view of that machine, and the TensorFlow package with wheels there.
PLATFORMS = {
    "x86_64-unknown-linux-gnu": (
        {"sys_platform": "linux", "platform_system": "Linux", "platform_machine": "x86_64", "os_name": "posix"},
        "tensorflow-cpu",
    ),
    "aarch64-unknown-linux-gnu": (
        {"sys_platform": "linux", "platform_system": "Linux", "platform_machine": "aarch64", "os_name": "posix"},
        "tensorflow",
    ),
    "aarch64-apple-darwin": (
        {"sys_platform": "darwin", "platform_system": "Darwin", "platform_machine": "arm64", "os_name": "posix"},
        "tensorflow",
    ),
    "x86_64-pc-windows-msvc": (
        {"sys_platform": "win32", "platform_system": "Windows", "platform_machine": "AMD64", "os_name": "nt"},
        "tensorflow-cpu",
    ),
}
PYTHONS = ["3.10", "3.11", "3.12", "3.13"]  # TensorFlow 2.21 has wheels for these (none yet for 3.14)
# The versions that made the committed results (Linux x86_64, Python 3.11.7), and the lock that pins each.
# `make upgrade` moving one of them fails here on purpose: rerun the experiments with the new versions, then
# update this table.
RESULTS_VERSIONS = {
    "tensorflow-cpu": ("2.21.0", "requirements.lock"),
    "keras": ("3.15.1", "requirements.lock"),
    "numpy": ("2.4.6", "requirements.lock"),
    "matplotlib": ("3.11.2", "requirements.lock"),
    "jax": ("0.10.2", "requirements-dev.lock"),  # the JAX test's (make test); the GPU path has its own lock
}
UV_TIMEOUT = 300  # seconds; a resolution takes a few (more with a cold cache). subprocess.run kills uv then
INDEX = os.environ.get("UV_DEFAULT_INDEX") or os.environ.get("UV_INDEX_URL") or "https://pypi.org/simple/"
# uv's words when the index cannot be reached (as opposed to "No solution found" for a real conflict)
NETWORK_ERROR = re.compile(r"error sending request|dns error|failed to lookup|tcp connect|Connection refused|timed out")


def requirements(name: str) -> list[Requirement]:
    """The requirements in ``name``, following its ``-r`` includes."""
    out = []
    for line in (REPO / name).read_text().splitlines():
        line = line.split(" #")[0].strip()
        if line.startswith("-r"):
            out += requirements(line[2:].strip())
        elif line and not line.startswith("#"):
            out.append(Requirement(line))
    return out


def pins(lock: str) -> list[Requirement]:
    """The lock's ``name==version ; marker`` lines (a name twice where uv forked by Python version)."""
    lines = (REPO / lock).read_text().splitlines()
    return [Requirement(line) for line in lines if line and not line.startswith(("#", " ", "-"))]


def environment(platform: str, python: str) -> dict[str, str]:
    env = default_environment() | PLATFORMS[platform][0]
    full = python + ".0" if python.count(".") == 1 else python
    return env | {"python_version": ".".join(full.split(".")[:2]), "python_full_version": full}


def applies(req: Requirement, env: dict[str, str]) -> bool:
    return req.marker is None or req.marker.evaluate(env)


def locked(lock: str, env: dict[str, str]) -> dict[str, str]:
    """The lock's {package: version} where its markers hold in ``env``."""
    return {canonicalize_name(p.name): pinned_version(p) for p in pins(lock) if applies(p, env)}


def pinned_version(req: Requirement) -> str:
    (spec,) = req.specifier
    assert spec.operator == "==", f"{req} in the lock is not an exact pin"
    return spec.version


@functools.cache
def uv() -> str:
    """The venv's uv (requirements-dev.txt installs it), else one on PATH; skips without it."""
    try:
        from uv import find_uv_bin

        return find_uv_bin()
    except (ImportError, FileNotFoundError):
        found = shutil.which("uv", path=str(Path(sys.executable).parent)) or shutil.which("uv")
        if not found:
            pytest.skip("uv is not installed: `make test` installs it (requirements-dev.txt)")
        return found


@functools.cache
def index_unreachable() -> str | None:
    """Why the index cannot be reached (a 5 s HTTPS request), or None when it can."""
    try:
        urllib.request.urlopen(urllib.request.Request(INDEX, method="HEAD"), timeout=5).close()
    except urllib.error.HTTPError:
        return None  # the server answered
    except (urllib.error.URLError, OSError) as e:
        if isinstance(getattr(e, "reason", e), ssl.SSLCertVerificationError):
            return None  # a network, but Python lacks the CA roots (python.org's macOS builds); uv brings its own
        return f"the package index {INDEX} cannot be reached ({e}): no network here, so no resolution against it"
    return None


@functools.cache
def resolve(name: str, platform: str) -> dict[str, str]:
    """``uv pip compile name`` for ``platform`` and Python 3.11: the resolution's {package: version}."""
    argv = [uv(), "pip", "compile", name, "--python-platform", platform, "--python-version", "3.11"]
    argv += ["--no-header", "--no-annotate", "--quiet"]
    if why := index_unreachable():
        pytest.skip(why)
    try:
        proc = subprocess.run(argv, cwd=REPO, capture_output=True, text=True, timeout=UV_TIMEOUT)
    except subprocess.TimeoutExpired:
        pytest.fail(f"{' '.join(argv)} took over {UV_TIMEOUT} s (killed)")
    if proc.returncode and NETWORK_ERROR.search(proc.stderr):
        pytest.skip(f"uv could not reach the package index: {proc.stderr.strip().splitlines()[-1]}")
    assert proc.returncode == 0, f"{name} does not resolve on {platform}:\n{proc.stderr}"
    lines = [line for line in proc.stdout.splitlines() if line.strip() and not line.startswith("#")]
    return {canonicalize_name(r.name): pinned_version(r) for r in map(Requirement, lines)}


@pytest.mark.parametrize("platform", PLATFORMS)
@pytest.mark.parametrize("name", LOCKS)
def test_each_requirements_file_resolves_on_each_platform(name, platform):
    resolved = resolve(name, platform)
    assert "keras" in resolved and "numpy" in resolved


@pytest.mark.parametrize("platform", PLATFORMS)
@pytest.mark.parametrize("name", ["requirements.txt", "requirements-dev.txt"])
def test_tensorflow_is_the_package_with_wheels_there(name, platform):
    resolved = resolve(name, platform)
    wanted = PLATFORMS[platform][1]
    other = {"tensorflow": "tensorflow-cpu", "tensorflow-cpu": "tensorflow"}[wanted]
    assert wanted in resolved and other not in resolved, f"{name} on {platform}: {wanted} expected"


@pytest.mark.parametrize("platform", PLATFORMS)
def test_the_gpu_set_has_cuda_on_linux_and_no_tensorflow(platform):
    resolved = resolve("requirements-gpu.txt", platform)
    assert "tensorflow" not in resolved and "tensorflow-cpu" not in resolved
    assert ("jax-cuda12-plugin" in resolved) == ("linux" in platform)
    assert "jaxlib" in resolved  # JAX on the CPU elsewhere


@pytest.mark.parametrize("platform", PLATFORMS)
@pytest.mark.parametrize("lock", sorted(set(LOCKS.values())))
def test_each_lock_resolves_to_its_own_pins_on_each_platform(lock, platform):
    own = locked(lock, environment(platform, "3.11"))
    assert resolve(lock, platform) == own, f"{lock} on {platform} misses a package, or a pin has no wheel there"


@pytest.mark.parametrize("python", PYTHONS)
@pytest.mark.parametrize("platform", PLATFORMS)
@pytest.mark.parametrize("name", LOCKS)
def test_the_lock_pins_each_requirement_once_within_its_range(name, platform, python):
    env = environment(platform, python)
    pinned: dict[str, list[str]] = {}
    for pin in pins(LOCKS[name]):
        if applies(pin, env):
            pinned.setdefault(canonicalize_name(pin.name), []).append(pinned_version(pin))
    assert all(len(versions) == 1 for versions in pinned.values()), f"two pins at once: {pinned}"
    for req in requirements(name):
        if not applies(req, env):
            continue
        versions = pinned.get(canonicalize_name(req.name))
        assert versions, f"{req.name} ({name}) is not pinned in {LOCKS[name]} for {platform}, Python {python}"
        assert req.specifier.contains(versions[0], prereleases=True), f"{LOCKS[name]} pins {req.name}=={versions[0]}"


@pytest.mark.parametrize("platform", PLATFORMS)
def test_the_runtime_lock_holds_what_the_scripts_need_and_nothing_else(platform):
    """make venv's environment: requirements.txt's packages, no test tool (pytest, ruff, uv, JAX)."""
    needed = set(resolve("requirements.txt", platform))
    assert set(locked("requirements.lock", environment(platform, "3.11"))) == needed


@pytest.mark.parametrize("python", PYTHONS)
@pytest.mark.parametrize("platform", PLATFORMS)
def test_the_test_lock_pins_the_runtime_lock_as_it_is(platform, python):
    """make test installs the test lock on top of the runtime lock's venv: it changes no version there."""
    env = environment(platform, python)
    runtime, test = locked("requirements.lock", env), locked("requirements-dev.lock", env)
    assert {name: test.get(name) for name in runtime} == runtime


def test_each_lock_header_is_the_makefile_command_that_made_it():
    """`make upgrade`'s commands, without --upgrade, stand in the locks' headers: rerun as written, they
    re-lock after an edit to a requirements file and keep every other pin."""
    makefile = (REPO / "Makefile").read_text()
    lock = re.search(r"^LOCK := (.+)$", makefile, re.M)[1]
    commands = re.findall(r"^\t\$\(VENV\)/bin/\$\(LOCK\) (.+) --upgrade$", makefile, re.M)
    made = {line.split(" -o ")[1]: f"{lock} {line}" for line in commands}
    assert set(made) == set(LOCKS.values()), f"make upgrade writes {sorted(made)}"
    for name, command in made.items():
        header = (REPO / name).read_text().splitlines()[:2]
        assert header[1].strip("# ") == command, f"{name}'s header is not `{command}`"


def test_the_locks_hold_the_versions_that_made_the_results():
    env = environment("x86_64-unknown-linux-gnu", "3.11.7")
    for name, (version, lock) in RESULTS_VERSIONS.items():
        assert locked(lock, env).get(name) == version, f"{lock} pins {name}, the results were made with {version}"
    for lock in ("requirements.lock", "requirements-dev.lock"):
        tensorflow = {pinned_version(p) for p in pins(lock) if p.name in ("tensorflow", "tensorflow-cpu")}
        assert tensorflow == {"2.21.0"}, lock  # on every platform and Python
