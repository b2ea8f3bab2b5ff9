"""Wake-word stage: openWakeWord (onnx) on 80 ms frames -> WakeDetected events.

`WakeModel` loads the onnx sessions once; every earbud gets its own `WakeWordDetector` with its own audio
buffers but the same sessions (onnxruntime sessions are stateless and safe to share), so a second earbud costs
buffers, not another model load.
"""

from __future__ import annotations

import copy
import logging
import os
from collections import defaultdict, deque
from functools import partial
from pathlib import Path

import numpy as np

from host.pipeline.messages import SAMPLE_RATE, WakeDetected

log = logging.getLogger(__name__)

FRAME_SAMPLES = 1280  # openWakeWord scores one 80 ms frame at a time


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

    def new_state(self):
        """An openWakeWord Model sharing this one's onnx sessions, with fresh buffers of its own."""
        model = copy.copy(self._prototype)
        model.preprocessor = copy.copy(self._prototype.preprocessor)
        model.prediction_buffer = defaultdict(partial(deque, maxlen=30))
        # Everything the preprocessor mutates in place must be its own; reset() replaces the rest.
        model.preprocessor.raw_data_buffer = deque(maxlen=self._prototype.preprocessor.raw_data_buffer.maxlen)
        model.preprocessor.reset()
        return model


class WakeWordDetector:
    """Feeds PCM to openWakeWord and reports each detection once.

    threshold: score that counts as a detection. refractory_s: after a detection, further ones are ignored this
    long (one utterance of the wake word gives several high-scoring frames). startup_guard_s: scores in the first
    seconds after start are ignored (openWakeWord's buffers start as noise and can spike)."""

    def __init__(self, model: WakeModel, threshold: float = 0.5, refractory_s: float = 2.0,
                 startup_guard_s: float = 1.6):
        self.model = model
        self.threshold = threshold
        self.refractory_s = refractory_s
        self.startup_guard_s = startup_guard_s
        self._oww = model.new_state()
        self._pending = np.zeros(0, dtype=np.int16)
        self._samples = 0
        self._last_detection_s = -1e9
        self.frames_scored = 0
        self.max_score = 0.0

    @property
    def time_s(self) -> float:
        return self._samples / SAMPLE_RATE

    def process(self, pcm: bytes) -> list[WakeDetected]:
        """Score new audio (16 kHz 16-bit mono, any length); returns the detections it completes."""
        samples = np.frombuffer(pcm, dtype="<i2")
        if self._pending.size:
            samples = np.concatenate([self._pending, samples])
        usable = samples.size - samples.size % FRAME_SAMPLES
        self._pending = samples[usable:].copy()
        detections = []
        for start in range(0, usable, FRAME_SAMPLES):
            scores = self._oww.predict(samples[start: start + FRAME_SAMPLES])
            self._samples += FRAME_SAMPLES
            self.frames_scored += 1
            score = float(scores.get(self.model.name, 0.0))
            now = self.time_s
            if now <= self.startup_guard_s:
                continue
            self.max_score = max(self.max_score, score)
            if score >= self.threshold and now - self._last_detection_s >= self.refractory_s:
                self._last_detection_s = now
                detections.append(WakeDetected(self.model.name, score, now))
        return detections

    def process_silence(self, n_bytes: int) -> None:
        """Advance over audio the detector must not hear (a reply playing, the user talking to the assistant):
        it hears silence instead, so its buffers stay warm and the old audio is flushed out."""
        self.process(bytes(n_bytes - n_bytes % 2))


def wake_threads() -> None:
    """Keep onnxruntime from starting a thread pool per session on small machines (set before sessions load)."""
    os.environ.setdefault("OMP_NUM_THREADS", "1")
