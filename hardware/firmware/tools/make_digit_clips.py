"""Generate the spoken digit clips the earbud uses to say a pairing passkey (espeak-ng, at build time).

  .venv/bin/python hardware/firmware/tools/make_digit_clips.py [--out build/firmware/clips] [--voice en-us] [--json]

Writes digit_0.pcm .. digit_9.pcm: raw PCM16LE, 16 kHz mono, silence trimmed, peak at -6 dBFS (the earbud
applies its volume on top). Copy them to the board with `mpremote cp -r build/firmware/clips :`. They are not
committed: binaries are rebuilt from this script. Needs the Debian package espeak-ng.
"""
import argparse
import io
import json
import shutil
import subprocess
import sys
import wave
from pathlib import Path

import numpy as np
import soxr

ROOT = Path(__file__).resolve().parents[3]
WORDS = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine")
SAMPLE_RATE = 16000
PEAK = 16384  # -6 dBFS
SILENCE = 300  # |sample| below this (before normalising) counts as silence when trimming
WORDS_PER_MINUTE = 150  # a little slower than espeak's default: each digit is clearly separate


def speak(word, voice):
    """espeak-ng's rendering of word as float samples at 16 kHz."""
    result = subprocess.run(["espeak-ng", "-v", voice, "-s", str(WORDS_PER_MINUTE), "--stdout", word],
                            capture_output=True, check=True)
    with wave.open(io.BytesIO(result.stdout)) as wav:
        rate = wav.getframerate()
        samples = np.frombuffer(wav.readframes(wav.getnframes()), dtype="<i2").astype(np.float32)
    return soxr.resample(samples, rate, SAMPLE_RATE)


def clip_pcm(samples):
    loud = np.flatnonzero(np.abs(samples) > SILENCE)
    if not len(loud):
        raise SystemExit("espeak-ng produced silence: check `espeak-ng -v en-us one` works")
    start = max(0, loud[0] - 160)  # keep 10 ms before and after the word so consonants are not clipped
    end = min(len(samples), loud[-1] + 160)
    trimmed = samples[start:end]
    scaled = trimmed * (PEAK / np.abs(trimmed).max())
    return np.round(scaled).astype("<i2").tobytes()


def main(argv=None):
    parser = argparse.ArgumentParser(description="Generate the spoken digit clips for the passkey.")
    parser.add_argument("--out", default=str(ROOT / "build" / "firmware" / "clips"))
    parser.add_argument("--voice", default="en-us")
    parser.add_argument("--json", action="store_true", help="print one JSON object: file -> bytes")
    args = parser.parse_args(argv)
    if shutil.which("espeak-ng") is None:
        raise SystemExit("espeak-ng not found: apt-get install espeak-ng")
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    sizes = {}
    for digit, word in enumerate(WORDS):
        path = out / ("digit_%d.pcm" % digit)
        path.write_bytes(clip_pcm(speak(word, args.voice)))
        sizes[path.name] = path.stat().st_size
    if args.json:
        print(json.dumps({"dir": str(out), "files": sizes}, sort_keys=True))
    else:
        for name, size in sorted(sizes.items()):
            print("%7d  %s  (%.2f s)" % (size, name, size / 2 / SAMPLE_RATE))
    return 0


if __name__ == "__main__":
    sys.exit(main())
