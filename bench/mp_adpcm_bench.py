"""ADPCM and frame cost per second of 16 kHz audio, measured inside one interpreter (MicroPython or CPython).

Run by bench_adpcm.py with protocol/'s parent on the path. Prints one JSON object: for each operation the
list of per-repetition costs in microseconds per second of audio. Works the way the earbud does: 50 calls of
20 ms (320 samples) per second, the ADPCM state carried from call to call.
"""
import json
import struct
import sys

from protocol import adpcm, audio
from protocol.receiver import AudioReceiver

try:
    from time import ticks_diff, ticks_us
except ImportError:  # CPython
    from time import perf_counter

    def ticks_us():
        return int(perf_counter() * 1000000)

    def ticks_diff(a, b):
        return a - b

REPETITIONS = int(sys.argv[1]) if len(sys.argv) > 1 else 15
FRAMES_PER_SECOND = 50


def one_second_of_audio():
    """Deterministic speech-like test signal: two sweeping tones plus noise, 320-sample frames."""
    seed = 1
    frames = []
    for f in range(FRAMES_PER_SECOND):
        samples = []
        for i in range(320):
            seed = (seed * 1103515245 + 12345) & 0x7FFFFFFF
            t = f * 320 + i
            a = (t * (7 + f)) % 400
            b = (t * 3) % 160
            tone = (a if a < 200 else 400 - a) * 60 - 6000 + (b if b < 80 else 160 - b) * 40 - 1600
            samples.append(tone + ((seed >> 12) % 2001) - 1000)
        frames.append(struct.pack("<320h", *samples))
    return frames


def measure(function, argument):
    costs = []
    function(argument)  # warm-up
    for _ in range(REPETITIONS):
        start = ticks_us()
        function(argument)
        costs.append(ticks_diff(ticks_us(), start))
    return costs


def encode_second(frames):
    state = None
    for pcm in frames:
        _, state = adpcm.encode(pcm, state)


def decode_second(coded):
    state = None
    for codes in coded:
        _, state = adpcm.decode(codes, state)


def frame_encode_second(frames):
    encoder = audio.FrameEncoder(audio.CODEC_ADPCM)
    for pcm in frames:
        encoder.encode(pcm)


def receive_second(wire):
    receiver = AudioReceiver()
    for data in wire:
        receiver.receive(data)


def main():
    frames = one_second_of_audio()
    coded = []
    state = None
    for pcm in frames:
        codes, state = adpcm.encode(pcm, state)
        coded.append(codes)
    encoder = audio.FrameEncoder(audio.CODEC_ADPCM)
    wire = []
    for pcm in frames:
        wire += encoder.encode(pcm)
    result = {
        "implementation": sys.implementation.name,
        "repetitions": REPETITIONS,
        "us_per_audio_second": {
            "adpcm_encode": measure(encode_second, frames),
            "adpcm_decode": measure(decode_second, coded),
            "frame_encode": measure(frame_encode_second, frames),
            "receive_decode": measure(receive_second, wire),
        },
    }
    print(json.dumps(result))


main()
