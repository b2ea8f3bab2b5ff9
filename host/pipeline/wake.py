"""Wake-word stage: openWakeWord (onnx) on 80 ms frames -> WakeDetected events.

`WakeModel` loads the onnx sessions once; every earbud gets its own `WakeWordDetector` with its own stream
buffers but the same sessions (onnxruntime sessions are stateless and safe to share), so a second earbud costs
buffers, not another model load. The scoring itself (openWakeWord's features on two grids) is in wake_scoring.py.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections import deque
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

from host.pipeline.clock import AudioClock
from host.pipeline.messages import SAMPLE_RATE, WakeDetected
from host.pipeline.wake_load import LoadShedder
from host.pipeline.wake_scoring import FRAME_SAMPLES, WakeScorer, WakeStream

log = logging.getLogger(__name__)

UNSURE_HOLD_BLOCKS = 6  # a score over `threshold_now` but under `threshold` is reported once it stops rising, or
# after this many blocks (480 ms) of rising


class WakeModel:
    """The loaded openWakeWord models (shared, read-only)."""

    def __init__(self, model_path: Path, melspec_path: Path, embedding_path: Path):
        from openwakeword.model import Model  # imported here: loading onnxruntime takes a while

        # onnx explicitly, with explicit feature models: openWakeWord would otherwise reach for tflite (which
        # crashes with numpy 2) and for models it expects a hub download to have put beside itself.
        self._prototype = Model(
            wakeword_models=[str(model_path)],
            inference_framework="onnx",
            melspec_model_path=str(melspec_path),
            embedding_model_path=str(embedding_path),
            ncpu=1,
        )
        self.name = next(iter(self._prototype.models))
        self.path = Path(model_path)
        self.scorer = WakeScorer(self._prototype, self.name)


class WakeWordDetector:
    """Feeds PCM to openWakeWord and reports each detection once.

    threshold: score that counts as a detection. refractory_s: after a detection, further ones are ignored this
    long (one utterance of the wake word gives several high-scoring frames). startup_guard_s: scores in the first
    seconds after start are ignored (openWakeWord's buffers start as noise and can spike)."""

    def __init__(self, model: WakeModel, threshold: float = 0.5, refractory_s: float = 2.0,
                 startup_guard_s: float = 1.6, clock: AudioClock | None = None):
        self.model = model
        self.threshold = threshold
        self.refractory_s = refractory_s
        self.startup_guard_s = startup_guard_s
        self.stream = model.scorer.new_stream()
        # A session passes its clock (and advances it); alone, the detector keeps one of its own.
        self.clock = clock or AudioClock()
        self._own_clock = clock is None
        self._pending = np.zeros(0, dtype=np.int16)
        self._heard = 0  # samples judged since this detector was made: its warm-up, for the start-up guard
        self._last_detection_s = -1e9
        self.frames_scored = 0
        self.max_score = 0.0
        # A lower threshold for now, set by the caller (the session, while a reply plays: its echo lowers the scores).
        # A score over it but under `threshold` is held while the scores rise: if they go on to reach `threshold`,
        # the detection is a sure one (the caller acts at once on those); else it is reported at their peak.
        self.threshold_now: float | None = None
        self._unsure: tuple[float, int] | None = None  # best score under threshold so far, blocks since the first

    def process(self, pcm: bytes) -> list[WakeDetected]:
        """Score new audio (16 kHz 16-bit mono, any length); returns the detections it completes."""
        detections = []
        for block, end_s in self._blocks(pcm):
            [score] = self.model.scorer.score([(self.stream, block)])
            self.frames_scored += 1
            self._judge(score, end_s, detections)
        return detections

    def _blocks(self, pcm: bytes) -> list[tuple[np.ndarray, float]]:
        """The whole 80 ms blocks `pcm` completes, each with the audio time at its end; a partial block waits for
        the next call."""
        if self._own_clock:
            self.clock.advance(len(pcm))
        samples = np.frombuffer(pcm, dtype="<i2")
        if self._pending.size:
            samples = np.concatenate([self._pending, samples])
        usable = samples.size - samples.size % FRAME_SAMPLES
        self._pending = samples[usable:].copy()
        return [(samples[start: start + FRAME_SAMPLES], self.clock.time_at(2 * (samples.size - start - FRAME_SAMPLES)))
                for start in range(0, usable, FRAME_SAMPLES)]

    def _judge(self, score: float, end_s: float, detections: list[WakeDetected]) -> None:
        """Turn the score of the block ending at `end_s` into a detection, past the start-up guard and refractory."""
        self._heard += FRAME_SAMPLES
        if self._heard / SAMPLE_RATE <= self.startup_guard_s:
            return
        now = end_s
        self.max_score = max(self.max_score, score)
        if now - self._last_detection_s < self.refractory_s:
            return
        if self.threshold_now is None:
            self._unsure = None  # the lower threshold is no longer in force
        if score >= self.threshold:
            self._detect(score, now, detections)
        elif self._unsure is not None:
            best, blocks = self._unsure
            if score <= best or blocks + 1 >= UNSURE_HOLD_BLOCKS:  # past its peak: as sure as it gets
                self._detect(max(best, score), now, detections)
            else:
                self._unsure = (score, blocks + 1)
        elif self.threshold_now is not None and score >= self.threshold_now:
            self._unsure = (score, 0)

    def _detect(self, score: float, now: float, detections: list[WakeDetected]) -> None:
        self._last_detection_s = now
        self._unsure = None
        detections.append(WakeDetected(self.model.name, score, now))

    def process_silence(self, n_bytes: int) -> None:
        """Advance over audio the detector must not hear (a reply playing, the user talking to the assistant):
        it hears silence instead, so its buffers stay warm and the old audio is flushed out."""
        self.process(bytes(n_bytes - n_bytes % 2))


def wake_threads() -> None:
    """Keep onnxruntime from starting a thread pool per session on small machines (set before sessions load)."""
    os.environ.setdefault("OMP_NUM_THREADS", "1")


# ---- many streams at once ------------------------------------------------------------------------------------

BLOCK_S = FRAME_SAMPLES / SAMPLE_RATE
FASTER_THAN_REAL_TIME_S = 1.0  # audio this far ahead of the wall clock is not a live earbud's: it may wait
STALL_WAITS = 20  # x 0.1 s without any block scored: the worker is stuck, stop waiting for it


class WakeBatcher:
    """Scores 80 ms blocks of many streams together: one embedding inference (two thirds of the cost) for all of
    them (the melspectrogram and the wake-word model take one stream at a time), in a worker thread, so onnxruntime
    (which releases the GIL) runs on the other core while the event loop keeps moving audio.

    The worker wakes every `tick_s` and scores everything queued since: with many streams that is one batch per
    tick instead of one inference per stream and block.

    Batching saves little of the embedding's cost (1.6 ms a stream and block on these machines, 32 streams 47-53
    ms at once), so a large batch is split over `threads` threads: onnxruntime releases the GIL, and on a machine
    with a core to spare the scoring of 40 earbuds no longer has to fit in one core's 80 ms."""

    SPLIT_FROM = 8  # streams in a round: smaller rounds are scored in one piece (a thread hand-off costs more)

    def __init__(self, model: WakeModel, tick_s: float = 0.02, threads: int | None = None):
        self.model = model
        self.scorer = model.scorer
        self.tick_s = tick_s
        self.threads = max(1, min(2, os.cpu_count() or 1) if threads is None else threads)
        self._pool = ThreadPoolExecutor(self.threads - 1, thread_name_prefix="wake-batcher") \
            if self.threads > 1 else None
        self._queue: list[tuple[BatchedWakeDetector, np.ndarray, float]] = []  # (detector, block, queued at)
        self.load = LoadShedder()
        self._cond = threading.Condition()
        self._thread: threading.Thread | None = None
        self._closed = False
        self.stats = {"batches": 0, "blocks": 0, "largest_batch": 0}

    def new_stream(self) -> WakeStream:
        return self.scorer.new_stream()

    def score(self, items: list[tuple[WakeStream, np.ndarray]]) -> list[float]:
        """Advance each stream by one block and return its scores (the worker calls this; tests call it too).
        Each stream appears at most once; streams are independent, so the batch can be scored in pieces."""
        if self._pool is None or len(items) < self.SPLIT_FROM:
            return self.scorer.score(items)
        half = (len(items) + 1) // 2
        other = self._pool.submit(self.scorer.score, items[half:])
        return self.scorer.score(items[:half]) + other.result()

    # -- the worker --
    def submit(self, detector: BatchedWakeDetector, block: np.ndarray) -> None:
        with self._cond:
            if self._thread is None:
                self._thread = threading.Thread(target=self._work, name="wake-batcher", daemon=True)
                self._thread.start()
            self._queue.append((detector, block, time.monotonic()))
            self._cond.notify_all()

    def _work(self) -> None:
        next_run = time.monotonic()
        idle_since = next_run
        while True:
            with self._cond:
                while not self._queue and not self._closed:
                    self._cond.wait()
                if self._closed:
                    return
            # Gather what the other streams deliver during this tick, then score it all at once.
            next_run = max(next_run + self.tick_s, time.monotonic())
            time.sleep(max(0.0, next_run - time.monotonic()))
            with self._cond:
                queued, self._queue = self._queue, []
            started = time.monotonic()
            oldest = min(queued_at for _, _, queued_at in queued)
            while queued:  # rounds: a stream that queued several blocks has them scored in order
                this_round, later, seen = [], [], set()
                for detector, block, _ in queued:
                    (later if id(detector) in seen else this_round).append((detector, block, 0.0))
                    seen.add(id(detector))
                queued = later
                try:
                    scores = self.score([(detector.stream, block) for detector, block, _ in this_round])
                except Exception:  # noqa: BLE001 - a failed batch costs those blocks, never the worker
                    log.exception("wake-word batch failed")
                    scores = [0.0] * len(this_round)
                self.stats["batches"] += 1
                self.stats["blocks"] += len(this_round)
                self.stats["largest_batch"] = max(self.stats["largest_batch"], len(this_round))
                for (detector, _, _), score in zip(this_round, scores):
                    try:
                        detector._deliver(score)
                    except Exception:  # noqa: BLE001 - one stream's trouble must not stop the others' scoring
                        log.exception("wake-word score not delivered")
            done = time.monotonic()
            self.load.observe(lag_s=done - oldest, busy=(done - started) / max(done - idle_since, 1e-6), now=done)
            idle_since = done

    def close(self) -> None:
        with self._cond:
            self._closed = True
            self._cond.notify_all()
        if self._thread is not None:
            self._thread.join(2.0)
        if self._pool is not None:
            self._pool.shutdown(wait=False)


class BatchedWakeDetector(WakeWordDetector):
    """A WakeWordDetector whose blocks are scored by a shared WakeBatcher.

    `process` queues the audio and returns the detections scored since the last call: a detection arrives a tick
    or two after its block (its `time_s` is still the block's, so the caller can tell how long ago it was said).
    A stream fed in real time never waits for the worker: `process` runs on the event loop that moves every
    earbud's audio, and waiting there for one stream's scoring stalled all of them (the capacity bench saw frames
    arrive 7-12 s late at 32 earbuds while the worker was idle a third of the time); a machine that cannot keep up
    makes the scoring's lag grow instead, and the load shedder (wake_load.py) stops scoring the newest earbud.
    Only audio fed faster than real time (tests, files, the silence a fresh detector settles on) waits once it is
    more than `max_pending` blocks ahead, so its detections come in step with its audio."""

    def __init__(self, batcher: WakeBatcher, threshold: float = 0.5, refractory_s: float = 2.0,
                 startup_guard_s: float = 1.6, max_pending: int = 2, clock: AudioClock | None = None):
        super().__init__(batcher.model, threshold, refractory_s, startup_guard_s, clock)
        self.batcher = batcher
        batcher.load.add(self.clock)  # the session's clock outlives this detector (a fresh one after quiet)
        self.max_pending = max_pending
        self._started: float | None = None  # monotonic time of the first block: how fast the audio comes
        self._submitted = 0  # blocks queued
        self.stalls = 0
        self._scores: deque[float] = deque()
        self._block_ends: deque[float] = deque()  # audio time at the end of each submitted block, in order
        self._drained = threading.Condition()
        # (audio time at the end of the block, wall time its score was ready) per block; the capacity bench sets
        # it to a deque to see how far behind the scoring runs.
        self.scored_log: deque[tuple[float, float]] | None = None

    def process(self, pcm: bytes) -> list[WakeDetected]:
        for block, end_s in self._blocks(pcm):
            if not self.batcher.load.scored(self.clock):  # over capacity: this earbud is shed (wake_load.py)
                continue
            if self._started is None:
                self._started = time.monotonic()
            if self._submitted * BLOCK_S - (time.monotonic() - self._started) > FASTER_THAN_REAL_TIME_S:
                self._wait_for_scores()
            self._submitted += 1
            self._block_ends.append(end_s)
            self.batcher.submit(self, block)
        return self._collect()

    def _wait_for_scores(self) -> None:
        """Audio fed faster than real time: wait until at most `max_pending` blocks are unscored."""
        with self._drained:
            waited = 0
            while self._submitted - self.frames_scored > self.max_pending and waited < STALL_WAITS:
                if not self._drained.wait(0.1):
                    waited += 1
            if waited >= STALL_WAITS:  # the worker is not answering: go on rather than stop the bridge
                self.stalls += 1
                log.warning("wake-word scoring is %d blocks behind", self._submitted - self.frames_scored)

    def _deliver(self, score: float) -> None:
        """Called by the worker thread with the score of this stream's next block."""
        with self._drained:
            self._scores.append(score)
            self.frames_scored += 1
            if self.scored_log is not None:
                self.scored_log.append((self.frames_scored * BLOCK_S, time.time()))
            self._drained.notify_all()

    def _collect(self) -> list[WakeDetected]:
        detections = []
        while True:
            with self._drained:
                if not self._scores:
                    return detections
                score = self._scores.popleft()
            self._judge(score, self._block_ends.popleft(), detections)
