"""`earpiece detect` and `earpiece transcribe` on WAV files."""

from __future__ import annotations

import json
import re
import subprocess
import wave

import pytest

from host.cli import main
from host.cli.voice_commands import FILE_MAX_UTTERANCE_S
from host.pipeline.audio import silence


@pytest.fixture
def command_wav(tmp_path, speech_wav):
    """"Hey Jarvis, set a timer for five minutes." at 44.1 kHz stereo, so the CLI has to convert it."""
    source = speech_wav("Hey Jarvis, set a timer for five minutes.")
    target = tmp_path / "command.wav"
    subprocess.run(["sox", str(source), "-r", "44100", "-c", "2", str(target), "pad", "1", "1"], check=True)
    return target


def test_detect_reports_wake_events_with_time_and_score(use_models, command_wav, capsys):
    assert main(["detect", str(command_wav), "--json"]) == 0
    [line] = capsys.readouterr().out.splitlines()
    result = json.loads(line)
    [event] = result["detections"]
    assert result["model"] == "hey_jarvis_v0.1" and event["score"] >= 0.5
    assert 1.0 < event["time_s"] < 2.6
    assert main(["detect", str(command_wav), "--model", "alexa", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["detections"] == []


def test_transcribe_writes_each_utterance(use_models, command_wav, capsys):
    assert main(["transcribe", str(command_wav), "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    [utterance] = result["utterances"]
    assert result["engine"] == "moonshine"
    assert "timer for five minutes" in utterance["text"].lower() or "timer for 5 minutes" in utterance["text"].lower()
    assert 0.8 < utterance["start_s"] < 1.3
    assert main(["transcribe", str(command_wav)]) == 0
    assert "timer" in capsys.readouterr().out


@pytest.mark.parametrize("content, message", [
    (None, "no such file"),
    (b"RIFF\x00\x00\x00\x00WAVEjunk", "not a PCM WAV file"),
])
def test_bad_input_is_a_one_line_error(use_models, tmp_path, capsys, content, message):
    path = tmp_path / "bad.wav"
    if content is not None:
        path.write_bytes(content)
    for command in ("detect", "transcribe"):
        assert main([command, str(path)]) == 1
        captured = capsys.readouterr()
        [line] = captured.err.splitlines()
        assert captured.out == "" and message in line


def test_float_wav_is_refused_with_a_conversion_hint(use_models, tmp_path, capsys, speech_wav):
    path = tmp_path / "float.wav"
    subprocess.run(["sox", str(speech_wav("Hey Jarvis")), "-e", "floating-point", "-b", "32", str(path)], check=True)
    assert main(["transcribe", str(path)]) == 1
    assert "sox" in capsys.readouterr().err


def test_a_broken_config_is_reported_before_any_model_loads(use_models, capsys, isolated_home, command_wav):
    (isolated_home / "config").mkdir(parents=True)
    (isolated_home / "config" / "config.toml").write_text("[asr]\nengine = 'cloud'\n")
    assert main(["transcribe", str(command_wav)]) == 1
    assert "asr.engine must be one of auto, vosk, whisper, moonshine" in capsys.readouterr().err


# Sentences espeak-ng says clearly enough for both English engines, each with words (or their starts, for
# spellings that differ) that appear in no other.
READING = {
    "Her brother painted the garden fence bright yellow.": ["painted", "garden"],
    "Seven children played football behind the old church.": ["children", "church"],
    "A violin concert was held in the library on Sunday.": ["library", "sunday"],
    "The baker sold warm bread and cinnamon rolls.": ["cinnamon", "rolls"],
    "Heavy snow closed the mountain road for three days.": ["mountain", "days"],
    "The captain steered the ship toward the harbour lights.": ["ship", "harbo"],
    "Fresh strawberries grow in the farmer's greenhouse.": ["strawberries", "farmers"],
    "Our neighbour repairs bicycles in his garage.": ["neighbo", "bicycle"],
    "Please turn off the kitchen lights.": ["kitchen", "off"],
    "What time does the train leave tomorrow morning?": ["train", "tomorrow"],
    "Play some music by the Beatles.": ["music", "play"],  # (Beatles and beetles sound alike)
    "The meeting with the doctor is on Friday afternoon.": ["doctor", "friday"],
}


def write_wav(path, pcm: bytes):
    with wave.open(str(path), "wb") as handle:
        handle.setnchannels(1)
        handle.setsampwidth(2)
        handle.setframerate(16000)
        handle.writeframes(pcm)
    return path


@pytest.mark.parametrize("pause_s", [0.9, 0.0])
def test_transcribe_keeps_every_sentence_of_a_long_reading(use_models, tmp_path, capsys, speech, pause_s):
    """Over 30 s of reading: with pauses between sentences (each its own utterance), and without (espeak's own
    short pauses only: one stretch of speech, split at pauses when it runs past the maximum length)."""
    pcm = silence(0.5) + b"".join(speech(sentence) + silence(pause_s) for sentence in READING)
    assert len(pcm) / 32000 > 30
    assert main(["transcribe", str(write_wav(tmp_path / "reading.wav", pcm)), "--json"]) == 0
    utterances = json.loads(capsys.readouterr().out)["utterances"]
    words = set(re.findall(r"[a-z]+", " ".join(u["text"] for u in utterances).lower().replace("'", "")))
    missing = [key for keys in READING.values() for key in keys if not any(w.startswith(key) for w in words)]
    assert missing == [], (missing, [u["text"] for u in utterances])
    starts = [u["start_s"] for u in utterances]
    assert starts == sorted(starts) and utterances[-1]["end_s"] > len(pcm) / 32000 - 4  # heard until the end, in order
    if pause_s > 0.6:
        assert len(utterances) == len(READING)
    else:
        assert 2 <= len(utterances) < len(READING)
        assert all(u["end_s"] - u["start_s"] <= FILE_MAX_UTTERANCE_S for u in utterances)
