"""Only the wearer: an utterance whose voice is not the enrolled one is dropped before recognition.

`[listen] wearer_only` (default on) takes effect once the earbud's wearer has enrolled (`earpiece enroll`). Then
every utterance is judged by its voice (host/pipeline/speaker_check.py) before any recognizer hears it: the
speculative recognition in the hangover, the final one and partial transcripts alike. A bystander's utterance is
counted (`not_wearer`), logged in one line without its words, and its audio is let go.

The speaker model is shared by every earbud and loaded on first need (a second or two, in a thread as soon as a
session finds a voiceprint), so a bridge nobody enrolled with never loads it.
"""

from __future__ import annotations

import asyncio
import logging
import threading

from host.companion.voiceprint import Voiceprints, VoiceprintError
from host.pipeline.speaker_check import SpeakerEmbedder, Verdict, judge

log = logging.getLogger(__name__)

_embedder: SpeakerEmbedder | None = None
_embedder_lock = threading.Lock()


def shared_embedder() -> SpeakerEmbedder:
    """The one speaker model of this process (loaded on first call; blocking)."""
    global _embedder
    with _embedder_lock:
        if _embedder is None:
            _embedder = SpeakerEmbedder()
        return _embedder


class WearerGate:
    """`await admits(pcm)`: may this utterance be recognized? Always yes while off or nobody enrolled."""

    def __init__(self, device: str, enabled: bool, voiceprints: Voiceprints | None = None):
        self.device = device
        self.enabled = enabled
        self.voiceprints = voiceprints or Voiceprints()
        self._last: tuple[int, bytes, Verdict] | None = None  # the speculation and the final turn judge the same audio
        if self._enrolled() is not None:
            threading.Thread(target=shared_embedder, name="speaker model", daemon=True).start()

    def _enrolled(self):
        if not self.enabled:
            return None
        try:
            voiceprint = self.voiceprints.get(self.device)
        except VoiceprintError as error:  # a damaged file: everyone is heard, as before enrolment, and it is said
            log.error("%s: %s", self.device, error)
            return None
        return voiceprint.embedding if voiceprint is not None else None

    @property
    def active(self) -> bool:
        return self._enrolled() is not None

    async def admits(self, pcm: bytes) -> bool:
        enrolled = self._enrolled()
        if enrolled is None:
            return True
        key = (len(pcm), pcm[-320:])
        if self._last is not None and self._last[:2] == key:
            return self._last[2].wearer
        verdict = await asyncio.to_thread(lambda: judge(shared_embedder(), enrolled, pcm))
        self._last = (*key, verdict)
        return verdict.wearer

    def judged(self) -> Verdict | None:
        """The last verdict (for the one log line of an ignored utterance)."""
        return self._last[2] if self._last is not None else None
