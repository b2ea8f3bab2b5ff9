"""Remote engines: recognition through a real wyoming-faster-whisper, synthesis through a real wyoming-piper (both
processes on 127.0.0.1, tests/wyoming_peers.py), and what a server that is down or slow does to a turn."""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import socket

import numpy as np
import pytest

from host.bridge.answering import Answering
from host.config import AsrSettings, TtsSettings
from host.pipeline import remote
from host.pipeline.asr import load_engine as load_asr
from host.pipeline.asr.fallback import NOTICE as ASR_NOTICE, FallbackAsrEngine
from host.pipeline.asr.wyoming_engine import WyomingAsrEngine
from host.pipeline.tts import load_engine as load_tts
from host.pipeline.tts.fallback import FallbackTtsEngine
from host.pipeline.tts.wyoming_engine import WyomingTtsEngine
from tests.wyoming_peers import free_port, piper_server, start_piper, start_whisper, whisper_server  # noqa: F401


def _heard_time_question(text: str) -> bool:
    return "what time is it" in text.lower().replace("?", "").replace(",", "")


def _rms(pcm: bytes) -> float:
    samples = np.frombuffer(pcm, dtype="<i2").astype(np.float64)
    return float(np.sqrt(np.mean(samples ** 2))) if samples.size else 0.0


@pytest.fixture
def dead_uri() -> str:
    """An address where nothing listens."""
    return f"tcp://127.0.0.1:{free_port()}"


@pytest.fixture
def slow_uri():
    """A server that accepts the connection (the kernel's backlog does) and never answers."""
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(8)
        yield f"tcp://127.0.0.1:{listener.getsockname()[1]}"


@pytest.mark.e2e  # starts a Wyoming server process
def test_recognizes_through_wyoming_faster_whisper(whisper_server, models_root, speech):
    engine = load_asr(AsrSettings(engine="wyoming", uri=whisper_server.uri), models_root)
    assert isinstance(engine, FallbackAsrEngine) and engine.remote_up
    assert engine.remote.server.startswith("faster-whisper")
    assert _heard_time_question(engine.transcribe(speech("What time is it?")))
    assert engine.failures == 0 and engine.local.runs == 0  # the server answered, not the local engine
    assert engine.notice == ""


@pytest.mark.e2e  # starts a Wyoming server process
def test_synthesizes_through_wyoming_piper_and_whisper_hears_it(piper_server, whisper_server):
    tts = load_tts(TtsSettings(engine="wyoming", uri=piper_server.uri))
    try:
        assert tts.remote.streams_text  # wyoming-piper 2.x streams: the synthesize-start/chunk/stop exchange
        audio = asyncio.run(tts.synthesize_async("What time is it?"))
        assert 0.5 < len(audio) / 32000 < 4 and _rms(audio) > 300  # 16 kHz speech, not silence
        assert tts.failures == 0
        assert _heard_time_question(WyomingAsrEngine(whisper_server.uri).transcribe(audio))
    finally:
        tts.close()


@pytest.mark.e2e  # starts a Wyoming server process
def test_synthesizes_with_a_server_that_does_not_stream(tmp_path):
    peer = start_piper(tmp_path, streaming=False)
    try:
        engine = WyomingTtsEngine(peer.uri)
        engine.check()
        assert not engine.streams_text
        audio = engine.synthesize("Hello. It is ten past two.")  # two sentences: audio until audio-stop
        assert 1.2 < len(audio) / 32000 < 5 and _rms(audio) > 300
        engine.close()
    finally:
        peer.stop()


@pytest.mark.e2e  # starts a Wyoming server process
def test_a_server_that_dies_mid_run_costs_one_notice_and_the_local_engine_answers(tmp_path, models_root, engines,
                                                                                   speech, caplog):
    peer = start_whisper(tmp_path, models_root)
    try:
        engine = FallbackAsrEngine(WyomingAsrEngine(peer.uri), engines.asr)
        engine.start()
        assert _heard_time_question(engine.transcribe(speech("What time is it?")))
        peer.kill()
        local_runs = engines.asr.runs
        with caplog.at_level(logging.WARNING):
            assert _heard_time_question(engine.transcribe(speech("What time is it?")))
            assert _heard_time_question(engine.transcribe(speech("What time is it?")))
        assert engine.failures == 1 and not engine.remote_up  # the second went straight to the local engine
        assert engines.asr.runs == local_runs + 2
        lines = [r.getMessage() for r in caplog.records if "speech recognition" in r.getMessage()]
        assert len(lines) == 1 and "\n" not in lines[0] and peer.uri in lines[0]
        assert engine.notice == ASR_NOTICE
    finally:
        peer.stop()


def test_the_turn_after_a_failure_begins_with_a_spoken_notice(engines, speech, dead_uri):
    engine = FallbackAsrEngine(WyomingAsrEngine(dead_uri), engines.asr)  # not started: it believes it is up
    turn_engines = dataclasses.replace(engines, asr=engine)
    answering = Answering(turn_engines, None, {"asr_runs": 0})
    status = {"last_reply": "", "battery": 80, "charging": False}
    prepared = asyncio.run(answering.prepare(speech("What time is it?"), None, [], status))
    assert prepared.reply.text.startswith(ASR_NOTICE) and prepared.reply.skill != "fallback"
    assert _heard_time_question(prepared.transcript) and len(prepared.first_audio) > 0
    # Until a turn is committed (`keep`) the notice stays: a speculative answer may yet be thrown away.
    speculative = asyncio.run(answering.prepare(speech("What time is it?"), None, [], status, speculative=True))
    assert speculative.reply.text.startswith(ASR_NOTICE)
    asyncio.run(answering.keep(speculative.reply))
    again = asyncio.run(answering.prepare(speech("What time is it?"), None, [], status))
    assert not again.reply.text.startswith(ASR_NOTICE) and engine.notice == ""


def test_without_a_local_engine_the_turn_says_the_server_is_down(engines, speech, dead_uri):
    with pytest.raises(remote.RemoteEngineError, match="earpiece models install"):
        FallbackAsrEngine(WyomingAsrEngine(dead_uri), None).start()
    engine = FallbackAsrEngine(WyomingAsrEngine(dead_uri), None)
    answering = Answering(dataclasses.replace(engines, asr=engine), None, {"asr_runs": 0})
    status = {"last_reply": "", "battery": 80, "charging": False}
    prepared = asyncio.run(answering.prepare(speech("What time is it?"), None, [], status))
    assert prepared.reply.text == "Sorry, the speech server isn't answering." and prepared.transcript == ""


def test_a_slow_recognition_server_times_out_and_the_local_engine_answers(engines, speech, slow_uri):
    engine = FallbackAsrEngine(WyomingAsrEngine(slow_uri, reply_timeout_s=0.5), engines.asr)
    assert _heard_time_question(engine.transcribe(speech("What time is it?")))
    assert engine.failures == 1 and engine.notice == ASR_NOTICE


def test_a_slow_voice_server_never_holds_up_the_event_loop(slow_uri, engines):
    """Waiting on the server is awaiting, not blocking: other earbuds' work goes on meanwhile."""
    tts = FallbackTtsEngine(WyomingTtsEngine(slow_uri, reply_timeout_s=0.5), engines.tts)

    async def run():
        ticks = 0

        async def ticker():
            nonlocal ticks
            while True:
                await asyncio.sleep(0.01)
                ticks += 1

        beat = asyncio.ensure_future(ticker())
        audio = await tts.synthesize_async("It is ten past two.")
        beat.cancel()
        return audio, ticks

    audio, ticks = asyncio.run(run())
    assert ticks > 50  # ~2.5 s of deadline; a blocked loop would tick a few times at most
    assert tts.failures == 1 and _rms(audio) > 300  # espeak-ng said the notice and the sentence
    notice_and_sentence = len(audio)
    assert len(asyncio.run(tts.synthesize_async("It is ten past two."))) < notice_and_sentence / 2


def test_a_voice_server_that_is_down_at_start_leaves_espeak_speaking(dead_uri, caplog):
    with caplog.at_level(logging.WARNING):
        tts = load_tts(TtsSettings(engine="wyoming", uri=dead_uri))
    try:
        assert not tts.remote_up and any("speech synthesis" in r.getMessage() for r in caplog.records)
        assert _rms(tts.synthesize("Ready.")) > 300 and tts.failures == 0
    finally:
        tts.close()


def test_a_uri_that_is_not_a_wyoming_address_names_the_setting():
    with pytest.raises(remote.WyomingUriError, match=r"\[asr\] uri"):
        WyomingAsrEngine("localhost:10300")
    with pytest.raises(remote.WyomingUriError, match=r"\[tts\] uri"):
        WyomingTtsEngine("http://127.0.0.1")


@pytest.mark.e2e  # starts a Wyoming server process
def test_engines_load_with_both_remote_engines(whisper_server, piper_server, models_root, speech):
    """What `earpiece run` loads for `[asr] engine = "wyoming"` and `[tts] engine = "wyoming"`: warmed up through
    the servers, the local engines standing by."""
    from host.config import Config
    from host.pipeline.engines import Engines

    config = Config(asr=AsrSettings(engine="wyoming", uri=whisper_server.uri),
                    tts=TtsSettings(engine="wyoming", uri=piper_server.uri))
    loaded = Engines.load(config, models_root, conversation_model=False)
    try:
        assert loaded.asr.name.startswith("wyoming (") and loaded.tts.name.startswith("wyoming (")
        assert loaded.tts.remote.sentences_spoken >= 1 and loaded.tts.failures == 0  # the warm-up went to Piper
        assert _heard_time_question(loaded.asr.transcribe(speech("What time is it?")))
        assert loaded.asr.failures == 0 and loaded.asr.local.runs == 0
    finally:
        loaded.close()


@pytest.mark.e2e  # starts a Wyoming server process
def test_a_server_that_comes_back_is_used_again(tmp_path, models_root, engines, speech, caplog):
    """While it is down the local engine answers and the server is asked in the background; back, it answers."""
    port = free_port()
    engine = FallbackAsrEngine(WyomingAsrEngine(f"tcp://127.0.0.1:{port}"), engines.asr, retry_after_s=0.2)
    engine.start()
    assert not engine.remote_up
    peer = start_whisper(tmp_path, models_root, port=port)
    try:
        question = speech("What time is it?")
        with caplog.at_level(logging.INFO):
            deadline = 50
            while not engine.remote_up and deadline:  # each call past retry_after_s starts one background probe
                assert _heard_time_question(engine.transcribe(question))
                deadline -= 1
            assert engine.remote_up, "the server was not asked again"
            local_runs = engines.asr.runs
            assert _heard_time_question(engine.transcribe(question))
        assert engines.asr.runs == local_runs and engine.failures == 0
        assert any("is back" in r.getMessage() for r in caplog.records)
    finally:
        peer.stop()


def test_wake_verification_stays_with_the_local_moonshine(engines, dead_uri):
    """Checking a wake word is local work: the verifier scores the phrase with the Moonshine standing by."""
    from dataclasses import replace

    from host.bridge.wake_check import verifier_for
    from host.pipeline.engines import Engines
    from host.pipeline.wake_verify import ForcedPhrase

    remote = FallbackAsrEngine(WyomingAsrEngine(dead_uri), engines.asr)
    verifier = verifier_for(Engines(engines.config, engines.wake, remote, engines.tts))
    assert verifier.asr is engines.asr and ForcedPhrase.supports(verifier.asr)
    alone = FallbackAsrEngine(WyomingAsrEngine(dead_uri), None)  # no local recognizer: the server's transcript
    assert verifier_for(Engines(engines.config, engines.wake, alone, engines.tts)).asr is alone
    korean = replace(engines.config, asr=replace(engines.config.asr, language="ko"))
    assert verifier_for(Engines(korean, engines.wake, engines.asr, engines.tts)) is None  # cannot confirm English
