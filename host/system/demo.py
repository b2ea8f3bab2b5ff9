"""`earpiece demo`: the whole system on this computer, no hardware.

Starts a virtual radio and a simulated earbud as separate processes, pairs with the earbud, and runs the bridge
(this process). The earbud's mic plays a synthesized "Hey Jarvis, what time is it?"; the reply arrives over the
same Bluetooth link and the earbud writes its speaker to a WAV file that is kept.

Everything it pairs and stores goes to a throwaway folder: the user's own bonds, registry and settings are never
touched. Only the models come from the user's cache.
"""

from __future__ import annotations

import asyncio
import contextlib
import tempfile
import time
import wave
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from host.bridge.reports import TurnResult
from host.errors import EarpieceError
from host.pipeline.audio import silence
from host.pipeline.engines import Engines
from host.pipeline.messages import SAMPLE_RATE
from host.system.harness import EarbudSpec, EarbudStartError, SystemHarness

DEFAULT_UTTERANCE = "Hey Jarvis, what time is it?"
LEAD_IN_S = 2.0  # the wake word model ignores the first ~1.6 s of a stream (DESIGN.md)
TAIL_S = 12.0  # long enough that the mic does not loop back to the wake word during the demo
TURN_TIMEOUT_S = 45.0


class DemoError(EarpieceError, RuntimeError):
    """The demo could not complete; the message says where it stopped."""


@dataclass
class DemoResult:
    wake: dict
    transcript: str
    reply: str
    latency_ms: dict
    speaker_wav: str
    partials: list[str]
    """What the recognizer had heard while the user was still speaking, in order."""

    def to_json(self) -> dict:
        return dict(self.__dict__)


def last_voiced_sample(pcm: bytes, threshold: int = 500) -> int:
    """Index of the last sample louder than `threshold` (about -36 dBFS): where the user stopped talking."""
    import numpy as np

    samples = np.abs(np.frombuffer(pcm, dtype="<i2").astype(np.int32))
    loud = np.flatnonzero(samples > threshold)
    return int(loud[-1]) if loud.size else 0


def write_wav(path: Path, pcm: bytes, rate: int = SAMPLE_RATE) -> None:
    with wave.open(str(path), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(rate)
        out.writeframes(pcm)


async def run_demo(
    engines: Engines,
    speaker_wav: Path,
    utterance: str = DEFAULT_UTTERANCE,
    progress: Callable[[str], None] = lambda _msg: None,
    radio_args: dict | None = None,
) -> DemoResult:
    """Run one exchange end to end and report it. `speaker_wav` receives what the earbud's speaker played."""
    speech = engines.tts.synthesize(utterance)
    mic = silence(LEAD_IN_S) + speech + silence(TAIL_S)
    last_voiced_s = (len(silence(LEAD_IN_S)) // 2 + last_voiced_sample(speech)) / SAMPLE_RATE
    speaker_wav.parent.mkdir(parents=True, exist_ok=True)
    turns: list[TurnResult] = []
    partials: list[str] = []
    got_turn = asyncio.Event()

    def on_partial(_name: str, text: str) -> None:
        partials.append(text)
        progress(f"hearing {text!r} ...")

    def on_turn(_name: str, result: TurnResult) -> None:
        if result.outcome != "no_speech":
            turns.append(result)
            got_turn.set()

    with tempfile.TemporaryDirectory(prefix="earpiece-demo-") as scratch:
        workdir = Path(scratch)
        write_wav(workdir / "mic.wav", mic)
        progress("the earbud's mic will say " + repr(utterance))
        earbud = EarbudSpec("Earpiece-Demo", mic=[workdir / "mic.wav"], speaker=speaker_wav)
        async with SystemHarness([earbud], engines=engines, on_turn=on_turn, on_partial=on_partial,
                                 radio_args=radio_args, workdir=workdir, progress=progress) as system:
            runner = system.runner(0)
            try:
                await asyncio.wait_for(got_turn.wait(), TURN_TIMEOUT_S)
            except asyncio.TimeoutError:
                raise DemoError(
                    f"no answer within {TURN_TIMEOUT_S:.0f} s (wake detections: "
                    f"{runner.session.stats['wake_detections']}); see the logs with -v"
                ) from None
            # Let the reply finish playing in the earbud before we stop it.
            await runner.pacer.wait_played()
            await asyncio.sleep(0.3)
            stats = system.earbuds[0].read_stats()
            sent_at = list(runner.reply_streams_sent_at)

    turn = turns[0]
    t = turn.timings
    wake = turn.wake
    mic_started = stats.get("mic_started_at")
    total_ms = downlink_ms = None
    if mic_started:
        spoken_end = mic_started + last_voiced_s
        # The first reply stream that reached the earbud after the user stopped talking (cues are played by
        # the earbud itself and never arrive as audio, so this is the reply's speech).
        first_down = next((at for at in stats.get("speaker_stream_starts", []) if at > spoken_end), None)
        if first_down:
            total_ms = (first_down - spoken_end) * 1000
            sent = [at for at in sent_at if at <= first_down]
            if sent:
                downlink_ms = (first_down - sent[-1]) * 1000
    return DemoResult(
        wake={
            "detected": turn.trigger == "wake",
            "score": round(wake.score, 3) if wake else None,
            "t_s": round(wake.time_s, 2) if wake else None,
        },
        transcript=turn.transcript,
        reply=turn.reply.text if turn.reply else "",
        latency_ms={
            "endpoint": round(t.endpoint_s * 1000),
            "asr": round(t.asr_s * 1000),
            "assistant": round(t.assistant_s * 1000),
            "tts_first_audio": round(t.tts_first_audio_s * 1000),
            "downlink": None if downlink_ms is None else round(downlink_ms),
            "total": None if total_ms is None else round(total_ms),
        },
        speaker_wav=str(speaker_wav.resolve()),
        partials=partials,
    )


def default_speaker_path() -> Path:
    stamp = time.strftime("%Y%m%d-%H%M%S")
    return Path(tempfile.gettempdir()) / f"earpiece-demo-{stamp}.wav"


# -- `earpiece demo --live`: the computer's own microphone and speakers ------------------------------------------

LIVE_PASSKEY = 123456  # a throwaway pairing on a private virtual radio: nothing to type, nothing to protect


@dataclass
class LiveTurn:
    heard: str
    answered: str
    outcome: str
    trigger: str
    latency_ms: int | None

    def to_json(self) -> dict:
        return dict(self.__dict__)


def live_turn(result: TurnResult) -> LiveTurn:
    latency = result.timings.latency_s
    return LiveTurn(
        heard=result.transcript,
        answered=result.reply.text if result.reply else "",
        outcome=result.outcome,
        trigger=result.trigger,
        latency_ms=round(latency * 1000) if latency else None,
    )


async def run_live_demo(
    engines: Engines,
    stop: asyncio.Event,
    mic_device: str = "",
    speaker_device: str = "",
    on_turn: Callable[[LiveTurn], None] = lambda _turn: None,
    progress: Callable[[str], None] = lambda _msg: None,
    radio_args: dict | None = None,
) -> dict:
    """Radio, a simulated earbud on this computer's mic and speakers (PyAudio), and the bridge, until `stop` is set.

    `mic_device`/`speaker_device`: "" = the system default, else an index or name from `earpiece-sim audio-devices`.
    Returns {"turns": [...], "earbud": {its counters}}."""
    turns: list[LiveTurn] = []
    stats: dict = {}
    listening = asyncio.Event()

    def turn_done(_name: str, result: TurnResult) -> None:
        if result.outcome != "no_speech":
            turn = live_turn(result)
            turns.append(turn)
            on_turn(turn)

    async def live() -> None:
        nonlocal stats
        # earpiece-sim takes `pyaudio[:DEVICE]` where it takes files
        earbud = EarbudSpec("Earpiece-Live", mic=[Path(_live_spec(mic_device))],
                            speaker=Path(_live_spec(speaker_device)), passkey=LIVE_PASSKEY)
        async with SystemHarness([earbud], engines=engines, on_turn=turn_done, radio_args=radio_args,
                                 progress=progress) as system:
            listening.set()
            progress('listening: say "Hey Jarvis", then your question (Ctrl-C to stop)')
            await stop.wait()
            with contextlib.suppress(OSError, ValueError):
                stats = system.earbuds[0].read_stats()

    # Until the system is up, `stop` cancels the start-up (the harness stops what it started), so Ctrl-C works at
    # any moment; once up, `live` sees `stop` itself and ends in order.
    task = asyncio.ensure_future(live())
    stopping = asyncio.ensure_future(stop.wait())
    try:
        await asyncio.wait({task, stopping}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        stopping.cancel()
    if not task.done() and not listening.is_set():
        task.cancel()
    try:
        await task
    except asyncio.CancelledError:
        if not stop.is_set():
            raise
    except Exception as error:
        # A terminal's Ctrl-C also reaches the radio and earbud (same process group), which then vanish: a failure
        # once `stop` is set is that, not an error.
        await asyncio.sleep(0.3)  # let a Ctrl-C that is on its way land first
        if not stop.is_set():
            if isinstance(error, EarbudStartError):
                raise DemoError(f"the simulated earbud could not use the sound devices: {error.reason}") from None
            raise
    counters = ("mic_device", "speaker_device", "mic_input_overflows", "speaker_output_underruns",
                "speaker_output_dropped_ms", "audio_frames_sent")
    return {"turns": [turn.to_json() for turn in turns], "earbud": {k: stats[k] for k in counters if k in stats}}


def _live_spec(device: str) -> str:
    return f"pyaudio:{device}" if device else "pyaudio"
