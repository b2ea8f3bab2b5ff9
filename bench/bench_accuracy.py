"""Accuracy on real human recordings: wake-word detection / false accepts, and the recognizer's word error rate.

The corpus (`<repo>/../shared/corpus`, or $EARPIECE_CORPUS) lists its clips in manifest.tsv (path, duration_s,
speaker, transcript, source, license): wake/alexa/ holds the wake word, negatives/ other keywords, speech/
sentences with transcripts.

Wake word: the project's own detector (`host.pipeline.wake.WakeWordDetector`) with the alexa model and the
threshold, refractory time and start-up guard from the DEFAULT settings (`host.config.Config()`), never tuned on
the corpus. Each clip gets a fresh detector, as a session would; the detector ignores its first seconds (the
start-up guard), so every clip is preceded by that much digital silence and followed by a little (the word's last
frames need it to be scored). Padding never counts as audio: false accepts per hour divide by the real clips'
duration only. Negatives = negatives/ + speech/ (sentences contain no "alexa").

ASR: the default engine (`[asr]` defaults: Moonshine base here), and whisper tiny.en beside it, transcribe each speech clip whole;
WER = word edits / reference words over the whole set, after normalizing both sides the same way (`normalize`).

    .venv/bin/python -m bench --only accuracy [--quick]
"""

from __future__ import annotations

import csv
import math
import os
import re
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict, dataclass, field
from multiprocessing import get_context
from pathlib import Path

from bench.common import Unavailable, corpus_dir, install_models, round_or_none
from host.pipeline.messages import SAMPLE_RATE
from host.pipeline.wake_scoring import FRAME_SAMPLES

SECTIONS = {
    "wake_word": ("detection_rate", "false_accepts_per_hour", "false_accepts", "negative_hours", "threshold"),
    "asr": ("wer", "engine", "wer_by_engine"),
}
BUDGET_S = 240.0  # measured ~60 s on 2 cores

WAKE_MODEL = "alexa"  # the corpus's wake word
TAIL_SILENCE_S = 1.0  # after a clip: the word's last frames are scored only once later audio arrives
GUARD_MARGIN_S = 0.32  # real audio starts this long after the start-up guard has ended
QUICK_CLIPS = {"wake": 12, "negative": 24, "speech": 6}


# ---- the corpus ----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Clip:
    path: Path
    name: str  # the path inside the corpus, as the manifest lists it
    kind: str  # "wake", "negative" or "speech"
    source: str  # e.g. "negatives/computer" or "speech/coqui_ljspeech": the folder, for breakdowns
    transcript: str


def read_manifest(corpus: Path) -> list[Clip]:
    """The clips listed in `<corpus>/manifest.tsv`. Raises Unavailable if there is no corpus."""
    manifest = corpus / "manifest.tsv"
    if not manifest.is_file():
        raise Unavailable(f"no corpus at {corpus} (no manifest.tsv): put it at <repo>/../shared/corpus or set "
                          f"EARPIECE_CORPUS")
    clips = []
    with open(manifest, newline="", encoding="utf-8") as handle:
        # Transcripts are quoted CSV-style where they contain quotes ("""lower-case"""): csv undoes that.
        for row in csv.DictReader(handle, delimiter="\t"):
            relative = row["path"]
            top = relative.split("/", 1)[0]
            kind = {"wake": "wake", "negatives": "negative", "speech": "speech"}.get(top)
            if kind is None:
                continue
            clips.append(Clip(corpus / relative, relative, kind, "/".join(relative.split("/")[:2]), row["transcript"]))
    return clips


def quick_subset(clips: list[Clip]) -> list[Clip]:
    """A few clips of each kind, spread over the sources (for developers; numbers are not comparable)."""
    chosen = []
    for kind, count in QUICK_CLIPS.items():
        of_kind = [clip for clip in clips if clip.kind == kind]
        step = max(1, len(of_kind) // count)
        chosen += of_kind[::step][:count]
    return chosen


# ---- text normalization and WER ------------------------------------------------------------------------------


# Titles are written either way ("Mr." / "mister"); compare them spelled out.
ABBREVIATIONS = {"mr": "mister", "mrs": "missus", "dr": "doctor"}


def _number_words(match: re.Match) -> str:
    from num2words import num2words

    text, suffix = match.group(1).replace(",", ""), match.group(2)
    if suffix:
        words = num2words(int(text), to="ordinal")
    elif "." in text:
        words = num2words(float(text))
    elif len(match.group(1)) == 4 and 1100 <= int(text) <= 1999:
        words = num2words(int(text), to="year")  # "1465" is said "fourteen sixty-five"
    else:
        words = num2words(int(text))
    # num2words says "one hundred and five"; transcripts and recognizers mostly drop the "and".
    return " " + words.replace(" and ", " ").replace(",", "") + " "


def normalize(text: str) -> list[str]:
    """Words to compare: lower case, digits spelled out ("10" -> "ten", "1465" -> "fourteen sixty five", "3rd" ->
    "third"), hyphens as spaces ("forty-two" == "forty two"), other punctuation dropped ("i.e." -> "ie",
    "don't" -> "dont"), titles spelled out ("Mr." -> "mister")."""
    text = text.lower().replace("\u2019", "'").replace("%", " percent ").replace("&", " and ")
    text = re.sub(r"(\d[\d,]*(?:\.\d+)?)(st|nd|rd|th)?\b", _number_words, text)
    text = re.sub(r"[-\u2013\u2014/]", " ", text)
    text = re.sub(r"[^\w\s]", "", text)
    return [ABBREVIATIONS.get(word, word) for word in text.split()]


def word_errors(reference: list[str], hypothesis: list[str]) -> int:
    """Word-level Levenshtein distance: substitutions + deletions + insertions."""
    previous = list(range(len(hypothesis) + 1))
    for i, ref_word in enumerate(reference, 1):
        current = [i]
        for j, hyp_word in enumerate(hypothesis, 1):
            current.append(min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (ref_word != hyp_word)))
        previous = current
    return previous[-1]


def compare(reference: str, hypothesis: str) -> dict:
    """One transcript against its reference: {"errors": word edits, "words": reference words}, normalized."""
    ref = normalize(reference)
    return {"errors": word_errors(ref, normalize(hypothesis)), "words": len(ref)}


def wer(compared: list[dict]) -> float | None:
    """Corpus WER of `compare` results: all edits over all reference words (None if no words)."""
    words = sum(row["words"] for row in compared)
    return sum(row["errors"] for row in compared) / words if words else None


# ---- wake word -----------------------------------------------------------------------------------------------


@dataclass
class WakeScore:
    path: str  # inside the corpus
    kind: str
    source: str
    real_s: float  # seconds of the clip's own audio (never the padding)
    detections_s: list[float] = field(default_factory=list)  # detection times, relative to the clip's start
    max_score: float = 0.0


def lead_silence_s(startup_guard_s: float) -> float:
    """Silence before a clip: past the detector's start-up guard, rounded up to whole frames."""
    frames = math.ceil((startup_guard_s + GUARD_MARGIN_S) * SAMPLE_RATE / FRAME_SAMPLES)
    return frames * FRAME_SAMPLES / SAMPLE_RATE


def score_clip(detector, pcm: bytes, tail_s: float = TAIL_SILENCE_S) -> tuple[float, list[float], float]:
    """Feed one clip, padded with silence, to a fresh detector: (real seconds, detection times relative to the
    clip's start, highest score). The real seconds are the clip's alone."""
    from host.pipeline.audio import silence

    lead_s = lead_silence_s(detector.startup_guard_s)
    detections = detector.process(silence(lead_s) + pcm + silence(tail_s))
    return len(pcm) / 2 / SAMPLE_RATE, [d.time_s - lead_s for d in detections], detector.max_score


def false_accepts_per_hour(scores: list[WakeScore]) -> tuple[int, float, float | None]:
    """(false accepts, hours of real audio, false accepts per hour) over negative clips."""
    count = sum(len(score.detections_s) for score in scores)
    hours = sum(score.real_s for score in scores) / 3600
    return count, hours, (count / hours if hours else None)


def poisson_upper_bound(events: int, confidence: float = 0.95) -> float:
    """One-sided upper confidence bound on a Poisson mean after observing `events`: with few hours of negatives,
    "0 false accepts" is not "0 per hour", and this says how high the rate could still be."""
    def cdf(mean: float) -> float:
        term = total = math.exp(-mean)
        for k in range(1, events + 1):
            term *= mean / k
            total += term
        return total

    low, high = 0.0, events + 10.0 * math.sqrt(events + 1) + 10.0
    for _ in range(100):  # bisection: cdf falls as the mean grows
        middle = (low + high) / 2
        low, high = (middle, high) if cdf(middle) > 1 - confidence else (low, middle)
    return high


def detected(score: WakeScore) -> bool:
    """A wake clip counts as detected when a detection falls in the clip or the silence after it (never in the
    lead-in, which holds no word)."""
    return any(t >= 0 for t in score.detections_s)


_worker_model = None
_worker_settings = None


def _init_wake_worker(settings) -> None:
    global _worker_model, _worker_settings
    from dataclasses import replace

    from host.config import Config
    from host.pipeline.engines import load_wake
    from host.pipeline.wake import wake_threads

    wake_threads()  # one onnxruntime thread per process: the pool provides the parallelism
    _worker_settings = settings
    _worker_model = load_wake(replace(Config(), wake=settings))


def _score_wake_clip(clip: Clip) -> WakeScore:
    from host.pipeline.audio import read_wav
    from host.pipeline.wake import WakeWordDetector

    s = _worker_settings
    detector = WakeWordDetector(_worker_model, s.threshold, s.refractory_s, s.startup_guard_s)
    real_s, detections_s, max_score = score_clip(detector, read_wav(clip.path))
    return WakeScore(clip.name, clip.kind, clip.source, real_s, detections_s, max_score)


def wake_settings():
    """The DEFAULT wake settings with the corpus's wake word: fixed before looking at the corpus."""
    from dataclasses import replace

    from host.config import Config

    return replace(Config().wake, model=WAKE_MODEL)


def run_wake(clips: list[Clip], workers: int) -> tuple[dict, list[WakeScore]]:
    settings = wake_settings()
    with ProcessPoolExecutor(max_workers=workers, mp_context=get_context("spawn"), initializer=_init_wake_worker,
                             initargs=(settings,)) as pool:
        scores = list(pool.map(_score_wake_clip, clips, chunksize=4))
    positives = [score for score in scores if score.kind == "wake"]
    negatives = [score for score in scores if score.kind != "wake"]
    hits = sum(detected(score) for score in positives)
    count, hours, rate = false_accepts_per_hour(negatives)
    by_source = {}
    for source in sorted({score.source for score in negatives}):
        group_count, group_hours, group_rate = false_accepts_per_hour([s for s in negatives if s.source == source])
        by_source[source] = {"clips": sum(s.source == source for s in negatives), "false_accepts": group_count,
                             "hours": round(group_hours, 4), "false_accepts_per_hour": round_or_none(group_rate, 2)}
    section = {
        "detection_rate": round(hits / len(positives), 4) if positives else None,
        "false_accepts_per_hour": round_or_none(rate, 3),
        "false_accepts": count,
        "negative_hours": round(hours, 6),
        # The corpus is short: one false accept alone would be this rate, and the rate could be this high (95 %).
        "false_accepts_per_hour_one_event": round_or_none(1 / hours if hours else None, 2),
        "false_accepts_per_hour_upper95": round_or_none(poisson_upper_bound(count) / hours if hours else None, 2),
        "threshold": settings.threshold,
        "model": settings.model,
        "wake_clips": len(positives),
        "detected": hits,
        "missed": sorted(s.path for s in positives if not detected(s)),
        "detection_by_source": {source: {"clips": len(group), "detected": sum(detected(s) for s in group)}
                                for source in sorted({s.source for s in positives})
                                for group in [[s for s in positives if s.source == source]]},
        "negative_clips": len(negatives),
        "negatives_by_source": by_source,
        "refractory_s": settings.refractory_s,
        "startup_guard_s": settings.startup_guard_s,
        "padding_s": {"lead": lead_silence_s(settings.startup_guard_s), "tail": TAIL_SILENCE_S,
                      "counted_as_audio": False},
        "targets": {"detection_rate_min": 0.95, "false_accepts_per_hour_max": 0.5},
    }
    return section, scores


# ---- ASR -----------------------------------------------------------------------------------------------------


COMPARED_ENGINES = ("moonshine", "whisper")  # the default and the one before it, measured in the same run


def run_asr(clips: list[Clip]) -> tuple[dict, list[dict]]:
    """The default engine's section, with every compared engine's word error rate beside it (`wer_by_engine`)."""
    from dataclasses import replace

    from host.config import Config

    default = Config().asr
    section, rows = _asr_section(default, clips)
    section["wer_by_engine"] = {section["engine"]: section["wer"]}
    section["median_transcribe_ms_by_engine"] = {section["engine"]: section["median_transcribe_ms"]}
    for name in COMPARED_ENGINES:
        if name in section["wer_by_engine"]:
            continue
        other, _ = _asr_section(replace(default, engine=name), clips)
        section["wer_by_engine"][other["engine"]] = other["wer"]
        section["median_transcribe_ms_by_engine"][other["engine"]] = other["median_transcribe_ms"]
    return section, rows


def _asr_section(settings, clips: list[Clip]) -> tuple[dict, list[dict]]:
    from host.pipeline.asr import load_engine
    from host.pipeline.audio import read_wav

    engine = load_engine(settings)
    engine.transcribe(bytes(2 * 8000))  # the first run pays for lazy allocations: keep it out of the timings
    rows = []
    for clip in (clip for clip in clips if clip.kind == "speech"):
        pcm = read_wav(clip.path)
        started = time.perf_counter()
        hypothesis = engine.transcribe(pcm)
        seconds = time.perf_counter() - started
        rows.append({"path": clip.name, "source": clip.source, "reference": clip.transcript,
                     "hypothesis": hypothesis, **compare(clip.transcript, hypothesis),
                     "audio_s": round(len(pcm) / 2 / SAMPLE_RATE, 3), "transcribe_s": round(seconds, 3)})
    by_source = {}
    for source in sorted({row["source"] for row in rows}):
        group = [row for row in rows if row["source"] == source]
        by_source[source] = {"clips": len(group), "words": sum(row["words"] for row in group),
                             "wer": round_or_none(wer(group), 4)}
    words = sum(row["words"] for row in rows)
    audio_s = sum(row["audio_s"] for row in rows)
    compute_s = sum(row["transcribe_s"] for row in rows)
    times = sorted(row["transcribe_s"] for row in rows)
    section = {
        "wer": round_or_none(wer(rows), 4),
        "engine": engine.name,
        "model": str(getattr(engine, "model_dir", "")),
        "clips": len(rows),
        "reference_words": words,
        "word_errors": sum(row["errors"] for row in rows),
        "by_source": by_source,
        "audio_s": round(audio_s, 1),
        "real_time_factor": round(compute_s / audio_s, 3) if audio_s else None,
        "median_transcribe_ms": round(times[len(times) // 2] * 1000) if times else None,
        "normalization": "lower case; digits to words (num2words; 4-digit 1100-1999 as years; no 'and'); "
                         "hyphens to spaces; other punctuation dropped; mr/mrs/dr spelled out",
    }
    return section, rows


# ---- the part ------------------------------------------------------------------------------------------------


def run(budget_s: float, quick: bool = False, out_dir: Path | None = None) -> dict:
    corpus = corpus_dir()
    clips = read_manifest(corpus)
    if quick:
        clips = quick_subset(clips)
    install_models()
    started = time.monotonic()
    wake, scores = run_wake(clips, workers=max(1, min(2, os.cpu_count() or 1)))
    wake["runtime_s"] = round(time.monotonic() - started, 1)
    asr_started = time.monotonic()
    asr, rows = run_asr(clips)
    asr["runtime_s"] = round(time.monotonic() - asr_started, 1)
    for section in (wake, asr):
        section["corpus"] = str(corpus)
        section["quick"] = quick
    if out_dir is not None:
        import json

        details = {"wake": [asdict(score) for score in scores], "asr": rows}
        (out_dir / "accuracy_details.json").write_text(json.dumps(details, indent=1) + "\n", encoding="utf-8")
    return {"wake_word": wake, "asr": asr}
