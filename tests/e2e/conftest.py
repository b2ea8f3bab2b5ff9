"""End-to-end fixtures (tests/system_rig.py): the radio, a simulated earbud and `earpiece run` as separate
processes, as a user runs them, with transcripts kept so the bridge's log shows what was heard and said.

    system = start_system(silence(LEAD_IN_S) + speak("Hey Jarvis, what time is it?"))
    system.wait_for_turn()             # a line `turn (...)` in the bridge's log
    system.stop()                      # bridge, earbud, radio; the speaker WAV is complete after this
"""

from __future__ import annotations

import numpy as np
import pytest

from tests.system_rig import NO_CONVERSATION_MODEL, System

LEAD_IN_S = 2.0  # the wake word model ignores the first ~1.6 s of a stream
# The earbud's speaker leaks into its mic: 20 ms later, 10 dB under the speaker, a 150 ms room tail (--echo).
ECHO_PATH = ["--echo", "20:-10:150"]


@pytest.fixture(scope="session")
def speak(speech):
    """speak(text) -> 16 kHz PCM of espeak-ng's default voice ("en") saying it (espeak writes 22050 Hz: the
    resampling is exercised too); cached for the session by tests/conftest.py's `speech`."""
    return lambda text: speech(text, "en")


@pytest.fixture
def start_system(tmp_path, use_models):
    """start_system(mic_pcm) -> a paired System whose bridge has just been started (not waited for)."""
    systems: list[System] = []

    def start(mic_pcm: bytes, earbud_args: list[str] = ()) -> System:
        systems.append(System.start(tmp_path, use_models, mic_pcm, name="Earpiece-E2E",
                                    speaker=tmp_path / "speaker.wav",
                                    config_toml="[privacy]\nstore_transcripts = true\n" + NO_CONVERSATION_MODEL,
                                    earbud_args=earbud_args, wait_connected=False))
        return systems[-1]

    yield start
    for system in systems:
        system.stop()


def voiced_segments(pcm: bytes, rate: int = 16000, threshold: int = 300, gap_s: float = 0.4) -> list[tuple[float, float]]:
    """(start_s, end_s) of the stretches of sound in `pcm`, joining gaps shorter than `gap_s`."""
    samples = np.abs(np.frombuffer(pcm, dtype="<i2").astype(np.int32))
    window = rate // 50
    loud = [samples[i:i + window].mean() > threshold for i in range(0, len(samples) - window, window)]
    segments: list[list[float]] = []
    for index, is_loud in enumerate(loud):
        t = index * window / rate
        if not is_loud:
            continue
        if segments and t - segments[-1][1] <= gap_s:
            segments[-1][1] = t + window / rate
        else:
            segments.append([t, t + window / rate])
    return [(a, b) for a, b in segments]

