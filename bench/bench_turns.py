"""Turn latency: from the end of the user's speech at the earbud to the first reply audio there; and how often
the early end of turn cut the user off.

Radio and earbud run as `earpiece-sim` processes, the bridge in this process (as `earpiece demo` runs it). The
earbud's mic plays one WAV with many turns, so the wake word, endpointing, recognition, answer, synthesis and the Bluetooth link all run as a user
would meet them. A turn's latency is measured on the earbud's own wall clock: from the moment its mic played the
last voiced sample of the question (`mic_started_at` + the sample's offset in the WAV) to the first reply frame the
earbud received (`speaker_stream_starts`; cues are played by the earbud itself, so that stream is the reply).

Two voices take turns: espeak ("Hey Jarvis, what time is it?", a skill answers) and, when the shared corpus is
there (bench.common.corpus_dir()), human speakers: a synthetic "Hey Jarvis." then, after a short pause, a short
human recording (<= 4 s) from the corpus; nothing understands those sentences without the conversation model (not
loaded here), so they measure the recognizer and the end of turn on real voices and get the fallback answer.
Follow-ups without the wake word are off ([assistant] follow_up_s = 0): every turn starts with its wake word.

Section `turn_latency_ms` (bench/common.py, bench/plots.py):
    p50, p95     milliseconds over all measured turns
    stages       {stage: median ms} along the critical path, in order; per turn they add up to its latency:
                   endpoint         the last voiced sample -> the bridge saw the first silent VAD frame and started
                                    the (speculative) recognition: uplink, decoding, the VAD frame
                   asr              recognition of the utterance
                   assistant        the answer
                   tts_first_audio  synthesis of the first sentence
                   hangover_wait    waiting for the endpoint hangover to confirm the utterance ended (speculation
                                    done early) plus the listen-end cue
                   downlink         the reply's first frame leaving the bridge -> received by the earbud
    samples_ms   every turn's latency (the histogram plot)
    per_turn     each answered turn: its index, latency, stages and transcript (for finding slow kinds of turn)
    turns        how many turns were measured (of `turns_spoken`)
    by_voice     {"espeak"|"human": {p50, p95, turns, turns_spoken}}; `voices` says which were spoken

Section `end_of_turn`:
    cutoff_rate        share of spoken questions the bridge cut off: its reply began before the question's last
                       voiced sample, or one question gave two turns, or the transcript has under 70 % of the
                       question's word count and not its last word (`cutoff_turns` lists them with their transcripts)
    early_commit_rate  share of turns ended before the silence hangover ran out (session counters `early_ends`, a
                       skill understood the request, + `end_of_turn_model_ends`, Smart Turn judged it finished)
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import statistics
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from bench.common import Unavailable, corpus_dir, load_engines, percentile

SECTIONS = {"turn_latency_ms": ("p50", "p95", "stages"), "end_of_turn": ("cutoff_rate", "early_commit_rate")}
BUDGET_S = 360.0

# Questions with short answers: the next question comes after the reply has played and the earbud's echo guard ended.
QUESTIONS = ("what time is it?", "tell me the time.")
WAKE = "Hey Jarvis"
WAKE_PAUSE_S = 0.4  # between the synthetic wake word and the human question
HUMAN_MAX_S = 4.0  # short human recordings only: requests, not readings
HUMAN_TURNS = (1, 3)  # of every 5 turns, these are human-voiced (when the corpus is there)
LEAD_IN_S = 5.0  # the mic starts at pairing, before the bridge listens; the wake model ignores its first 1.6 s
GAP_S = {"espeak": 3.0, "human": 7.0}  # the reply (~1.3 s; the fallback ~5.5 s) plays, then the echo guard ends
TURNS = 40  # spoken; the wake word model misses the odd one (~0.45 instead of 0.5), and >= 30 must be measured
QUICK_TURNS = 5
SETUP_S = 25.0  # loading models, starting processes, pairing (kept out of the turns' share of the budget)
CUTOFF_COVERAGE = 0.7  # a transcript with fewer words than this share of the question's (and not its last) was cut off
STAGES = ("endpoint", "asr", "assistant", "tts_first_audio", "hangover_wait", "downlink")

log = logging.getLogger(__name__)


@dataclass
class Spoken:
    """One question in the mic WAV."""

    voice: str  # "espeak" or "human"
    text: str  # its words, without the wake word
    start_s: float = 0.0  # when its wake word starts in the WAV


def human_questions(max_s: float = HUMAN_MAX_S) -> list[tuple[str, bytes]]:
    """(transcript, 16 kHz PCM) of the corpus's short human speech clips; none without the corpus."""
    from bench.bench_accuracy import read_manifest
    from host.pipeline.audio import read_wav

    try:
        clips = [clip for clip in read_manifest(corpus_dir()) if clip.kind == "speech"]
    except Unavailable:
        return []
    chosen = []
    for clip in clips:
        pcm = read_wav(clip.path)
        if len(pcm) / 32000 <= max_s:
            chosen.append((clip.transcript, pcm))
    return chosen


def build_mic(engines, turns: int, human: list[tuple[str, bytes]] = ()) -> tuple[bytes, list[tuple[float, float]],
                                                                                list[Spoken]]:
    """The mic's audio; per turn, (when its last voiced sample plays, when the next turn's speech starts) in
    seconds from the start of the WAV; and what each turn says."""
    from host.pipeline.audio import silence
    from host.system.demo import last_voiced_sample

    synthetic = [(text, engines.tts.synthesize(f"{WAKE}, {text}")) for text in QUESTIONS]
    wake = engines.tts.synthesize(f"{WAKE}.")
    wake = wake[:2 * (last_voiced_sample(wake) + 1)] + silence(WAKE_PAUSE_S)
    parts = [silence(LEAD_IN_S)]
    position = len(parts[0]) // 2
    ends: list[float] = []
    spoken: list[Spoken] = []
    for turn in range(turns):
        if human and turn % 5 in HUMAN_TURNS:
            text, clip = human[(turn // 5 * len(HUMAN_TURNS) + HUMAN_TURNS.index(turn % 5)) % len(human)]
            speech, voice = wake + clip, "human"
        else:
            text, speech = synthetic[turn % len(synthetic)]
            voice = "espeak"
        spoken.append(Spoken(voice, text, position / 16000))
        ends.append((position + last_voiced_sample(speech)) / 16000)
        gap = silence(GAP_S[voice])
        parts += [speech, gap]
        position += (len(speech) + len(gap)) // 2
    starts = [s.start_s for s in spoken[1:]] + [position / 16000]
    return b"".join(parts), list(zip(ends, starts)), spoken


async def measure(engines, turns: int) -> dict:
    from host.system.demo import write_wav
    from host.system.harness import EarbudSpec, SystemHarness

    mic, windows, spoken = build_mic(engines, turns, human_questions())
    results: list[tuple[float, object]] = []  # (wall time the turn was recorded, TurnResult)

    def on_turn(_name: str, result) -> None:
        if result.outcome != "no_speech":
            results.append((time.time(), result))

    with tempfile.TemporaryDirectory(prefix="earpiece-bench-turns-") as scratch:
        workdir = Path(scratch)
        write_wav(workdir / "mic.wav", mic)
        earbud = EarbudSpec("Earpiece-Bench", mic=[workdir / "mic.wav"])
        async with SystemHarness([earbud], engines=engines, on_turn=on_turn, workdir=workdir) as system:
            runner = system.runner(0)
            stats = system.earbuds[0].read_stats()
            while not stats.get("mic_started_at"):
                await asyncio.sleep(0.1)
                stats = system.earbuds[0].read_stats()
            log.info("bridge listening %.2f s after the earbud's mic started", time.time() - stats["mic_started_at"])
            last_window_end = stats["mic_started_at"] + windows[-1][1]
            await asyncio.sleep(max(0.0, last_window_end - time.time()) + 0.5)
            stats = system.earbuds[0].read_stats()
            session_stats = dict(runner.session.stats)
            sent = list(runner.reply_streams_sent_at)  # wall time each reply's first frame left the bridge
    return {"turn_latency_ms": analyse(stats, windows, results, sent, session_stats, spoken),
            "end_of_turn": end_of_turn(stats, windows, results, session_stats, spoken)}


def analyse(stats: dict, windows: list[tuple[float, float]], results: list, sent: list[float],
            session_stats: dict, spoken: list[Spoken] | None = None) -> dict:
    """The `turn_latency_ms` section."""
    voices = [s.voice for s in spoken] if spoken else ["espeak"] * len(windows)
    by_voice: dict[str, list[float]] = {voice: [] for voice in dict.fromkeys(voices)}
    started = stats["mic_started_at"]
    downs = stats.get("speaker_stream_starts", [])
    samples: list[float] = []
    stages: dict[str, list[float]] = {name: [] for name in STAGES}
    hangovers: list[float] = []
    speculative = 0
    unanswered = []
    per_turn: list[dict] = []
    for index, (end_s, next_s) in enumerate(windows):
        spoken_end, next_start = started + end_s, started + next_s
        first_down = next((t for t in downs if spoken_end < t < next_start), None)
        if first_down is None:
            unanswered.append(index)  # no reply: the wake word model did not fire
            continue
        total = (first_down - spoken_end) * 1000
        samples.append(total)
        by_voice[voices[index]].append(total)
        left = next((t for t in sent if spoken_end < t <= first_down), None)
        result = next((r for t, r in results if spoken_end < t < next_start + 5), None)
        if left is None or result is None:
            continue
        timings = result.timings
        paused = left - timings.latency_s  # when the session saw the first silent frame (started recognizing)
        speculative += bool(timings.speculative)
        hangovers.append(timings.endpoint_s * 1000)
        work = timings.asr_s + timings.assistant_s + timings.tts_first_audio_s
        parts = {
            "endpoint": (paused - spoken_end) * 1000,
            "asr": timings.asr_s * 1000,
            "assistant": timings.assistant_s * 1000,
            "tts_first_audio": timings.tts_first_audio_s * 1000,
            "hangover_wait": max(0.0, timings.latency_s - work) * 1000,
            "downlink": (first_down - left) * 1000,
        }
        for name, value in parts.items():
            stages[name].append(value)
        per_turn.append({"turn": index, "voice": voices[index], "ms": round(total, 1),
                         "speculative": bool(timings.speculative),
                         "transcript": result.transcript, **{k: round(v, 1) for k, v in parts.items()}})
    if not samples:
        raise RuntimeError(f"no turn was answered ({len(windows)} spoken; session stats {session_stats})")
    return {
        "p50": round(percentile(samples, 50), 1),
        "p95": round(percentile(samples, 95), 1),
        "mean": round(statistics.fmean(samples), 1),
        "min": round(min(samples), 1),
        "max": round(max(samples), 1),
        "stages": {name: round(statistics.median(values), 1) for name, values in stages.items() if values},
        "samples_ms": [round(s, 1) for s in samples],
        "turns": len(samples),
        "turns_spoken": len(windows),
        "voices": "espeak and human (corpus)" if "human" in by_voice else "espeak only (no corpus)",
        "by_voice": {voice: {"p50": round(percentile(values, 50), 1) if values else None,
                             "p95": round(percentile(values, 95), 1) if values else None,
                             "turns": len(values), "turns_spoken": voices.count(voice)}
                     for voice, values in by_voice.items()},
        "unanswered_turns": unanswered,
        "per_turn": per_turn,
        "speculative_turns": speculative,
        "session": {k: session_stats.get(k) for k in ("wake_detections", "no_speech", "speculations_used",
                                                       "speculations_discarded", "early_ends",
                                                       "end_of_turn_model_ends", "errors")},
        "endpoint_hangover_ms_median": round(statistics.median(hangovers), 1) if hangovers else None,
        "target": "p50 <= 300 ms, p95 <= 450 ms (default link and engines, 2 cores)",
        "method": "radio + earbud as earpiece-sim processes, bridge in-process; earbud wall clock: last voiced "
                  "sample played into its mic -> first reply frame received",
    }


def words(text: str) -> list[str]:
    from bench.bench_accuracy import normalize

    return normalize(text)


def cut_off(question: str, transcript: str) -> bool:
    """The transcript is clearly shorter than the question (under CUTOFF_COVERAGE of its word count) and misses its
    last word: words lost, not misheard (a recognition error swaps words but keeps about their number)."""
    said, heard = words(question), words(transcript)
    return bool(said) and len(heard) < CUTOFF_COVERAGE * len(said) and said[-1] not in heard


def end_of_turn(stats: dict, windows: list[tuple[float, float]], results: list, session_stats: dict,
                spoken: list[Spoken]) -> dict:
    """The `end_of_turn` section: cut-offs per spoken question, early commits per turn."""
    started = stats["mic_started_at"]
    downs = stats.get("speaker_stream_starts", [])
    cutoffs = []
    for index, ((end_s, next_s), question) in enumerate(zip(windows, spoken)):
        start, spoken_end = started + question.start_s, started + end_s
        # A turn's result is recorded after its reply was handed over: never within 1 s of its question's start.
        turns = [r for t, r in results if start + 1.0 < t < started + next_s + 1.0]
        early_reply = any(start < t < spoken_end for t in downs)
        short = [r.transcript for r in turns if cut_off(question.text, r.transcript)]
        if early_reply or len(turns) > 1 or short:
            cutoffs.append({"turn": index, "voice": question.voice, "question": question.text,
                            "heard": [r.transcript for r in turns], "reply_before_end": early_reply})
    committed = sum(1 for _, r in results if r.outcome in ("answered", "error", "interrupted"))
    early = (session_stats.get("early_ends") or 0) + (session_stats.get("end_of_turn_model_ends") or 0)
    return {
        "cutoff_rate": round(len(cutoffs) / len(spoken), 3) if spoken else None,
        "early_commit_rate": round(early / committed, 3) if committed else None,
        "cutoff_turns": cutoffs,
        "questions": len(spoken),
        "turns": committed,
        "early_ends": session_stats.get("early_ends"),
        "end_of_turn_model_ends": session_stats.get("end_of_turn_model_ends"),
        "target": "cutoff_rate <= 0.02",
    }


def run(budget_s: float, quick: bool = False, out_dir: Path | None = None) -> dict:
    engines = load_engines()
    # Every turn starts with its wake word: a follow-up window would hear the next question without it.
    engines.config = dataclasses.replace(
        engines.config, assistant=dataclasses.replace(engines.config.assistant, follow_up_s=0.0))
    human = len(HUMAN_TURNS) / 5
    period = LEAD_IN_S / TURNS + (1 - human) * (GAP_S["espeak"] + 2.1) + human * (GAP_S["human"] + 4.0)
    turns = QUICK_TURNS if quick else max(QUICK_TURNS, min(TURNS, int((budget_s - SETUP_S) / period)))
    try:
        return asyncio.run(measure(engines, turns))
    finally:
        engines.close()
