"""The speaker check with the real model and real voices: espeak-ng voices that differ (and ones that are the same
synthesizer), human speakers of the corpus when it is present; the voiceprint file; the gate before recognition."""

from __future__ import annotations

import asyncio
import os
import stat

import pytest

from bench.common import corpus_dir
from host.bridge.answering import Answering
from host.bridge.session import STATS
from host.bridge.wearer_gate import WearerGate, shared_embedder
from host.companion.voiceprint import Voiceprints, VoiceprintError
from host.pipeline.audio import read_wav, silence
from host.pipeline.speaker_check import WEARER_THRESHOLD, judge, similarity

ENROL = ("The quick brown fox jumps over the lazy dog.", "Please remind me to water the plants on Sunday afternoon.",
         "My favourite colour is green and I live near the river.", "Seven silly swans swam slowly across the lake.",
         "How far is it from here to the nearest train station?")
QUESTIONS = ("What time is it?", "Set a timer for five minutes.", "Remember that my sister's birthday is on May third.")


@pytest.fixture(scope="module")
def embedder():
    return shared_embedder()


@pytest.fixture(scope="module")
def enrolled_en_us(embedder, speech):
    return embedder.embed(b"".join(speech(text, "en-us") + silence(0.5) for text in ENROL))


@pytest.mark.parametrize("question", QUESTIONS)
def test_the_wearer_is_accepted_and_other_voices_are_not(embedder, enrolled_en_us, speech, question):
    assert judge(embedder, enrolled_en_us, speech(question, "en-us")).wearer
    for other in ("en-us+f3", "en+klatt"):  # a female variant, another synthesizer
        verdict = judge(embedder, enrolled_en_us, speech(question, other))
        assert not verdict.wearer and verdict.score < WEARER_THRESHOLD - 0.1, (other, verdict)


def test_silence_and_a_click_are_nobody(embedder, enrolled_en_us):
    assert not judge(embedder, enrolled_en_us, silence(2.0)).wearer
    assert not judge(embedder, enrolled_en_us, silence(1.0) + b"\xff\x7f" * 800 + silence(1.0)).wearer


def test_embedding_is_unit_length_and_pauses_do_not_change_the_voice(embedder, speech):
    said = speech("What will the weather be like tomorrow?", "en-us")
    plain, padded = embedder.embed(said), embedder.embed(silence(1.5) + said + silence(2.0))
    assert abs(float((plain ** 2).sum()) - 1.0) < 1e-4
    assert similarity(plain, padded) > 0.95


@pytest.mark.skipif(not (corpus_dir() / "manifest.tsv").exists(), reason="no shared corpus")
def test_human_speakers_of_the_corpus(embedder):
    root = corpus_dir() / "speech"
    lj = [read_wav(root / "coqui_ljspeech" / f"LJ001-{n:04d}.wav") for n in range(1, 8)]
    voiceprint = embedder.embed(b"".join(lj[:5]))
    for clip in lj[5:]:
        assert judge(embedder, voiceprint, clip).wearer
    others = [root / "whisper" / "jfk.wav", root / "moonshine" / "beckett.wav",
              root / "pocketsphinx" / "sense_and_sensibility_01_austen_64kb-0870.wav",
              *sorted((corpus_dir() / "wake" / "alexa").glob("*.wav"))[:10]]
    for path in others:
        assert not judge(embedder, voiceprint, read_wav(path)).wearer, path


def test_voiceprints_are_private_listed_reloaded_and_forgotten(tmp_path, embedder, enrolled_en_us):
    path = tmp_path / "data" / "voiceprints.json"
    store, reader = Voiceprints(path), Voiceprints(path)
    assert store.all() == [] and reader.get("Earpiece 1") is None
    store.save("Earpiece 1", enrolled_en_us, 21.5)
    store.save("Earpiece 2", enrolled_en_us, 18.0)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert not any(p.name.endswith(".tmp") for p in path.parent.iterdir())
    assert [p.device for p in reader.all()] == ["Earpiece 1", "Earpiece 2"]  # another process's view
    assert similarity(reader.get("Earpiece 1").embedding, enrolled_en_us) > 0.9999
    assert reader.get("Earpiece 1").to_dict()["voiced_s"] == 21.5
    assert [p.device for p in store.forget("Earpiece 1")] == ["Earpiece 1"]
    assert reader.get("Earpiece 1") is None and reader.get("Earpiece 2") is not None
    assert store.forget("nobody") == []
    store.forget()
    assert not path.exists() and reader.all() == []
    path.write_text("{not json")
    with pytest.raises(VoiceprintError, match="memory voice --forget"):
        reader.all()


def test_the_gate_keeps_other_voices_from_the_recognizer(tmp_path, engines, enrolled_en_us, speech):
    store = Voiceprints(tmp_path / "voiceprints.json")
    stats = dict.fromkeys(STATS, 0)
    answering = Answering(engines, None, stats, "Earpiece 1")
    answering.wearer = WearerGate("Earpiece 1", True, store)
    status = {"last_reply": None, "battery": None, "charging": False}
    stranger = speech("What time is it?", "en-us+f3")

    async def prepare(audio):
        return await answering.prepare(audio, None, [], status)

    # Nobody enrolled: everyone is heard, as before.
    assert not answering.wearer.active and not asyncio.run(prepare(stranger)).not_wearer
    store.save("Earpiece 1", enrolled_en_us, 20.0)
    assert answering.wearer.active
    runs = stats["asr_runs"]
    ignored = asyncio.run(prepare(stranger))
    assert ignored.not_wearer and ignored.transcript == "" and stats["asr_runs"] == runs
    heard = asyncio.run(prepare(speech("What time is it?", "en-us")))
    assert not heard.not_wearer and "time" in heard.transcript.lower() and stats["asr_runs"] == runs + 1
    # Off in the settings, or forgotten: everyone again.
    assert asyncio.run(WearerGate("Earpiece 1", False, store).admits(stranger))
    store.forget("Earpiece 1")
    assert not asyncio.run(prepare(stranger)).not_wearer
    assert os.environ.get("EARPIECE_HOME")  # the gate's default file is in this test's own home
