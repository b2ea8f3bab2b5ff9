"""Quiet at the pipeline level, faster than real time: the bridge's runner logic (quiet record, the link's quiet
gate, decode, DeviceSession with the real wake-word model, VAD and recognizer) fed the earbud's encoded frames."""

from __future__ import annotations

import asyncio
import random

import numpy as np

from host.system.demo import last_voiced_sample
from host.pipeline.audio import silence
from protocol import control
from tests.quiet.quiet_rig import FRAME_BYTES, WAKE, Rig, wake_then


def wake_count(rig: Rig) -> int:
    return rig.session.stats["wake_detections"]


def test_200_quiet_toggles_interleaved_with_wake_words(engines, speech, tmp_path, monkeypatch):
    # The per-stream detector: the batched one (the bridge's default, covered end to end) paces its scoring
    # in real-time ticks, which would make 200 cycles take minutes. Both follow the same quiet rules.
    monkeypatch.setattr(engines, "wake_batching", False)
    wake = silence(0.3) + speech(WAKE) + silence(0.6)
    rng = random.Random(7)

    async def scenario() -> None:
        async with Rig(engines, tmp_path) as rig:
            runner, session = rig.runner, rig.session
            await rig.mic(silence(2.0))  # the wake-word model's start-up guard
            for cycle in range(200):
                # Listening: the wake word is heard, every time.
                before = wake_count(rig)
                await rig.mic(wake)
                assert wake_count(rig) == before + 1, f"cycle {cycle}: no wake word after leaving quiet"
                assert session.listening

                # Quiet: now, or after part of the request was spoken.
                if rng.random() < 0.5:
                    await rig.mic(speech("What time")[: rng.randrange(FRAME_BYTES, 8000, 2)])
                result = await runner.set_quiet(True)
                assert result.ok and result.quiet and session.state == "quiet"
                processed = runner.status().frames_processed
                dropped = runner.status().frames_dropped_quiet
                # A wake word said in quiet (the earbud should not even send it) is dropped at the gate, counted.
                await rig.mic(wake)
                assert wake_count(rig) == before + 1
                assert runner.status().frames_processed == processed
                assert runner.status().frames_dropped_quiet == dropped + len(wake) // FRAME_BYTES

                result = await runner.set_quiet(False)
                assert result.ok and not result.quiet and session.state == "idle"
                rig.restart_stream()
            assert session.stats["audio_ignored_quiet"] == 0  # the gate stopped every quiet frame before the session
            assert all(not quiet for _, quiet in rig.fed)
            # Cues: an earcon for every entry and every exit, each distinct.
            cues = [m.cue for m in rig.link.sent if isinstance(m, control.PlayCue)]
            assert cues.count(control.CUE_QUIET_ON) == 200 and cues.count(control.CUE_QUIET_OFF) == 200

    asyncio.run(scenario())


def contains_chunk(haystack: bytes, chunks: list[bytes]) -> bool:
    return any(chunk in haystack for chunk in chunks)


def trim_end(pcm: bytes) -> bytes:
    """Cut the trailing silence (espeak-ng ends with some), so the audio ends while sound is still heard."""
    last = last_voiced_sample(pcm, threshold=1000)
    return pcm[: 2 * (last - last % 320)]


def loud(chunk: bytes) -> bool:
    return bool(np.abs(np.frombuffer(chunk, dtype="<i2")).max() > 1000)


def test_audio_from_before_quiet_never_reaches_the_recognizer_after_it(engines, speech, tmp_path, monkeypatch):
    heard_by_asr: list[bytes] = []
    transcribe = engines.asr.transcribe

    def recording_transcribe(audio: bytes) -> str:
        heard_by_asr.append(bytes(audio))
        return transcribe(audio)

    monkeypatch.setattr(engines.asr, "transcribe", recording_transcribe)

    async def scenario() -> None:
        async with Rig(engines, tmp_path) as rig:
            runner, session = rig.runner, rig.session
            # A request cut short by quiet is never recognized.
            await rig.mic(silence(2.0) + wake_then(speech, "Tell me about the secret plan", 0))
            assert session.listening
            await runner.set_quiet(True)
            assert heard_by_asr == [] and session.stats["asr_runs"] == 0
            await runner.set_quiet(False)
            rig.restart_stream()
            # Words heard while idle fill the pre-roll; then quiet; then, right after it, the button and a request.
            await rig.mic(silence(2.0) + trim_end(speech("Banana pineapple strawberry.")))  # ends mid-sound
            before_quiet = [pcm for pcm, _ in rig.fed if loud(pcm)]
            await runner.set_quiet(True)
            await runner.set_quiet(False)
            rig.restart_stream()
            await runner.handle_message(control.Button(control.BUTTON_PRESS))
            assert session.listening
            await rig.mic(silence(0.2) + speech("What time is it?") + silence(1.5))
            await session.wait_idle()
            answered = [t for t in session.turns if t.outcome == "answered"]
            assert len(answered) == 1 and "time" in answered[0].transcript.lower(), session.turns
            assert heard_by_asr
            for heard in heard_by_asr:
                assert not contains_chunk(heard, before_quiet), "audio from before quiet reached the recognizer"
            transcript = answered[0].transcript.lower()
            assert "banana" not in transcript and "strawberr" not in transcript and "secret" not in transcript

    asyncio.run(scenario())


def test_a_turn_being_worked_out_when_quiet_begins_is_dropped(engines, speech, tmp_path):
    async def scenario() -> None:
        async with Rig(engines, tmp_path) as rig:
            runner, session = rig.runner, rig.session
            await rig.mic(silence(2.0) + wake_then(speech, "What time is it?", 0.8))
            assert session.replying  # recognition (or the answer) is under way
            await runner.set_quiet(True)
            await session.wait_idle()
            await asyncio.sleep(1.0)  # a recognition already running in its thread finishes: its result is unused
            assert not [t for t in session.turns if t.outcome == "answered"] and session.stats["turns"] == 0
            assert runner.pacer.stats["frames_sent"] == 0  # no answer was spoken from audio heard before quiet
            assert not rig.link.audio.qsize()

    asyncio.run(scenario())


def test_voice_enters_quiet_with_a_spoken_confirmation_then_an_earcon(engines, speech, tmp_path):
    async def scenario() -> None:
        async with Rig(engines, tmp_path) as rig:
            runner, session = rig.runner, rig.session
            await rig.mic(silence(2.0) + wake_then(speech, "Go quiet.", 1.0))
            await session.wait_idle()
            [turn] = session.turns
            assert turn.outcome == "answered" and "quiet" in turn.reply.text.lower()
            assert rig.quiet.is_quiet(runner.address) and rig.quiet.state(runner.address).source_name == "voice"
            assert runner.pacer.stats["frames_sent"] > 0  # the confirmation was spoken
            quiet_msgs = [m for m in rig.link.sent if isinstance(m, control.SetQuiet)]
            assert quiet_msgs == [control.SetQuiet(True, control.QUIET_SOURCE_VOICE)]
            for _ in range(200):  # the earcon follows once the confirmation has played
                if control.PlayCue(control.CUE_QUIET_ON) in rig.link.sent:
                    break
                await asyncio.sleep(0.05)
            assert control.PlayCue(control.CUE_QUIET_ON) in rig.link.sent
            # Voice can only enter quiet: with the mic stopped nothing is heard, so "stop being quiet" cannot arrive.
            processed = runner.status().frames_processed
            await rig.mic(speech(WAKE))
            assert runner.status().frames_processed == processed and rig.quiet.is_quiet(runner.address)

    asyncio.run(scenario())


def test_the_switch_holds_quiet_against_the_host(engines, tmp_path):
    async def scenario() -> None:
        async with Rig(engines, tmp_path) as rig:
            runner = rig.runner
            rig.earbud.switch_changed(True)  # the user's hand, on the real earbud core
            rig.link.deliver_notifications()
            await rig.settle()
            assert rig.quiet.state(runner.address).held_by_switch and rig.session.state == "quiet"
            result = await runner.set_quiet(False)
            assert not result.ok and "switch" in result.error and rig.quiet.is_quiet(runner.address)
            assert not any(isinstance(m, control.SetQuiet) for m in rig.link.sent) and rig.earbud_quiet
            # An earbud claiming "listening" without its switch does not unquiet the host; it is told again.
            await runner.handle_message(control.Status(False, False, False, control.QUIET_SOURCE_HOST, 90, 1, 80, 0,
                                                       600, "test"))
            assert rig.quiet.is_quiet(runner.address)
            assert rig.link.sent[-1] == control.SetQuiet(True, control.QUIET_SOURCE_HOST)
            # The switch moved back: believed.
            rig.earbud.switch_changed(False)
            rig.link.deliver_notifications()
            await rig.settle()
            assert not rig.quiet.is_quiet(runner.address) and rig.session.state == "idle" and not rig.earbud_quiet

    asyncio.run(scenario())
