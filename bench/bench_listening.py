"""Listening you can trust, the wake word's half: detections, false accepts, and what verification rejects.

Everything runs with the DEFAULT wake settings (`host.config.Config().wake`: threshold, refractory time, start-up
guard) and the verification as shipped (host/pipeline/wake_verify.py); nothing is tuned on these sets.
- Wake clips: the corpus's 100 human "alexa" clips (the only human wake-word clips here), each padded as
  bench_accuracy pads them; `hey_jarvis` has no human clips, so its espeak-ng positives are reported beside.
- Ordinary speech and music: the Debian packages of bench/negatives.py (about 3 h), each package one continuous
  stream, as an earbud hears a television; with the default wake word only (STREAM_MODELS: time).
- Near misses: espeak-ng voices saying other assistants' names and rhymes (bench/negatives.py NEAR_MISSES).
  These phrases were also looked at when the verification's threshold was chosen: they are not held out.
Every detection is verified on the audio around it (WINDOW_BEFORE_S before, WINDOW_AFTER_S after), as the bridge
does. The second scoring grid (host/pipeline/wake_scoring.py) is measured on and off in the same pass: each block's
first-grid score is the one openWakeWord alone would give.

Section `listening` (this part's keys; other parts add theirs to the same section, see bench/__main__.py):
    wake_detection_rate               human "alexa" clips detected AND verified / clips (target >= 0.95)
    false_accepts_per_hour            verified false accepts per hour of speech and music, default wake word
    false_accepts_per_hour_near_miss  verified false accepts per hour of near-miss audio, default wake word
    wake_rejected                     detections the verification rejected, over every set and model
    wake                              per model and set: raw counts (clips, hours, detections, verified) with the
                                      second grid on and off, verification time, and what each rate divides by

    .venv/bin/python -m bench --only listening [--quick]
"""

from __future__ import annotations

import os
import time
from concurrent.futures import ProcessPoolExecutor
from multiprocessing import get_context
from pathlib import Path

from bench.common import Unavailable, corpus_dir, install_models, percentile, round_or_none

SECTIONS = {"listening": ("wake_detection_rate", "false_accepts_per_hour", "false_accepts_per_hour_near_miss",
                          "wake_rejected")}
BUDGET_S = 900.0  # about 3 h of negatives x 2 models on 2 cores
MODELS = ("hey_jarvis", "alexa")  # the default, and the corpus's wake word
STREAM_MODELS = ("hey_jarvis",)  # the hours of speech and music: the default wake word only (both took > 15 minutes)
QUICK_SOURCE_S = 90.0
TAIL_S = 1.0  # silence after a clip: its last frames are scored only once later audio arrives
POSITIVE_PHRASES = {"hey_jarvis": ("Hey Jarvis", "Hey Jarvis, what time is it?", "Hey Jarvis, set a timer for five "
                                   "minutes.", "Hey Jarvis, how are you today?"),
                    "alexa": ("Alexa", "Alexa, what time is it?")}


# ---- one worker: a model, the recognizer, and a stream scored block by block ---------------------------------

_worker: dict = {}


def _init_worker() -> None:
    from host.config import Config
    from host.pipeline.asr import load_engine
    from host.pipeline.wake import wake_threads

    wake_threads()
    asr = load_engine(Config().asr)
    asr.transcribe(bytes(16000))  # lazy allocations out of the timings
    _worker["asr"] = asr


def _model(name: str):
    from dataclasses import replace

    from host.config import Config
    from host.pipeline.engines import load_wake
    from host.pipeline.wake_verify import WakeVerifier

    if name not in _worker:
        wake = load_wake(replace(Config(), wake=replace(Config().wake, model=name)))
        _worker[name] = (wake, WakeVerifier(_worker["asr"], wake.name))
    return _worker[name]


class Judge:
    """The detector's rule (threshold, refractory time, start-up guard: default settings) on one grid's scores."""

    def __init__(self, settings):
        self.settings = settings
        self.last = -1e9
        self.detections: list[float] = []

    def judge(self, score: float, end_s: float) -> bool:
        s = self.settings
        if end_s <= s.startup_guard_s or score < s.threshold or end_s - self.last < s.refractory_s:
            return False
        self.last = end_s
        self.detections.append(end_s)
        return True


def score_stream(model_name: str, chunks, label: str) -> dict:
    """Score a stream of (pcm, real_seconds) chunks with both grids; verify every detection of either. Returns raw
    counts: {label, real_s, both: {detections, verified}, first: {...}, verify_ms: [...], rejected}."""
    import numpy as np

    from host.config import Config
    from host.pipeline.wake_scoring import FRAME_SAMPLES
    from host.pipeline.wake_verify import WINDOW_AFTER_S, WINDOW_BEFORE_S

    wake, verifier = _model(model_name)
    settings = Config().wake
    stream = wake.scorer.new_stream()
    both, first = Judge(settings), Judge(settings)
    audio = bytearray()  # everything since the oldest detection still waiting for its audio after
    audio_start_s = 0.0
    heard_s, real_s = 0.0, 0.0
    pending: list[float] = []
    verdicts: dict[float, bool] = {}
    verify_ms: list[float] = []
    held = np.zeros(0, dtype=np.int16)

    def verify_ready(final: bool) -> None:
        nonlocal audio, audio_start_s
        while pending and (final or heard_s >= pending[0] + WINDOW_AFTER_S):
            at = pending.pop(0)
            start = max(0, int((at - WINDOW_BEFORE_S - audio_start_s) * 16000)) * 2
            end = int((at + WINDOW_AFTER_S - audio_start_s) * 16000) * 2
            window = bytes(audio[start:end])
            verdict = verifier.verify(window, at - audio_start_s - start / 32000)
            verdicts[at] = verdict.accepted
            verify_ms.append(1000 * verdict.seconds)
        keep_from = (pending[0] if pending else heard_s) - WINDOW_BEFORE_S - 0.5
        drop = max(0, int((keep_from - audio_start_s) * 16000)) * 2
        if drop:
            del audio[:drop]
            audio_start_s += drop / 32000

    for pcm, seconds in chunks:
        real_s += seconds
        audio += pcm
        samples = np.concatenate([held, np.frombuffer(pcm, dtype="<i2")])
        usable = samples.size - samples.size % FRAME_SAMPLES
        held = samples[usable:]
        for offset in range(0, usable, FRAME_SAMPLES):
            [score] = wake.scorer.score([(stream, samples[offset: offset + FRAME_SAMPLES])])
            heard_s += FRAME_SAMPLES / 16000
            first_score = stream.grid_scores[0] if stream.predictions > 5 else 0.0
            fired = both.judge(score, heard_s)
            if first.judge(first_score, heard_s) or fired:
                if heard_s not in pending:
                    pending.append(heard_s)
        verify_ready(final=False)
    verify_ready(final=True)
    verdicts_of = lambda judge: [verdicts[t] for t in judge.detections]  # noqa: E731
    return {"label": label, "real_s": real_s,
            "both": {"detections": len(both.detections), "verified": sum(verdicts_of(both))},
            "first": {"detections": len(first.detections), "verified": sum(verdicts_of(first))},
            "rejected": sum(1 for t in both.detections if not verdicts[t]),
            "verify_ms": verify_ms}


def _padded(pcm: bytes):
    """A clip after the start-up guard's worth of silence and before a short tail (the padding is not counted)."""
    from host.config import Config
    from host.pipeline.audio import silence

    from bench.bench_accuracy import lead_silence_s

    yield silence(lead_silence_s(Config().wake.startup_guard_s)), 0.0
    yield pcm, len(pcm) / 32000
    yield silence(TAIL_S), 0.0


def run_clips(job: tuple[str, str, list[tuple[str, bytes]]]) -> list[dict]:
    """(model, set, [(label, pcm)]): each clip scored alone, as a fresh session would hear it."""
    model, _, clips = job
    return [score_stream(model, _padded(pcm), label) for label, pcm in clips]


def run_source(job: tuple[str, object, float | None]) -> dict:
    """(model, negatives.Source, max seconds): the package's audio as one continuous stream."""
    from bench.negatives import stream

    model, source, max_s = job
    return score_stream(model, stream(source, max_s), source.name)


# ---- the part ------------------------------------------------------------------------------------------------


def summarize(rows: list[dict], grid: str = "both") -> dict:
    hours = sum(r["real_s"] for r in rows) / 3600
    detections = sum(r[grid]["detections"] for r in rows)
    verified = sum(r[grid]["verified"] for r in rows)
    return {"items": len(rows), "hours": round(hours, 4), "detections": detections, "verified": verified,
            "per_hour_detector": round_or_none(detections / hours if hours else None, 3),
            "per_hour_verified": round_or_none(verified / hours if hours else None, 3)}


def clips_detected(rows: list[dict], grid: str = "both") -> dict:
    detected = sum(r[grid]["detections"] > 0 for r in rows)
    verified = sum(r[grid]["verified"] > 0 for r in rows)
    return {"clips": len(rows), "detected": detected, "verified": verified,
            "detection_rate": round_or_none(detected / len(rows) if rows else None, 4),
            "verified_rate": round_or_none(verified / len(rows) if rows else None, 4)}


def run(budget_s: float, quick: bool = False, out_dir: Path | None = None) -> dict:
    from bench import negatives
    from bench.bench_accuracy import quick_subset, read_manifest
    from host.pipeline.audio import read_wav

    install_models()
    started = time.monotonic()
    sources = negatives.fetch()  # raises Unavailable (no apt-get, no network) with the reason
    scratch = negatives.cache_dir() / "near-misses"
    try:
        corpus = read_manifest(corpus_dir())
    except Unavailable:
        corpus = []
    if quick:
        corpus = quick_subset(corpus)
    human = [(clip.name, read_wav(clip.path)) for clip in corpus if clip.kind == "wake"]
    if not human:
        raise Unavailable("no human wake-word clips (the shared corpus): wake_detection_rate cannot be measured")
    jobs_clips = [("alexa", "human", human)]
    for model in MODELS:
        voices = negatives.NEAR_MISS_VOICES[:2] if quick else negatives.NEAR_MISS_VOICES
        positives = [(f"{voice}@{rate}: {text}", read_wav(negatives.espeak(text, voice, rate, scratch)))
                     for text in POSITIVE_PHRASES[model] for voice in voices for rate in negatives.NEAR_MISS_RATES]
        near = negatives.near_misses(model, scratch, quick)
        jobs_clips += [(model, "synthetic", positives), (model, "near_miss", near)]
    max_s = QUICK_SOURCE_S if quick else None
    jobs_sources = [(model, source, max_s) for model in STREAM_MODELS for source in sources]
    workers = max(1, min(2, os.cpu_count() or 1))
    with ProcessPoolExecutor(max_workers=workers, mp_context=get_context("spawn"), initializer=_init_worker) as pool:
        # Clip sets split in pieces so both workers share them; the long streams first.
        pieces = [(model, kind, clips[i: i + 20]) for model, kind, clips in jobs_clips
                  for i in range(0, len(clips), 20)]
        source_futures = [pool.submit(run_source, job) for job in jobs_sources]
        clip_futures = [(model, kind, pool.submit(run_clips, (model, kind, piece)))
                        for model, kind, piece in pieces]
        by_source = {(job[0], job[1].name, job[1].kind): future.result()
                     for job, future in zip(jobs_sources, source_futures)}
        clip_rows: dict[tuple[str, str], list[dict]] = {}
        for model, kind, future in clip_futures:
            clip_rows.setdefault((model, kind), []).extend(future.result())

    wake: dict = {}
    rejected = 0
    verify_ms: list[float] = []
    for model in MODELS:
        streams = [row for (m, _, _), row in by_source.items() if m == model]
        near = clip_rows[(model, "near_miss")]
        synthetic = clip_rows[(model, "synthetic")]
        for rows in (streams, near, synthetic, clip_rows.get((model, "human"), [])):
            rejected += sum(r["rejected"] for r in rows)
            verify_ms += [ms for r in rows for ms in r["verify_ms"]]
        wake[model] = {
            "ordinary": {grid: summarize(streams, grid) for grid in ("both", "first")},
            "ordinary_by_source": {name: {"kind": kind, "hours": round(row["real_s"] / 3600, 4),
                                          "detections": row["both"]["detections"], "verified": row["both"]["verified"],
                                          "detections_first_grid": row["first"]["detections"]}
                                   for (m, name, kind), row in by_source.items() if m == model},
            "near_miss": {grid: summarize(near, grid) for grid in ("both", "first")},
            "near_miss_accepted": sorted(r["label"] for r in near if r["both"]["verified"]),
            "near_miss_detected": sorted(r["label"] for r in near if r["both"]["detections"]),
            "synthetic_positives": {grid: clips_detected(synthetic, grid) for grid in ("both", "first")},
        }
        if (model, "human") in clip_rows:
            wake[model]["human_positives"] = {grid: clips_detected(clip_rows[(model, "human")], grid)
                                              for grid in ("both", "first")}
    default = wake["hey_jarvis"]
    human_rate = wake["alexa"]["human_positives"]["both"]
    section = {
        "wake_detection_rate": human_rate["verified_rate"],
        "false_accepts_per_hour": default["ordinary"]["both"]["per_hour_verified"],
        "false_accepts_per_hour_near_miss": default["near_miss"]["both"]["per_hour_verified"],
        "wake_rejected": rejected,
        "wake_detection_model": "alexa (the corpus's human clips; hey_jarvis has none: see wake.hey_jarvis)",
        "false_accepts_model": "hey_jarvis (the default)",
        "false_accepts": default["ordinary"]["both"]["verified"],
        "negative_hours": default["ordinary"]["both"]["hours"],
        "false_accepts_near_miss": default["near_miss"]["both"]["verified"],
        "near_miss_hours": default["near_miss"]["both"]["hours"],
        "verify_ms_p50": round_or_none(percentile(verify_ms, 50), 1),
        "verify_ms_p95": round_or_none(percentile(verify_ms, 95), 1),
        "verifications": len(verify_ms),
        "cue_delay_ms_p50": round_or_none(None if not verify_ms else percentile(verify_ms, 50) + 1000 * _after_s(), 0),
        "wake": wake,
        "targets": {"wake_detection_rate_min": 0.95, "false_accepts_per_hour_max": 0.5,
                    "false_accepts_per_hour_near_miss_max": 2.0},
        "settings": "defaults: [wake] threshold, refractory_s, startup_guard_s, verify = true",
        "quick": quick,
        "runtime_s": round(time.monotonic() - started, 1),
    }
    return {"listening": section}


def _after_s() -> float:
    from host.pipeline.wake_verify import WINDOW_AFTER_S

    return WINDOW_AFTER_S
