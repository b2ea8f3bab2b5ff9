"""The accuracy benchmark's arithmetic and plumbing: fair text normalization for WER, and false accepts per hour
that count only the clips' own audio, never the silence the detector needs around them."""

from __future__ import annotations

import subprocess
import wave
from pathlib import Path

import numpy as np
import pytest

from bench import bench_accuracy as accuracy
from bench.common import Unavailable
from host.pipeline.audio import read_wav
from host.pipeline.wake import WakeModel, WakeWordDetector


# ---- normalization and WER ----------------------------------------------------------------------------------


def test_normalize_ignores_case_and_punctuation():
    assert accuracy.normalize("Hello, World! Isn't it?") == ["hello", "world", "isnt", "it"]
    assert accuracy.normalize('"Lower-case" letters; i.e. types.') == ["lower", "case", "letters", "ie", "types"]


def test_normalize_spells_numbers_out():
    assert accuracy.normalize("10") == accuracy.normalize("ten")
    assert accuracy.normalize("Go forward 10 meters.") == ["go", "forward", "ten", "meters"]
    assert accuracy.normalize("in 1465") == ["in", "fourteen", "sixty", "five"]  # a year, as it is said
    assert accuracy.normalize("1,250") == ["one", "thousand", "two", "hundred", "fifty"]  # a comma: not a year
    assert accuracy.normalize("the 15th century") == ["the", "fifteenth", "century"]
    assert accuracy.normalize("42-line Bible") == accuracy.normalize("forty-two line bible")
    assert accuracy.normalize("105") == ["one", "hundred", "five"]


def test_normalize_spells_titles_out():
    assert accuracy.normalize("Mr. John Dashwood") == accuracy.normalize("mister john dashwood")


def test_word_errors_count_substitutions_insertions_and_deletions():
    ref = "the cat sat on the mat".split()
    assert accuracy.word_errors(ref, ref) == 0
    assert accuracy.word_errors(ref, "the cat sat on a mat".split()) == 1
    assert accuracy.word_errors(ref, "the cat sat on the mat today".split()) == 1
    assert accuracy.word_errors(ref, "cat sat on mat".split()) == 2
    assert accuracy.word_errors(ref, []) == 6
    assert accuracy.word_errors([], ["noise"]) == 1


def test_wer_is_edits_over_all_reference_words():
    assert accuracy.wer([accuracy.compare("Ten of clubs.", "10 of clubs")]) == 0.0
    assert accuracy.wer([accuracy.compare("four queen of clubs", "for queen of clothes"),
                         accuracy.compare("five five", "five five")]) == 2 / 6
    assert accuracy.wer([]) is None


# ---- false accepts per hour -----------------------------------------------------------------------------------


def score(real_s: float, *detections: float, kind: str = "negative") -> accuracy.WakeScore:
    return accuracy.WakeScore("clip.wav", kind, "negatives/x", real_s, list(detections))


def test_false_accepts_per_hour_divides_by_real_audio():
    count, hours, rate = accuracy.false_accepts_per_hour([score(1800.0, 3.0), score(1800.0), score(900.0, 1.0, 9.0)])
    assert count == 3
    assert hours == pytest.approx(1.25)
    assert rate == pytest.approx(2.4)
    assert accuracy.false_accepts_per_hour([]) == (0, 0.0, None)


def test_poisson_upper_bound_says_how_high_an_unseen_rate_could_be():
    assert accuracy.poisson_upper_bound(0) == pytest.approx(2.9957, abs=1e-3)  # -ln(0.05)
    assert accuracy.poisson_upper_bound(1) == pytest.approx(4.7439, abs=1e-3)


def test_a_detection_in_the_lead_in_silence_is_not_a_detected_wake_word():
    assert accuracy.detected(score(2.0, 0.4, kind="wake"))
    assert not accuracy.detected(score(2.0, -0.1, kind="wake"))


def test_score_clip_counts_only_the_clips_own_audio(use_models):
    from host import models

    model = WakeModel(models.wake_model_path("alexa"), models.melspectrogram_path(), models.embedding_path())
    clip = np.random.default_rng(3).normal(0, 800, 16000 + 123).astype("<i2").tobytes()
    # Threshold 0: every scored frame is a detection, so the first one (refractory: only one) falls right after
    # the start-up guard, inside the lead-in silence.
    detector = WakeWordDetector(model, threshold=0.0, refractory_s=100.0, startup_guard_s=1.6)
    real_s, detections, _ = accuracy.score_clip(detector, clip, tail_s=1.0)
    assert real_s == pytest.approx((16000 + 123) / 16000)
    assert detector.frames_scored * 1280 / 16000 > real_s + 2.5  # the detector heard the padding too
    assert len(detections) == 1 and detections[0] < 0  # before the clip: the lead-in, not the clip
    assert accuracy.lead_silence_s(1.6) > 1.6 and accuracy.lead_silence_s(1.6) * 16000 % 1280 == 0


# ---- the corpus and the whole part ------------------------------------------------------------------------------


def write_manifest(corpus: Path, rows: list[tuple[str, str]]) -> None:
    lines = ["path\tduration_s\tspeaker\ttranscript\tsource\tlicense"]
    for path, transcript in rows:
        seconds = 0.0
        if (corpus / path).is_file():
            with wave.open(str(corpus / path)) as wav:
                seconds = wav.getnframes() / wav.getframerate()
        lines.append(f"{path}\t{seconds:.3f}\tsynthetic\t{transcript}\ttest\tnone")
    (corpus / "manifest.tsv").write_text("\n".join(lines) + "\n", encoding="utf-8")


def speak(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    subprocess.run(["espeak-ng", "-v", "en-us", "-w", str(path), text], check=True, capture_output=True)


def test_read_manifest_sorts_clips_and_unquotes_transcripts(tmp_path):
    write_manifest(tmp_path, [("wake/alexa/1.wav", "alexa"), ("negatives/computer/2.wav", "computer"),
                              ("speech/lj/3.wav", '"the ""lower-case"" letters"'), ("other/4.wav", "x")])
    clips = accuracy.read_manifest(tmp_path)
    assert [(c.kind, c.source) for c in clips] == [("wake", "wake/alexa"), ("negative", "negatives/computer"),
                                                   ("speech", "speech/lj")]
    assert clips[2].transcript == 'the "lower-case" letters'
    with pytest.raises(Unavailable, match="EARPIECE_CORPUS"):
        accuracy.read_manifest(tmp_path / "missing")


def test_run_on_a_small_corpus_counts_negative_hours_from_real_audio(tmp_path, use_models, monkeypatch):
    corpus = tmp_path / "corpus"
    speak(corpus / "wake/alexa/a.wav", "Alexa")
    speak(corpus / "negatives/computer/c.wav", "computer")
    speak(corpus / "speech/test/s.wav", "Turn on the kitchen light")
    write_manifest(corpus, [("wake/alexa/a.wav", "alexa"), ("negatives/computer/c.wav", "computer"),
                            ("speech/test/s.wav", "turn on the kitchen light")])
    monkeypatch.setenv("EARPIECE_CORPUS", str(corpus))
    result = accuracy.run(60.0, out_dir=tmp_path)
    wake, asr = result["wake_word"], result["asr"]
    real_negative_s = sum(len(read_wav(corpus / p)) / 32000 for p in ("negatives/computer/c.wav", "speech/test/s.wav"))
    assert wake["negative_hours"] * 3600 == pytest.approx(real_negative_s, abs=0.01)
    assert wake["negative_clips"] == 2 and wake["wake_clips"] == 1
    assert wake["threshold"] == 0.5 and wake["model"] == "alexa"  # the default setting, not tuned
    assert wake["padding_s"]["counted_as_audio"] is False
    assert wake["false_accepts_per_hour"] == pytest.approx(wake["false_accepts"] / wake["negative_hours"], rel=1e-3)
    assert asr["engine"] == "moonshine" and asr["clips"] == 1 and asr["reference_words"] == 5
    assert set(asr["wer_by_engine"]) == {"moonshine", "whisper"}
    assert 0.0 <= asr["wer"] <= 0.4  # espeak-ng speech of a short command: the recognizer gets (almost) all of it
    assert (tmp_path / "accuracy_details.json").is_file()
