"""Has the speaker finished their turn? Smart Turn v3.2 (Pipecat, BSD-2-Clause) judges it from the sound of speech.

Silence alone cannot tell "set a timer for five minutes" (done) from "set a timer for… uh…" (not done); Smart Turn
hears intonation and words trailing off. It is a small Whisper-encoder classifier: the last 8 s of the utterance
(zero-padded in front when shorter), as Whisper log-mel features of waveform normalized to zero mean and unit
variance, give the probability that the turn is complete. The audio preparation follows Pipecat's
`LocalSmartTurnAnalyzerV3`; the features are faster-whisper's extractor (numerically the same as the vendored
transformers code Pipecat uses, within 1e-6). The model file comes from the `pipecat-ai` wheel (host.models).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from host.pipeline.messages import SAMPLE_RATE

WINDOW_S = 8  # the model hears this much of the end of the utterance
NORMALIZE_EPS = 1e-7


class TurnCompletion:
    """`probability(pcm)`: how likely the utterance in 16 kHz 16-bit PCM is a complete turn (0..1). ~0.1 s a call
    on one thread; blocking, so call it off the event loop."""

    def __init__(self, model_path: Path, threads: int = 1):
        import onnxruntime
        from faster_whisper.feature_extractor import FeatureExtractor

        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = threads  # the other core stays with wake-word scoring
        options.inter_op_num_threads = 1
        options.execution_mode = onnxruntime.ExecutionMode.ORT_SEQUENTIAL
        self._session = onnxruntime.InferenceSession(str(model_path), options, providers=["CPUExecutionProvider"])
        self._input = self._session.get_inputs()[0].name
        self._features = FeatureExtractor(feature_size=80, sampling_rate=SAMPLE_RATE, hop_length=160,
                                          chunk_length=WINDOW_S, n_fft=400)
        self.runs = 0

    def probability(self, pcm: bytes) -> float:
        self.runs += 1
        audio = np.frombuffer(pcm, dtype="<i2").astype(np.float32) / 32768.0
        window = WINDOW_S * SAMPLE_RATE
        audio = audio[-window:]
        audio = np.pad(audio, (window - len(audio), 0))  # silence in front: the end must stay at the end
        audio = (audio - audio.mean()) / np.sqrt(audio.var() + NORMALIZE_EPS)
        features = self._features(audio, padding=0)[None, :, : WINDOW_S * 100].astype(np.float32)
        return float(np.asarray(self._session.run(None, {self._input: features})[0]).reshape(-1)[0])


def load_turn_completion(models_root: Path | None = None) -> TurnCompletion:
    """The installed Smart Turn model. Raises models.ModelError naming what to install."""
    from host import models

    return TurnCompletion(models.smart_turn_path(models_root))
