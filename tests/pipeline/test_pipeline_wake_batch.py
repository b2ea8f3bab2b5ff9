"""Batched wake-word scoring (many earbuds, one inference per tick) gives what per-stream openWakeWord gives."""

from __future__ import annotations

import asyncio
import copy
import subprocess
import sys
from collections import defaultdict, deque
from functools import partial
from pathlib import Path

import numpy as np
import pytest

from host import models
from host.pipeline.audio import read_wav, silence
from host.pipeline.wake import FRAME_SAMPLES, BatchedWakeDetector, WakeBatcher, WakeModel, WakeWordDetector
from protocol import adpcm

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def jarvis(models_root):
    return WakeModel(models.wake_model_path("hey_jarvis", models_root), models.melspectrogram_path(models_root),
                     models.embedding_path(models_root))


def openwakeword_state(model: WakeModel):
    """openWakeWord's own streaming state, sharing `model`'s onnx sessions (the reference the scorer's first grid
    is checked against)."""
    prototype = model._prototype
    state = copy.copy(prototype)
    state.preprocessor = copy.copy(prototype.preprocessor)
    state.prediction_buffer = defaultdict(partial(deque, maxlen=30))
    # Everything the preprocessor mutates in place must be its own; reset() replaces the rest.
    state.preprocessor.raw_data_buffer = deque(maxlen=prototype.preprocessor.raw_data_buffer.maxlen)
    state.preprocessor.reset()
    return state


def streams_audio(speech) -> list[np.ndarray]:
    """Three different streams: the wake word at different offsets, other talk, and noise."""
    rng = np.random.default_rng(7)
    noise = (rng.standard_normal(16000 * 5) * 300).astype("<i2").tobytes()
    pcm = [silence(2.0) + speech("Hey Jarvis") + silence(2.0),
           silence(1.37) + speech("Hello there, hey Jarvis, what time is it?") + silence(1.0),
           noise]
    n = min(len(p) for p in pcm) // 2
    return [np.frombuffer(p, dtype="<i2")[:n] for p in pcm]


def test_the_first_grid_scores_are_openwakewords_own(jarvis, speech):
    """Batched, three streams at once, the first grid's numbers are those of openWakeWord's streaming predict."""
    audio = streams_audio(speech)
    reference_states = [openwakeword_state(jarvis) for _ in audio]
    batcher = WakeBatcher(jarvis)
    streams = [batcher.new_stream() for _ in audio]
    for stream, state in zip(streams, reference_states):  # openWakeWord starts each stream from random features
        stream.features = state.preprocessor.feature_buffer[-16:].astype(np.float32).copy()
    reference, first_grid = [], []
    for start in range(0, audio[0].size - FRAME_SAMPLES + 1, FRAME_SAMPLES):
        blocks = [a[start: start + FRAME_SAMPLES] for a in audio]
        reference.append([float(s.predict(b)[jarvis.name]) for s, b in zip(reference_states, blocks)])
        batcher.score(list(zip(streams, blocks)))
        first_grid.append([stream.grid_scores[0] for stream in streams])
    reference, first_grid = np.array(reference), np.array(first_grid)
    assert reference.max() > 0.5  # the wake word is in there: the comparison is not of zeros
    np.testing.assert_allclose(first_grid[5:], reference[5:], atol=1e-5)  # openWakeWord's first five are 0


@pytest.mark.e2e  # starts processes
def bridge_voice(text: str, models_root: Path, tmp_path: Path) -> bytes:
    """What a freshly started bridge says second, made in a process of its own. espeak-ng's samples depend on the
    process (they drift a little from call to call, and with the floating-point mode the other engines' libraries
    set): a fresh process that loads the engines as the bridge does, says one sentence, then `text`, makes the
    audio, and this test, reproducible. (The sentence before is the audio this test was built on: the engine used
    to say "Ready." when it started.)"""
    wav = tmp_path / "said.wav"
    code = ("import sys; from pathlib import Path; from host.config import Config; from host.system.demo import write_wav; "
            "from host.pipeline.engines import Engines; tts = Engines.load(Config(), Path(sys.argv[3]), conversation_model=False).tts; "
            "tts.synthesize('Ready.'); write_wav(sys.argv[1], tts.synthesize(sys.argv[2]))")
    subprocess.run([sys.executable, "-c", code, str(wav), text, str(models_root)], check=True, cwd=REPO,
                   capture_output=True)
    return read_wav(wav)


def test_the_second_grid_finds_the_wake_word_where_the_first_grid_misses_it(jarvis, models_root, tmp_path):
    """Where the 80 ms grid falls in the speech changes openWakeWord's score: with the wake word started at each
    10 ms position in turn, the first grid alone misses at some; first and second grid together at none. The
    question is the companion's own voice (as the turn benchmark asks it), through ADPCM as the link carries it."""
    said = adpcm.decode(adpcm.encode(bridge_voice("Hey Jarvis, what time is it?", models_root, tmp_path))[0])[0]
    firsts, combined = [], []
    for shift_ms in range(0, 80, 10):
        detector = WakeWordDetector(jarvis)
        audio = silence(2.0 + shift_ms / 1000) + said + silence(1.0)
        grid_scores = []
        for start in range(0, len(audio) - 2 * FRAME_SAMPLES, 2 * FRAME_SAMPLES):
            detector.process(audio[start: start + 2 * FRAME_SAMPLES])
            grid_scores.append(detector.stream.grid_scores)
        firsts.append(max(first for first, _ in grid_scores))
        combined.append(detector.max_score)
    assert min(firsts) < 0.5 < min(combined), (firsts, combined)
    assert jarvis.scorer.second_grid_starts >= 8  # it started for each utterance, and only then


def test_the_second_grid_does_not_run_on_other_speech(jarvis, speech):
    """It costs a second embedding per block: it must not run for talk that is not the wake word."""
    detector = WakeWordDetector(jarvis)
    starts = jarvis.scorer.second_grid_starts
    detector.process(silence(2.0) + speech("The weather is lovely today. Could you pass the salt, please? "
                                           "My train leaves at half past nine.") + silence(1.0))
    assert jarvis.scorer.second_grid_starts == starts and detector.stream.second_features is None


def test_a_stream_behind_the_others_is_scored_in_order(jarvis, speech):
    """Two blocks of one stream in one batch round must not be mixed up: rounds keep each stream's order."""
    audio = streams_audio(speech)[0]
    batcher = WakeBatcher(jarvis)
    one, other = batcher.new_stream(), batcher.new_stream()
    other.features = one.features.copy()
    blocks = [audio[i: i + FRAME_SAMPLES] for i in range(0, audio.size - FRAME_SAMPLES + 1, FRAME_SAMPLES)]
    expected = [batcher.score([(one, block)])[0] for block in blocks]
    detector = BatchedWakeDetector(batcher, startup_guard_s=0.0)
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


def test_a_large_batch_scored_on_two_threads_gives_the_scores_of_one_piece(jarvis, speech):
    """Past SPLIT_FROM streams a round is split over two threads; every stream must still get its own scores."""
    audio = streams_audio(speech) * 4  # 12 streams: the wake word, talk and noise, four times each
    split, whole = WakeBatcher(jarvis, threads=2), WakeBatcher(jarvis, threads=1)
    assert len(audio) >= split.SPLIT_FROM
    split_streams = [split.new_stream() for _ in audio]
    whole_streams = [whole.new_stream() for _ in audio]
    for a, b in zip(split_streams, whole_streams):
        b.features = a.features.copy()
    got, expected = [], []
    for offset in range(0, audio[0].size - FRAME_SAMPLES + 1, FRAME_SAMPLES):
        blocks = [a[offset: offset + FRAME_SAMPLES] for a in audio]
        got.append(split.score(list(zip(split_streams, blocks))))
        expected.append(whole.score(list(zip(whole_streams, blocks))))
    split.close()
    whole.close()
    np.testing.assert_allclose(got, expected, atol=1e-6)
    assert max(max(row) for row in got) > 0.5  # the wake word streams really were heard
