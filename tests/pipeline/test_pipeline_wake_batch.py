"""Batched wake-word scoring (many earbuds, one inference per tick) gives what per-stream openWakeWord gives."""

from __future__ import annotations

import asyncio

import numpy as np
import pytest

from host import models
from host.pipeline.audio import silence
from host.pipeline.wake import FRAME_SAMPLES, BatchedWakeDetector, WakeBatcher, WakeModel, WakeWordDetector


@pytest.fixture(scope="module")
def jarvis(models_root):
    return WakeModel(models.wake_model_path("hey_jarvis", models_root), models.melspectrogram_path(models_root),
                     models.embedding_path(models_root))


def streams_audio(speech) -> list[np.ndarray]:
    """Three different streams: the wake word at different offsets, other talk, and noise."""
    rng = np.random.default_rng(7)
    noise = (rng.standard_normal(16000 * 5) * 300).astype("<i2").tobytes()
    pcm = [silence(2.0) + speech("Hey Jarvis") + silence(2.0),
           silence(1.37) + speech("Hello there, hey Jarvis, what time is it?") + silence(1.0),
           noise]
    n = min(len(p) for p in pcm) // 2
    return [np.frombuffer(p, dtype="<i2")[:n] for p in pcm]


def test_batched_scores_are_the_per_stream_scores(jarvis, speech):
    audio = streams_audio(speech)
    plain = [WakeWordDetector(jarvis, startup_guard_s=0.0) for _ in audio]
    batcher = WakeBatcher(jarvis)
    streams = [batcher.new_stream() for _ in audio]
    for stream, detector in zip(streams, plain):  # openWakeWord starts each stream from random features
        stream.features = detector._oww.preprocessor.feature_buffer[-16:].astype(np.float32).copy()
    reference, batched = [], []
    for start in range(0, audio[0].size - FRAME_SAMPLES + 1, FRAME_SAMPLES):
        blocks = [a[start: start + FRAME_SAMPLES] for a in audio]
        reference.append([float(d._oww.predict(b)[jarvis.name]) for d, b in zip(plain, blocks)])
        batched.append(batcher.score(list(zip(streams, blocks))))
    reference, batched = np.array(reference), np.array(batched)
    assert reference.max() > 0.5  # the wake word is in there: the comparison is not of zeros
    np.testing.assert_allclose(batched, reference, atol=1e-5)


def test_a_stream_behind_the_others_is_scored_in_order(jarvis, speech):
    """Two blocks of one stream in one batch round must not be mixed up: rounds keep each stream's order."""
    audio = streams_audio(speech)[0]
    batcher = WakeBatcher(jarvis)
    one, other = batcher.new_stream(), batcher.new_stream()
    other.features = one.features.copy()
    blocks = [audio[i: i + FRAME_SAMPLES] for i in range(0, audio.size - FRAME_SAMPLES + 1, FRAME_SAMPLES)]
    expected = [batcher.score([(one, block)])[0] for block in blocks]
    detector = BatchedWakeDetector(batcher, startup_guard_s=0.0, max_pending=len(blocks))
    detector.stream.features = other.features.copy()
    got: list[float] = []
    deliver = detector._deliver
    detector._deliver = lambda score: (got.append(score), deliver(score))
    detector.process(audio.tobytes())  # every block queued at once: the worker takes them in several rounds
    while detector.frames_scored < len(blocks):
        with detector._drained:
            detector._drained.wait(1.0)
    batcher.close()
    np.testing.assert_allclose(got, expected, atol=1e-6)


def test_batched_detectors_report_the_detections_of_plain_ones(jarvis, speech):
    audio = streams_audio(speech)
    expected = [[round(d.time_s, 2) for d in WakeWordDetector(jarvis).process(a.tobytes())] for a in audio]
    assert expected[0] and expected[1] and not expected[2]
    batcher = WakeBatcher(jarvis, tick_s=0.01)
    detectors = [BatchedWakeDetector(batcher) for _ in audio]

    async def feed_in_real_time_ish() -> list[list[float]]:
        found: list[list[float]] = [[] for _ in audio]
        chunk = 640  # 20 ms frames, as the link delivers them
        for offset in range(0, audio[0].size * 2, chunk):
            for i, (detector, pcm) in enumerate(zip(detectors, audio)):
                found[i] += [round(d.time_s, 2) for d in detector.process(pcm.tobytes()[offset: offset + chunk])]
            await asyncio.sleep(0)
        for i, detector in enumerate(detectors):  # what is still being scored
            while detector.frames_scored < detector._submitted:
                await asyncio.sleep(0.01)
            found[i] += [round(d.time_s, 2) for d in detector.process(b"")]
        return found

    found = asyncio.run(feed_in_real_time_ish())
    batcher.close()
    assert found == expected
    assert batcher.stats["largest_batch"] >= 2  # the streams really were scored together
