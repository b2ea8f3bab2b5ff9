"""The earbud core on the real MicroPython unix port, with a fake board (tests/firmware/mp_checks.py)."""
import hashlib
import json
import os
import re
import subprocess
from pathlib import Path

import pytest

import mp_checks
from protocol import audio

pytestmark = [pytest.mark.micropython, pytest.mark.e2e]  # they run the MicroPython tools as processes

HEAP = "144k"  # the heap the README states for core + protocol + checks (64-bit unix port; a 32-bit MCU needs less)
ROOT = Path(__file__).resolve().parents[2]


def _run_checks(micropython_exe, mpypath, outdir, *args):
    env = dict(os.environ, MICROPYPATH=mpypath)
    return subprocess.run([micropython_exe, *args, "-m", "mp_checks", str(outdir)], env=env, capture_output=True,
                          text=True, timeout=60)


def _counts(stdout):
    match = re.search(r"(\d+) passed, (\d+) failed", stdout)
    assert match, "no summary line from the MicroPython runner:\n" + stdout
    return int(match.group(1)), int(match.group(2))


def _read_frames(path):
    data = path.read_bytes()
    frames, i = [], 0
    while i < len(data):
        size = data[i]
        frames.append(data[i + 1:i + 1 + size])
        i += 1 + size
    return frames


@pytest.fixture(scope="module")
def micropython_run(micropython_exe, host_mpy_build, tmp_path_factory):
    """All checks, from .mpy (as on the board), in a 144 KB heap."""
    outdir = tmp_path_factory.mktemp("mp_out")
    result = _run_checks(micropython_exe, str(host_mpy_build), outdir, "-X", "heapsize=" + HEAP)
    return result, outdir


def test_all_checks_pass_on_micropython_in_a_144k_heap(micropython_run):
    result, _ = micropython_run
    passed, failed = _counts(result.stdout)
    assert failed == 0, result.stdout + result.stderr
    assert passed == len(mp_checks.CHECKS)
    assert result.returncode == 0


def test_checks_pass_from_source_too(micropython_exe, tmp_path):
    """The sources the simulator imports, compiled on the fly by MicroPython itself (needs a bigger heap)."""
    mpypath = os.pathsep.join([str(ROOT / "hardware" / "firmware"), str(ROOT / "tests" / "firmware"), str(ROOT)])
    result = _run_checks(micropython_exe, mpypath, tmp_path, "-X", "heapsize=512k")
    passed, failed = _counts(result.stdout)
    assert (passed, failed) == (len(mp_checks.CHECKS), 0), result.stdout + result.stderr


@pytest.mark.parametrize("name", ["frames_adpcm.bin", "frames_pcm16.bin"])
def test_micropython_frames_match_cpython_byte_for_byte(micropython_run, tmp_path, name):
    _, outdir = micropython_run
    mp_checks.check_frames_adpcm(str(tmp_path))
    mp_checks.check_frames_pcm16_after_set_codec(str(tmp_path))
    on_micropython = _read_frames(outdir / name)
    on_cpython = _read_frames(tmp_path / name)
    assert len(on_micropython) == len(on_cpython) > 0
    assert on_micropython == on_cpython


def test_micropython_speaker_output_matches_cpython_sample_for_sample(micropython_run, tmp_path):
    """Reply decoding, jitter buffer, cue synthesis, mixing and volume (viper on MicroPython) agree exactly."""
    _, outdir = micropython_run
    mp_checks.check_speaker_output(str(tmp_path))
    on_micropython = (outdir / "speaker.bin").read_bytes()
    assert len(on_micropython) == 16 * 640
    assert any(on_micropython)
    assert on_micropython == (tmp_path / "speaker.bin").read_bytes()


def test_micropython_adpcm_frames_equal_audioop(micropython_run):
    """An independent reference: what CPython's audioop.lin2adpcm made of the same mic samples (the fake board's
    ramp_pcm), state carried on, recorded in tests/protocol/adpcm_golden.json."""
    _, outdir = micropython_run
    frames = _read_frames(outdir / "frames_adpcm.bin")
    golden = json.loads((ROOT / "tests" / "protocol" / "adpcm_golden.json").read_text(encoding="utf-8"))
    expected = golden["ramp_frames_of_320_samples"]["frames"]
    assert len(frames) == len(expected)
    for i, (frame, (codes_digest, state)) in enumerate(zip(frames, expected)):
        decoded = audio.decode_frame(frame)
        assert [decoded.predictor, decoded.index] == state, i
        assert hashlib.sha256(decoded.payload).hexdigest()[:16] == codes_digest, "frame %d differs from audioop" % i


def test_core_does_not_fit_a_much_smaller_heap(micropython_exe, host_mpy_build, tmp_path):
    """The stated heap is a real bound, not a formality: half of it is not enough for core + protocol."""
    result = _run_checks(micropython_exe, str(host_mpy_build), tmp_path, "-X", "heapsize=64k")
    assert "MemoryError" in result.stdout + result.stderr


def test_cost_measurement_runs(micropython_exe, host_mpy_build):
    """The README's per-frame numbers come from tools/measure_cost.py; keep it working."""
    env = dict(os.environ, MICROPYPATH=str(host_mpy_build))
    result = subprocess.run([micropython_exe, "-m", "measure_cost"], env=env, capture_output=True, text=True,
                            timeout=60)
    assert result.returncode == 0, result.stderr
    lines = [line for line in result.stdout.splitlines() if line.endswith("us/frame")]
    assert len(lines) == 6
    encode_us = float(lines[0].split()[-2])
    assert 0 < encode_us < 20000  # sanity of the measurement itself, not a speed requirement
