"""Measure the earbud core's CPU cost per 20 ms frame on the MicroPython unix port (numbers for the README).

Run from the repository root (python build.py compiles the .mpy it uses; plain sources work too):
  MICROPYPATH=hardware/firmware:tests/firmware:. .venv/bin/micropython hardware/firmware/tools/measure_cost.py
Prints one line per measurement: microseconds per 20 ms frame, median of several runs.
"""
import gc
import time

gc.collect()
_HEAP_AT_START = gc.mem_alloc()

from protocol import adpcm, audio, control, receiver  # noqa: E402,F401 -- everything the core imports

from earbud.core import EarbudCore  # noqa: E402
from earbud_fakes import FakeHal, ramp_pcm  # noqa: E402

FRAMES = 200
RUNS = 5


def _median_us_per_frame(job):
    results = []
    for _ in range(RUNS):
        start = time.ticks_us()
        job()
        results.append(time.ticks_diff(time.ticks_us(), start) / FRAMES)
    results.sort()
    return results[len(results) // 2]


def heap_report():
    gc.collect()
    modules = gc.mem_alloc() - _HEAP_AT_START
    core = EarbudCore(FakeHal())
    core.connected()
    gc.collect()
    instance = gc.mem_alloc() - _HEAP_AT_START - modules
    print("%-52s %8d bytes" % ("heap: protocol + earbud + fakes modules", modules))
    print("%-52s %8d bytes" % ("heap: one EarbudCore (600 ms speaker ring)", instance))


def main():
    heap_report()
    pcm = ramp_pcm(320)

    def encode_only():
        state = None
        for _ in range(FRAMES):
            _, state = adpcm.encode(pcm, state)

    encoder = audio.FrameEncoder()

    def frame_encoder():
        for _ in range(FRAMES):
            encoder.encode(pcm)

    frames = []
    up = audio.FrameEncoder(audio.CODEC_ADPCM, 0)
    for _ in range(FRAMES):
        frames.extend(up.encode(pcm))

    def decode_only():
        for frame in frames:
            audio.decode_frame(frame).pcm()

    class ReadyMic(FakeHal):
        def mic_read(self, n_samples):  # one ready block per tick: time the core's work, not the fake's
            if self.mic_available:
                self.mic_available = False
                return pcm
            return None

    hal = ReadyMic()
    core = EarbudCore(hal)
    core.connected()
    core.set_streaming(True)

    def mic_tick():
        for _ in range(FRAMES):
            hal.mic_available = True
            core.mic_tick()

    def downlink():
        for i in range(FRAMES):
            core.audio_down_written(frames[i])
            core.speaker_pull(320)
            hal.now += 20

    core2 = EarbudCore(FakeHal(state={"volume": 70}))
    core2.connected()

    def speaker_with_cue():
        for i in range(FRAMES):
            if i % 10 == 0:
                core2.control_written(b"\x12\x01\x01")  # PLAY_CUE WAKE: a tone mixed over silence
            core2.speaker_pull(320)

    for name, job in (("adpcm.encode 320 samples", encode_only), ("FrameEncoder.encode 320 samples", frame_encoder),
                      ("decode_frame + pcm (ADPCM)", decode_only), ("core.mic_tick (read + encode)", mic_tick),
                      ("core downlink write + speaker_pull 320 (volume 80)", downlink),
                      ("core.speaker_pull 320 with a cue tone (volume 70)", speaker_with_cue)):
        print("%-52s %8.1f us/frame" % (name, _median_us_per_frame(job)))


main()
