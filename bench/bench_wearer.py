"""Wearer-only listening: how well the speaker check tells the enrolled wearer from other human voices.

The corpus (`<repo>/../shared/corpus`, or $EARPIECE_CORPUS) names no speakers, so the wearers are the recordings
known to share a voice: LJSpeech (one reader, 32 clips), the LibriVox "Sense and Sensibility" reader (6 clips),
the pocketsphinx card-game speaker (001-005), and JFK and Beckett (one long clip each, split: the first part
enrols, the rest is tested in ~2.5 s pieces). Each wearer enrols from their first clips, up to 20 s of voice as
`earpiece enroll` collects (the last three have only 4-7 s: harder than a real enrolment); their other clips are
genuine trials, whole and cut to their first second of voice (a short request: "short_*"). Impostor trials:
every clip of every other voice against each wearer: the 300 Picovoice clips (wake words and near-miss keywords
from many different people) and the other speech clips.

The threshold is the shipped one (`host.pipeline.speaker_check.WEARER_THRESHOLD`); a trial is the speaker check of
one clip as the bridge runs it (`judge`: voiced frames only; too little voice is rejected). CPU per utterance is
the process time of that check.

    .venv/bin/python -m bench --only wearer
"""

from __future__ import annotations

import argparse
import csv
import json
import statistics
import time
from pathlib import Path

import numpy as np

from bench.common import Unavailable, corpus_dir, round_or_none
from host.bridge.enrolment import MIN_VOICED_S as ENROL_MIN_VOICED_S
from host.pipeline.audio import read_wav
from host.pipeline.messages import SAMPLE_RATE
from host.pipeline.speaker_check import MIN_VOICED_S, WEARER_THRESHOLD, SpeakerEmbedder, similarity

SECTIONS = {"wearer_only": ("false_accept_rate", "false_reject_rate", "false_accepts", "impostor_trials",
                            "false_rejects", "genuine_trials", "threshold")}
BUDGET_S = 180.0  # measured ~40 s on 2 cores
ENROL_VOICED_S = 20.0  # as `earpiece enroll` (host/bridge/enrolment.py TARGET_VOICED_S)
SPLIT_ENROL_S = 6.0  # JFK, Beckett: the first seconds enrol
PIECE_S = 2.5
SHORT_VOICED_S = 1.0


def speaker_of(path: str) -> str:
    name = path.rsplit("/", 1)[-1]
    if "coqui_ljspeech" in path:
        return "ljspeech"
    if "austen" in name:
        return "librivox_austen"
    if "pocketsphinx" in path and name in ("001.wav", "002.wav", "003.wav", "004.wav", "005.wav"):
        return "pocketsphinx_cards"
    return path  # every other clip: a voice of its own (the Picovoice clips are crowd-sourced, one per person)


def load_corpus(root: Path) -> dict[str, list[tuple[str, bytes]]]:
    """speaker -> [(path, 16 kHz PCM)] in manifest order."""
    with open(root / "manifest.tsv", newline="", encoding="utf-8") as file:
        rows = list(csv.DictReader(file, delimiter="\t"))
    voices: dict[str, list[tuple[str, bytes]]] = {}
    for row in rows:
        if row["speaker"].startswith("human"):
            voices.setdefault(speaker_of(row["path"]), []).append((row["path"], read_wav(root / row["path"])))
    return voices


def wearers(voices: dict, embedder: SpeakerEmbedder) -> dict[str, tuple[list[bytes], list[tuple[str, bytes]]]]:
    """wearer -> (enrolment audio, genuine trials)."""
    chosen = {}
    for name in ("ljspeech", "librivox_austen", "pocketsphinx_cards"):
        clips = sorted(voices[name], key=lambda c: -len(c[1])) if name != "ljspeech" else voices[name]
        enrol, voiced = [], 0.0
        while clips and voiced < ENROL_VOICED_S and len(clips) > 2:
            pcm = clips[0][1]
            enrol.append(pcm)
            voiced += embedder.voiced_seconds(pcm)
            clips = clips[1:]
        chosen[name] = (enrol, clips)
    for path in ("speech/whisper/jfk.wav", "speech/moonshine/beckett.wav"):
        (_, pcm), = voices[path]
        cut = int(SPLIT_ENROL_S * SAMPLE_RATE) * 2
        piece = int(PIECE_S * SAMPLE_RATE) * 2
        tests = [(f"{path}@{i}", pcm[i:i + piece]) for i in range(cut, len(pcm) - piece // 2, piece)]
        chosen[path] = ([pcm[:cut]], tests)
    return chosen


def measure(root: Path) -> dict:
    embedder = SpeakerEmbedder()
    voices = load_corpus(root)
    enrolled = wearers(voices, embedder)
    # Every clip embedded once, as the bridge's check does it (voiced frames; too little voice: rejected).
    trials: dict[str, tuple[np.ndarray | None, float]] = {}
    cpu_ms, audio_s = [], []
    all_clips = [c for clips in voices.values() for c in clips] + [c for _, tests in enrolled.values() for c in tests]
    for path, pcm in all_clips:
        if path in trials:
            continue
        started = time.process_time()
        voiced = embedder.voiced(pcm)
        enough = len(voiced) / (2 * SAMPLE_RATE) >= MIN_VOICED_S
        trials[path] = (embedder.embed(voiced, voiced_only=False) if enough else None, len(pcm) / (2 * SAMPLE_RATE))
        cpu_ms.append((time.process_time() - started) * 1000)
        audio_s.append(len(pcm) / (2 * SAMPLE_RATE))
    per_wearer, genuine_scores, impostor_scores = {}, [], []
    false_accepts = impostors = false_rejects = genuine = short_rejects = short_trials = 0
    for name, (enrol, tests) in enrolled.items():
        voiceprint = embedder.embed(b"".join(embedder.voiced(p) for p in enrol), voiced_only=False)
        own = {path for path, _ in tests} | {path for path, _ in voices.get(name, [])}
        g = [_score(trials[path][0], voiceprint) for path, _ in tests]
        i = [_score(embedding, voiceprint) for path, (embedding, _) in trials.items()
             if path not in own and not path.startswith(name + "@") and speaker_of(path.split("@")[0]) != name]
        fr, fa = sum(s < WEARER_THRESHOLD for s in g), sum(s >= WEARER_THRESHOLD for s in i)
        # Short requests ("stop", "yes, please"): the first SHORT_VOICED_S of voice of each genuine trial.
        short = [similarity(embedder.embed(embedder.voiced(pcm)[:int(SHORT_VOICED_S * SAMPLE_RATE) * 2],
                                           voiced_only=False), voiceprint) for _, pcm in tests]
        short_rejects += sum(s < WEARER_THRESHOLD for s in short)
        short_trials += len(short)
        per_wearer[name] = {"enrol_voiced_s": round(sum(embedder.voiced_seconds(p) for p in enrol), 1),
                            "genuine_trials": len(g), "false_rejects": fr, "impostor_trials": len(i),
                            "false_accepts": fa, "genuine_min": round_or_none(min(g), 3),
                            "impostor_max": round_or_none(max(i), 3)}
        genuine_scores += g
        impostor_scores += i
        false_rejects, genuine = false_rejects + fr, genuine + len(g)
        false_accepts, impostors = false_accepts + fa, impostors + len(i)
    full = [row for row in per_wearer.values() if row["enrol_voiced_s"] >= ENROL_MIN_VOICED_S]
    return {
        "false_accept_rate": round(false_accepts / impostors, 4),
        "false_reject_rate": round(false_rejects / genuine, 4),
        "false_accepts": false_accepts, "impostor_trials": impostors, "false_rejects": false_rejects,
        "genuine_trials": genuine, "threshold": WEARER_THRESHOLD, "wearers": per_wearer,
        "impostor_voices": len([v for v in voices if v not in enrolled]),
        "short_false_reject_rate": round(short_rejects / short_trials, 4), "short_false_rejects": short_rejects,
        "short_genuine_trials": short_trials, "short_voiced_s": SHORT_VOICED_S,
        # Only the wearers whose enrolment `earpiece enroll` would accept (>= MIN_VOICED_S of voice).
        "full_enrolment": {key: sum(row[key] for row in full) for key in
                           ("false_accepts", "impostor_trials", "false_rejects", "genuine_trials")},
        "equal_error_rate": round_or_none(_eer(genuine_scores, impostor_scores), 4),
        "cpu_ms_per_utterance_p50": round(statistics.median(cpu_ms), 1),
        "cpu_ms_per_audio_s": round(sum(cpu_ms) / sum(audio_s), 1),
        "utterance_s_p50": round(statistics.median(audio_s), 2),
    }


def _score(embedding: np.ndarray | None, voiceprint: np.ndarray) -> float:
    return -1.0 if embedding is None else similarity(embedding, voiceprint)


def _eer(genuine: list[float], impostor: list[float]) -> float | None:
    """Where false accepts and false rejects meet (a threshold-free summary beside the shipped threshold's)."""
    best = None
    for threshold in sorted(set(genuine + impostor)):
        fr = sum(s < threshold for s in genuine) / len(genuine)
        fa = sum(s >= threshold for s in impostor) / len(impostor)
        if best is None or abs(fr - fa) < best[0]:
            best = (abs(fr - fa), (fr + fa) / 2)
    return best[1] if best else None


def run(budget_s: float, quick: bool = False, out_dir: Path | None = None) -> dict:
    root = corpus_dir()
    if root is None or not (root / "manifest.tsv").exists():
        raise Unavailable("no corpus (../shared/corpus or $EARPIECE_CORPUS)")
    return {"wearer_only": measure(root)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--json", action="store_true", help="print one JSON object on one line")
    args = parser.parse_args()
    result = run(BUDGET_S)["wearer_only"]
    if args.json:
        print(json.dumps(result))
        return
    print(f"false accepts {result['false_accepts']}/{result['impostor_trials']} = {result['false_accept_rate']:.2%}, "
          f"false rejects {result['false_rejects']}/{result['genuine_trials']} = {result['false_reject_rate']:.2%} "
          f"at {result['threshold']} (EER {result['equal_error_rate']:.2%}); "
          f"{result['cpu_ms_per_utterance_p50']} ms CPU per utterance")
    for name, row in result["wearers"].items():
        print(f"  {name}: {row}")


if __name__ == "__main__":
    main()
