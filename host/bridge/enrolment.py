"""`earpiece enroll`: learn the wearer's voice through the earbud, for wearer-only listening.

The companion says a sentence into the ear and the wearer repeats it, until about 20 s of their voice has been
heard (at most `len(PROMPTS)` sentences). The voiced audio of the answers is embedded in one speaker embedding
(host/pipeline/speaker_check.py), kept as the earbud's voiceprint (host/companion/voiceprint.py); the audio itself
is held in memory only while enrolling and never written anywhere.

While it records, the mic's audio goes to the recorder, not to the wake word or the recognizer. Quiet stops it:
enrolment checks quiet all along, stops speaking, drops what it heard and says why.
"""

from __future__ import annotations

import asyncio
import logging
import time

from host.bridge.wearer_gate import shared_embedder
from host.companion.voiceprint import Voiceprints
from host.errors import EarpieceError
from host.pipeline.messages import SAMPLE_RATE

log = logging.getLogger(__name__)

INTRO = "Let's learn your voice. After each sentence I say, say it back to me in your normal voice."
DONE = "Thank you. I know your voice now."
PROMPTS = (
    "The quick brown fox jumps over the lazy dog.",
    "Please remind me to water the plants on Sunday afternoon.",
    "What will the weather be like tomorrow morning?",
    "My favourite colour is green, and I live near the river.",
    "Set a timer for twelve minutes, then tell me the time.",
    "She sells sea shells by the sea shore every summer.",
    "Remember that the dentist appointment is on Thursday.",
    "How far is it from here to the nearest train station?",
    "Four hundred and sixty seven people joined the choir.",
    "Turn the music down a little, I am on the phone.",
)
TARGET_VOICED_S = 20.0  # of the wearer's voice: enough for a steady embedding
MIN_VOICED_S = 8.0  # less than this is refused: too little to tell the wearer from anyone
ANSWER_START_S = 6.0  # they have this long to start repeating a sentence
ANSWER_MAX_S = 12.0
ANSWER_END_SILENCE_S = 0.8  # silence that ends an answer
REPLY_TAIL_S = 0.3  # the prompt's echo after it has played
VAD_FRAME = SAMPLE_RATE * 30 // 1000 * 2  # bytes of one 30 ms webrtcvad frame
POLL_S = 0.05


class EnrolmentError(EarpieceError):
    """Enrolment could not finish; the message says why and what to do."""


class Recorder:
    """The mic's audio during enrolment (the session hands it every chunk); keeps the voiced frames of an answer."""

    def __init__(self):
        import webrtcvad

        self._vad = webrtcvad.Vad(2)
        self._open = False
        self._pending = b""
        self._voiced: list[bytes] = []
        self._voiced_at = 0.0  # monotonic time of the last voiced frame (0: none yet)

    def hear(self, pcm: bytes) -> None:
        if not self._open:
            return
        data = self._pending + pcm
        usable = len(data) // VAD_FRAME * VAD_FRAME
        self._pending = data[usable:]
        for start in range(0, usable, VAD_FRAME):
            frame = data[start:start + VAD_FRAME]
            if self._vad.is_speech(frame, SAMPLE_RATE):
                self._voiced.append(frame)
                self._voiced_at = time.monotonic()

    async def answer(self, stop_reason) -> bytes:
        """The voiced audio of one answer: from when they start (within ANSWER_START_S) until ANSWER_END_SILENCE_S
        of silence or ANSWER_MAX_S. `stop_reason()` returns why to stop at once (or None)."""
        self._pending, self._voiced, self._voiced_at, self._open = b"", [], 0.0, True
        opened = time.monotonic()
        try:
            while True:
                await asyncio.sleep(POLL_S)
                _raise_if(stop_reason())
                now = time.monotonic()
                if not self._voiced_at:
                    if now - opened > ANSWER_START_S:
                        break
                elif now - self._voiced_at >= ANSWER_END_SILENCE_S or now - opened > ANSWER_MAX_S:
                    break
            return b"".join(self._voiced)
        finally:
            self._open, self._pending, self._voiced = False, b"", []

    def close(self) -> None:
        self._open, self._pending, self._voiced = False, b"", []


async def enrol(runner, voiceprints: Voiceprints | None = None) -> dict:
    """Enrol the wearer of `runner`'s earbud (an EarbudRunner, connected). Returns {device, voiced_s, prompts}.
    Raises EnrolmentError (quiet, not connected, too little voice heard)."""
    session, name = runner.session, runner.device.name
    voiceprints = voiceprints or Voiceprints()

    def stop_reason() -> str | None:
        if runner.quiet.is_quiet(runner.address):
            return (f"{name} went quiet: enrolment stopped and nothing was kept; run `earpiece enroll` again "
                    "when you are ready")
        if not runner.link.connected:
            return f"{name} disconnected: enrolment stopped and nothing was kept; is it on and in range?"
        return None

    if runner.quiet.is_quiet(runner.address):
        raise EnrolmentError(f"{name} is quiet: nothing may be recorded; `earpiece quiet off {name}` first")
    _raise_if(stop_reason())
    if session.enrolment is not None:
        raise EnrolmentError(f"{name} is already enrolling; wait for it to finish")
    if session.replying:
        await session.stop_reply()
    if session.listening:
        session.listening_part.cancel()
    recorder = Recorder()
    session.enrolment = recorder
    model = asyncio.ensure_future(asyncio.to_thread(shared_embedder))  # loads while the intro plays
    log.info("%s: enrolment: recording the wearer's voice", name)
    answers: list[bytes] = []
    try:
        await _say(session, INTRO, stop_reason)
        for prompt in PROMPTS:
            await _say(session, prompt, stop_reason)
            answers.append(await recorder.answer(stop_reason))
            if _seconds(answers) >= TARGET_VOICED_S:
                break
        voiced_s, count = _seconds(answers), len(answers)
        if voiced_s < MIN_VOICED_S:
            raise EnrolmentError(f"heard only {voiced_s:.0f} s of your voice (at least {MIN_VOICED_S:.0f} s are "
                                 "needed): run `earpiece enroll` again and repeat each sentence after it is said")
        embedder = await model
        embedding = await asyncio.to_thread(embedder.embed, b"".join(answers), False)
        _raise_if(stop_reason())
        await asyncio.to_thread(voiceprints.save, name, embedding, voiced_s)
    except BaseException:
        if runner.quiet.is_quiet(runner.address):
            await session.voice.stop()
        raise
    finally:
        recorder.close()
        answers.clear()
        session.enrolment = None
        model.cancel()
    log.info("%s: enrolment: voiceprint kept (%.1f s of voice)", name, voiced_s)
    session.voice.start(DONE, "enrolment")
    return {"device": name, "voiced_s": round(voiced_s, 1), "sentences": count}


async def enrol_request(runners: list) -> dict:
    """The control socket's `enroll` request, for the one earbud selected."""
    if len(runners) != 1:
        names = ", ".join(r.device.name for r in runners) or "none"
        return {"ok": False, "error": f"say which earbud to enrol with (managed: {names}): `earpiece enroll DEVICE`"}
    try:
        return {"ok": True, **await enrol(runners[0])}
    except EarpieceError as error:
        return {"ok": False, "error": str(error)}


async def _say(session, text: str, stop_reason) -> None:
    """Say `text` into the ear and wait until it (and its echo) has played out."""
    speaking = asyncio.ensure_future(session.voice.speak(text))
    try:
        while not speaking.done() or session.voice.heard_recently(REPLY_TAIL_S):
            _raise_if(stop_reason())
            await asyncio.sleep(POLL_S)
        speaking.result()
    finally:
        speaking.cancel()


def _seconds(answers: list[bytes]) -> float:
    return sum(len(a) for a in answers) / (2 * SAMPLE_RATE)


def _raise_if(reason: str | None) -> None:
    if reason:
        raise EnrolmentError(reason)
