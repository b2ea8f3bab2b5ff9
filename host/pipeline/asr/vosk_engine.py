"""Vosk (Kaldi) recognizer: streaming, with partial results while you speak."""

from __future__ import annotations

import json
from pathlib import Path

from host.pipeline.asr.base import AsrEngine, AsrStream
from host.pipeline.messages import SAMPLE_RATE


class VoskEngine(AsrEngine):
    name = "vosk"
    streaming = True
    speculative = False  # the final result is ready as soon as the stream ends

    def __init__(self, model_dir: Path):
        super().__init__()
        import vosk

        vosk.SetLogLevel(-1)  # Kaldi logs every model load to stderr at length
        self.model_dir = Path(model_dir)
        self._vosk = vosk
        self._model = vosk.Model(str(model_dir))

    def open_stream(self) -> "VoskStream":
        self.runs += 1
        return VoskStream(self._vosk.KaldiRecognizer(self._model, SAMPLE_RATE))

    def transcribe(self, pcm: bytes) -> str:
        stream = self.open_stream()
        for offset in range(0, len(pcm), 8000):
            stream.accept(pcm[offset: offset + 8000])
        return stream.finish()


class VoskStream(AsrStream):
    def __init__(self, recognizer):
        self._recognizer = recognizer
        self._finished_parts: list[str] = []

    def accept(self, pcm: bytes) -> str | None:
        if self._recognizer.AcceptWaveform(pcm):
            # Vosk closed a segment at a pause of its own; keep it and carry on.
            self._finished_parts.append(json.loads(self._recognizer.Result()).get("text", ""))
            return self._joined()
        partial = json.loads(self._recognizer.PartialResult()).get("partial", "")
        return self._joined(partial)

    def finish(self) -> str:
        return self._joined(json.loads(self._recognizer.FinalResult()).get("text", ""))

    def _joined(self, tail: str = "") -> str:
        return " ".join(part for part in [*self._finished_parts, tail] if part).strip()
