"""faster-whisper (CTranslate2) recognizer: accurate on short commands, not streaming.

Whisper's encoder is fed 30 s of features whatever the utterance's length (faster-whisper pads every window to
3000 frames): for a 1.5 s question that is ~200 ms of encoding on 2 cores, most of it spent on padding. The
CTranslate2 encoder takes shorter inputs, so a short utterance is encoded with only its own frames plus PAD_S
of padding (~100 ms instead of ~200 ms for a short command) and decoded greedily in one call. Long audio (over SHORT_AUDIO_S), or a
decode that loops, takes faster-whisper's ordinary 30 s windows.
"""

from __future__ import annotations

import math
import os
import zlib
from pathlib import Path

import numpy as np

from host.pipeline.asr.base import AsrEngine

SHORT_AUDIO_S = 14.0  # up to this long, one shortened window; longer audio goes through faster-whisper's windows
# Silence after the speech in the shortened window. Whisper learned on 30 s windows that speech is followed by a
# long stretch of padding: with 1-4 s it loops ("5 5 5 5 ..."); with 8-12 s the corpus WER is that of 30 s windows
# but some espeak commands come out garbled ("Head Jarvis, set at timer 45 minutes"); 16 s gives what 30 s give.
PAD_S = 16.0
FRAMES_PER_S = 100  # whisper's mel frames per second
MAX_TOKENS = 200
TOKENS_PER_S = 8.0  # twice a fast speaker's rate
MAX_COMPRESSION_RATIO = 2.4  # faster-whisper's threshold for "repetitive": the decode looped
# faster-whisper's rule for "nobody spoke": likely no speech and an unsure transcript.
NO_SPEECH_PROB = 0.6
LOW_AVG_LOGPROB = -1.0


def compression_ratio(text: str) -> float:
    data = text.encode("utf-8")
    return len(data) / len(zlib.compress(data)) if data else 0.0


def default_cpu_threads() -> int:
    return max(1, min(4, os.cpu_count() or 1))


class WhisperEngine(AsrEngine):
    name = "whisper"
    streaming = False
    speculative = True

    def __init__(self, model_dir: Path, language: str = "en", cpu_threads: int | None = None):
        super().__init__()
        from faster_whisper import WhisperModel  # heavy import: only when this engine is chosen

        self.model_dir = Path(model_dir)
        self.language = language
        # int8: ~2x faster than float32 on CPU for tiny.en with the same transcripts of short commands.
        self._model = WhisperModel(str(model_dir), device="cpu", compute_type="int8",
                                   cpu_threads=cpu_threads or default_cpu_threads())
        self._prompt: list[int] | None = None

    def transcribe(self, pcm: bytes) -> str:
        self.runs += 1
        if len(pcm) < 3200:  # under 0.1 s: nothing to recognize, and whisper would invent words
            return ""
        audio = np.frombuffer(pcm, dtype="<i2").astype(np.float32) / 32768.0
        if audio.size / 16000 <= SHORT_AUDIO_S:
            text = self._transcribe_short(audio)
            if text is not None:
                return text
        segments, _ = self._model.transcribe(
            audio, language=self.language, beam_size=1, without_timestamps=True,
            condition_on_previous_text=False, vad_filter=False)
        return " ".join(segment.text.strip() for segment in segments).strip()

    def _transcribe_short(self, audio: np.ndarray) -> str | None:
        """The text, or None when the short window went wrong (a repetition loop): then the caller decodes the
        ordinary way, which has faster-whisper's temperature fallback."""
        from faster_whisper.transcribe import get_ctranslate2_storage

        features = self._model.feature_extractor(audio)
        content = features.shape[-1] - 1  # as faster-whisper counts: the last frame is the extractor's padding
        # Whole seconds of window: a handful of distinct shapes, and at least PAD_S of silence after the speech.
        frames = min(3000, math.ceil((content + PAD_S * FRAMES_PER_S) / FRAMES_PER_S) * FRAMES_PER_S)
        window = np.zeros((features.shape[0], frames), dtype=np.float32)
        window[:, :content] = features[:, :content]  # zeros after it: the padding faster-whisper gives 30 s windows
        storage = get_ctranslate2_storage(np.expand_dims(window, 0))
        # Speech carries ~4 tokens a second: a decode far longer than that is looping, not transcribing.
        max_tokens = min(MAX_TOKENS, 12 + math.ceil(TOKENS_PER_S * audio.size / 16000))
        result = self._model.model.generate(
            storage, [self._sot_prompt()], beam_size=1, max_length=len(self._sot_prompt()) + max_tokens, return_scores=True,
            return_no_speech_prob=True, suppress_blank=True, suppress_tokens=[-1])[0]
        tokens = [t for t in result.sequences_ids[0] if t < self._eot()]
        if tokens:
            avg_logprob = result.scores[0] * len(tokens) / (len(tokens) + 1)
            if result.no_speech_prob > NO_SPEECH_PROB and avg_logprob < LOW_AVG_LOGPROB:
                return ""
        text = self._model.hf_tokenizer.decode(tokens).strip()
        if len(tokens) >= max_tokens or compression_ratio(text) > MAX_COMPRESSION_RATIO:
            return None
        return text

    def _eot(self) -> int:
        return self._model.hf_tokenizer.token_to_id("<|endoftext|>")

    def _sot_prompt(self) -> list[int]:
        if self._prompt is None:
            from faster_whisper.tokenizer import Tokenizer

            tokenizer = Tokenizer(self._model.hf_tokenizer, self._model.model.is_multilingual, task="transcribe",
                                  language=self.language if self._model.model.is_multilingual else "en")
            self._prompt = [*tokenizer.sot_sequence, tokenizer.no_timestamps]
        return self._prompt
