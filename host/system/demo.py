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
import os
import secrets
import shutil
import tempfile
import time
import wave
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from host.system import simulator
from host.pipeline.audio import silence
from host.pipeline.engines import Engines
from host.bridge.reports import TurnResult
from host.pipeline.messages import SAMPLE_RATE

DEFAULT_UTTERANCE = "Hey Jarvis, what time is it?"
LEAD_IN_S = 2.0  # the wake word model ignores the first ~1.6 s of a stream (DESIGN.md)
TAIL_S = 12.0  # long enough that the mic does not loop back to the wake word during the demo
TURN_TIMEOUT_S = 45.0


class DemoError(RuntimeError):
    """The demo could not complete; the message says where it stopped."""


@dataclass
class DemoResult:
    wake: dict
    transcript: str
    reply: str
    latency_ms: dict
    speaker_wav: str

    def to_json(self) -> dict:
        return dict(self.__dict__)


def throwaway_home(prefix: str) -> tuple[Path, Callable[[], None]]:
    """Point EARPIECE_HOME at a new temporary folder (registry, bonds, identity); returns it and the undo."""
    workdir = Path(tempfile.mkdtemp(prefix=prefix))
    saved = os.environ.get("EARPIECE_HOME")
    os.environ["EARPIECE_HOME"] = str(workdir / "home")

    def restore() -> None:
        if saved is None:
            os.environ.pop("EARPIECE_HOME", None)
        else:
            os.environ["EARPIECE_HOME"] = saved
        shutil.rmtree(workdir, ignore_errors=True)

    return workdir, restore


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
    from host.bridge.bridge import Bridge
    from host.link.adapter import resolve_adapter
    from host.link.earbuds import pair_earbud
    from host.link.registry import DeviceRegistry

    workdir, restore_home = throwaway_home("earpiece-demo-")
    radio = earbud = None
    try:
        speech = engines.tts.synthesize(utterance)
        mic = silence(LEAD_IN_S) + speech + silence(TAIL_S)
        last_voiced_s = (len(silence(LEAD_IN_S)) // 2 + last_voiced_sample(speech)) / SAMPLE_RATE
        mic_wav = workdir / "mic.wav"
        write_wav(mic_wav, mic)

        progress("starting the virtual radio")
        radio = simulator.start_radio(log_dir=workdir, **(radio_args or {}))
        progress(f"starting a simulated earbud on {radio.address}")
        passkey = secrets.randbelow(1_000_000)
        speaker_wav.parent.mkdir(parents=True, exist_ok=True)
        earbud = simulator.start_earbud(
            radio, "Earpiece-Demo", state_dir=workdir / "earbud", mic=[mic_wav], speaker=speaker_wav, passkey=passkey
        )
        adapter = resolve_adapter(f"sim:{radio.address}")
        progress(f"pairing with {earbud.name} ({earbud.address}), passkey {passkey:06d}")

        async def passkey_provider() -> int:
            return passkey

        registry = DeviceRegistry()
        device = await pair_earbud(adapter, earbud.address, passkey_provider, registry=registry)

        turns: list[TurnResult] = []
        got_turn = asyncio.Event()

        def on_turn(_name: str, result: TurnResult) -> None:
            if result.outcome != "no_speech":
                turns.append(result)
                got_turn.set()

        progress("bridge connecting; the earbud's mic says: " + repr(utterance))
        bridge = Bridge(engines, adapter=adapter, registry=registry, devices=[device], on_turn=on_turn,
                        control_server=False)
        await bridge.start()
        runner = bridge.runners[device.address]
        try:
            await runner.link.wait_connected(timeout=20)
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
            stats = earbud.read_stats()
        finally:
            await bridge.close()
        earbud.stop()
        earbud = None

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
                sent = [at for at in runner.reply_streams_sent_at if at <= first_down]
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
        )
    finally:
        for process in (earbud, radio):
            if process is not None:
                process.stop()
        restore_home()


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
    from host.bridge.bridge import Bridge
    from host.link.adapter import resolve_adapter
    from host.link.earbuds import pair_earbud
    from host.link.registry import DeviceRegistry

    workdir, restore_home = throwaway_home("earpiece-demo-live-")
    radio = earbud = None
    turns: list[LiveTurn] = []
    stats: dict = {}
    try:
        # Start-up runs in threads and races `stop`, so Ctrl-C works at any moment. A terminal's Ctrl-C also
        # reaches the radio and earbud (same process group), which then vanish: a failure once `stop` is set is
        # that, not an error.
        try:
            progress("starting the virtual radio")
            # (Threads are awaited, not abandoned: what they start must be known to be stopped.)
            radio = await asyncio.to_thread(simulator.start_radio, log_dir=workdir, **(radio_args or {}))
            _raise_if_stopped(stop)
            progress("starting a simulated earbud on this computer's microphone and speakers")
            try:
                earbud = await asyncio.to_thread(
                    simulator.start_earbud, radio, "Earpiece-Live", state_dir=workdir / "earbud",
                    passkey=LIVE_PASSKEY,
                    # earpiece-sim takes `pyaudio[:DEVICE]` where it takes files
                    mic=[Path(_live_spec(mic_device))], speaker=Path(_live_spec(speaker_device)),
                )
                _raise_if_stopped(stop)
            except TimeoutError:
                raise DemoError(_earbud_failure(workdir / "earbud" / "earbud.log")) from None
            adapter = resolve_adapter(f"sim:{radio.address}")
            progress(f"pairing with {earbud.name} ({earbud.address})")

            async def passkey_provider() -> int:
                return LIVE_PASSKEY

            registry = DeviceRegistry()
            device = await _unless_stopped(pair_earbud(adapter, earbud.address, passkey_provider, registry=registry),
                                           stop)
        except _Stopped:
            raise
        except Exception:
            await asyncio.sleep(0.3)  # let a Ctrl-C that is on its way land first
            _raise_if_stopped(stop)
            raise

        def turn_done(_name: str, result: TurnResult) -> None:
            if result.outcome != "no_speech":
                turn = live_turn(result)
                turns.append(turn)
                on_turn(turn)

        bridge = Bridge(engines, adapter=adapter, registry=registry, devices=[device], on_turn=turn_done,
                        control_server=False)
        await bridge.start()
        try:
            await _unless_stopped(bridge.runners[device.address].link.wait_connected(timeout=20), stop)
            progress('listening: say "Hey Jarvis", then your question (Ctrl-C to stop)')
            await stop.wait()
        finally:
            await bridge.close()
        with contextlib.suppress(OSError, ValueError):
            stats = earbud.read_stats()
    except _Stopped:
        pass  # Ctrl-C while starting up: stop what was started, report no turns
    finally:
        for process in (earbud, radio):
            if process is not None:
                process.stop()
        restore_home()
    counters = ("mic_device", "speaker_device", "mic_input_overflows", "speaker_output_underruns",
                "speaker_output_dropped_ms", "audio_frames_sent")
    return {"turns": [turn.to_json() for turn in turns], "earbud": {k: stats[k] for k in counters if k in stats}}


class _Stopped(Exception):
    """`stop` was set before the demo was up."""


def _raise_if_stopped(stop: asyncio.Event) -> None:
    if stop.is_set():
        raise _Stopped


async def _unless_stopped(awaitable, stop: asyncio.Event):
    """Await `awaitable`, but give up (cancelling it) as soon as `stop` is set: Ctrl-C must not wait for pairing."""
    task = asyncio.ensure_future(awaitable)
    stopping = asyncio.ensure_future(stop.wait())
    try:
        await asyncio.wait({task, stopping}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        stopping.cancel()
    if stop.is_set():
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await task
        raise _Stopped
    return task.result()


def _live_spec(device: str) -> str:
    return f"pyaudio:{device}" if device else "pyaudio"


def _earbud_failure(log_path: Path) -> str:
    """The earbud's own one-line reason (e.g. a missing sound device and the available ones)."""
    try:
        lines = [line for line in log_path.read_text(errors="replace").splitlines() if line.startswith("earpiece-sim")]
    except OSError:
        lines = []
    reason = lines[-1].split(": ", 1)[-1] if lines else "it did not start; run with -v for its log"
    return f"the simulated earbud could not use the sound devices: {reason}"
