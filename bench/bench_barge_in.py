"""Interrupting a reply by voice, with the earbud's speaker leaking into its mic (`earpiece-sim earbud --echo`).

Radio and earbud run as `earpiece-sim` processes (the earbud with an echo path: 20 ms, -10 dB, a 150 ms room
tail), the bridge in this process with echo cancellation on ([listen] echo_cancel). The earbud's mic plays one WAV
of cycles: "Hey Jarvis, what's the weather like?", then, while the reply plays, one of
    stop         "stop" / "never mind" / "Hey Jarvis, stop"   -> the reply should stop
    wake         "Hey Jarvis, what time is it?"               -> the wake word should be heard over the reply
    backchannel  "uh-huh" / "okay" / "mm-hmm"                 -> nothing should happen
Times are on the earbud's clock: `mic_started_at` + the offset of the words in the WAV. Playback has stopped when
the bridge's StopPlayback write is acknowledged by the earbud (its core empties the speaker buffer on receipt).

Section `barge_in` (the `listening` section's keys, kept apart so the wake-word bench can write its own):
    barge_in.stop_latency_ms_p50   end of the last voiced sample of the stop phrase -> playback stopped (median)
    barge_in.wake_during_reply_rate  wake words said over a reply that were detected (and stopped it)
    echo_return_loss_db            how much AEC3 took out of the mic's audio while the reply sounded (ERLE; the
                                   words said over it count too, so this is a lower bound for the echo alone)
    echo_return_loss_db_linear     the same for the linear canceller (what the recognizer and the wake word hear)
plus raw counts: stops_detected/stops_spoken, wakes_detected/wakes_spoken, false_stops/backchannels_spoken.

    .venv/bin/python -m bench.bench_barge_in [--quick] [--json] [--dump DIR]
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import dataclasses
import json
import logging
import tempfile
import time
from pathlib import Path

from bench.common import Unavailable, load_engines, percentile, round_or_none

log = logging.getLogger(__name__)

SECTIONS = {"barge_in": ("barge_in", "echo_return_loss_db")}
BUDGET_S = 360.0  # 16 cycles of about 14 s, the system starting and the models loading
ECHO = "20:-10:150"
LEAD_IN_S = 2.0
QUESTION = "Hey Jarvis, what's the weather like?"
OVER_REPLY_S = 3.0  # from the end of the question to the words said over the reply (it plays from about 1 s)
CYCLE_TAIL_S = 8.0  # after them: the reply (or the answer to a new question) ends, the earbud rests
STOPS = ["stop", "never mind", "Hey Jarvis, stop"]
WAKES = ["Hey Jarvis, what time is it?"]
BACKCHANNELS = ["uh-huh", "okay", "mm-hmm"]


@dataclasses.dataclass
class Cycle:
    kind: str  # stop, wake, backchannel
    words: str
    said_at: float  # seconds into the WAV: the words over the reply start
    ended_at: float  # ... and their last voiced sample
    next_at: float  # the next cycle's question starts
    asked_at: float = 0.0  # this cycle's question starts


def plan(quick: bool) -> list[tuple[str, str]]:
    stops = [("stop", w) for w in STOPS] * (2 if quick else 3)
    wakes = [("wake", w) for w in WAKES] * (3 if quick else 4)
    backs = [("backchannel", w) for w in BACKCHANNELS] * 1
    mixed: list[tuple[str, str]] = []
    while stops or wakes or backs:  # interleaved: the echo canceller's state is not helped by repetition
        for group in (stops, wakes, backs):
            if group:
                mixed.append(group.pop(0))
    return mixed


def build_mic(engines, cycles: list[tuple[str, str]]) -> tuple[bytes, list[Cycle]]:
    from host.pipeline.audio import silence
    from host.system.demo import last_voiced_sample

    def first_voiced(pcm: bytes) -> int:
        import numpy as np

        loud = np.flatnonzero(np.abs(np.frombuffer(pcm, "<i2").astype(np.int32)) > 500)
        return int(loud[0]) if loud.size else 0

    question = engines.tts.synthesize(QUESTION)
    parts, position, planned = [silence(LEAD_IN_S)], int(LEAD_IN_S * 16000), []
    for kind, words in cycles:
        said = engines.tts.synthesize(words)
        pieces = [question, silence(OVER_REPLY_S), said, silence(CYCLE_TAIL_S)]
        start = position + (len(question) + len(pieces[1])) // 2
        planned.append(Cycle(kind, words, (start + first_voiced(said)) / 16000,
                             (start + last_voiced_sample(said)) / 16000, 0.0, position / 16000))
        parts += pieces
        position += sum(len(p) for p in pieces) // 2
    for cycle, after in zip(planned, planned[1:]):
        cycle.next_at = after.said_at - OVER_REPLY_S - len(question) / 32000
    planned[-1].next_at = position / 16000
    return b"".join(parts), planned


async def measure(engines, quick: bool, dump: Path | None = None, echo: str = ECHO) -> dict:
    from host.system.demo import write_wav
    from host.system.harness import EarbudSpec, SystemHarness
    from protocol import control

    mic, cycles = build_mic(engines, plan(quick))
    stops: list[float] = []  # wall time each StopPlayback was acknowledged by the earbud
    recorded: dict[str, list[bytes]] = {"near": [], "far": [], "out": [], "linear": []}
    events: list[dict] = []  # what the bridge's uplink was told, and when (--dump: tools/replay_echo.py --uplink)
    with tempfile.TemporaryDirectory(prefix="earpiece-bench-barge-in-") as scratch:
        workdir = Path(scratch)
        write_wav(workdir / "mic.wav", mic)
        earbud = EarbudSpec("Earpiece-Bench", mic=[workdir / "mic.wav"], speaker=workdir / "speaker.wav",
                            extra_args=["--echo", echo])
        async with SystemHarness([earbud], engines=engines, workdir=workdir) as system:
            runner = system.runner(0)
            if runner.echo is None:
                raise Unavailable("echo cancellation is off ([listen] echo_cancel)")
            send = runner.link.send_control

            async def send_and_time(message):
                await send(message)
                if isinstance(message, control.StopPlayback):
                    stops.append(time.time())

            runner.link.send_control = send_and_time
            heard: list[tuple[float, str]] = []  # what the stop-word spotter heard (the bench's own words only)
            transcribe = runner.session.stop_words._transcribe

            def transcribe_and_keep(audio: bytes) -> str:
                text = transcribe(audio)
                heard.append((time.time(), text))
                return text

            runner.session.stop_words._transcribe = transcribe_and_keep
            scores: list[tuple[float, float]] = []  # (wall time, score) of every wake-word block the session judged
            wake = runner.session.listening_part.wake_detector
            judge = wake._judge

            def judge_and_keep(score: float, end_s: float, detections: list) -> None:
                scores.append((time.time(), score))
                judge(score, end_s, detections)

            wake._judge = judge_and_keep
            whole_chunks: list[tuple[float, bool]] = []  # (wall time, whether the linear version was there)
            voice_whole = runner.session.stop_words.voice_whole

            def voice_whole_and_keep(pcm: bytes) -> bytes:
                out = voice_whole(pcm)
                whole_chunks.append((time.time(), out is not pcm))
                return out

            runner.session.stop_words.voice_whole = voice_whole_and_keep
            if dump is not None:
                process = runner.echo.canceller.process_both

                def process_and_keep(near: bytes, far: bytes) -> tuple[bytes, bytes]:
                    out, linear = process(near, far)
                    recorded["near"].append(near)
                    recorded["far"].append(far)
                    recorded["out"].append(out)
                    recorded["linear"].append(linear)
                    return out, linear

                runner.echo.canceller.process_both = process_and_keep
                record_uplink(runner, events)
            stats = system.earbuds[0].read_stats()
            while not stats.get("mic_started_at"):
                await asyncio.sleep(0.1)
                stats = system.earbuds[0].read_stats()
            started = stats["mic_started_at"]
            await asyncio.sleep(max(0.0, started + cycles[-1].next_at - time.time()) + 0.5)
            erle = runner.echo.echo_return_loss_db(), runner.echo.echo_return_loss_db(linear=True)
            earbud = {key: system.earbuds[0].read_stats().get(key) for key in ("speaker_underruns", "mic_overruns",
                                                                             "ticks_late", "echo_reanchors")}
            session_stats, echo_stats = dict(runner.session.stats), dict(runner.echo.stats)
            linear = runner.echo.canceller.linear
            echo_stats.update(linear_copies=linear.copies, linear_resets=linear.resets,
                              linear_delay_changes=linear.delays.changes)
            stop_word_stats = dict(runner.session.stop_words.stats)
        if dump is not None:
            dump.mkdir(parents=True, exist_ok=True)
            write_wav(dump / "mic.wav", mic)
            write_wav(dump / "mic_while_replying.wav", b"".join(recorded["near"]))
            write_wav(dump / "cancelled.wav", b"".join(recorded["out"]))
            write_wav(dump / "linear.wav", b"".join(recorded["linear"]))
            write_wav(dump / "reference.wav", b"".join(recorded["far"]))
            (dump / "speaker.wav").write_bytes((workdir / "speaker.wav").read_bytes())
            with (dump / "uplink_events.jsonl").open("w") as out:
                out.writelines(json.dumps(event) + "\n" for event in events)
    return analyse(cycles, started, stops, erle, {"session": session_stats, "uplink": echo_stats,
                                                  "stop_words": stop_word_stats, "earbud": earbud},
                   heard, scores, whole_chunks, list(runner.reply_streams_sent_at))


def record_uplink(runner, events: list[dict]) -> None:
    """Keep every call into the bridge's echo-cancelled uplink with the host's clock, so the reference's timeline can
    be rebuilt offline (tools/replay_echo.py --uplink): mic chunks as they arrived, frames as the pacer sent them
    with its estimate of when they play, stops, cues and the earbud's speaker reports."""
    uplink, pacer = runner.echo, runner.pacer
    cancel, frame_sent, stopped, report = uplink.cancel, uplink.frame_sent, uplink.stopped, pacer.speaker_report
    cue_sent = pacer.cue_sent

    def keep(kind: str, **fields) -> None:
        events.append({"kind": kind, "t": time.monotonic(), **fields})

    def cancel_and_keep(pcm: bytes) -> bytes:
        keep("mic", pcm=base64.b64encode(pcm).decode())
        return cancel(pcm)

    def frame_sent_and_keep(frame: bytes, plays_at: float) -> None:
        keep("frame", frame=base64.b64encode(frame).decode(), plays_at=plays_at)
        frame_sent(frame, plays_at)

    def stopped_and_keep(at: float) -> None:
        keep("stopped", at=at)
        stopped(at)

    def report_and_keep(message) -> None:
        keep("report", buffered_ms=message.buffered_ms)
        report(message)

    def cue_sent_and_keep(cue: int) -> None:
        keep("cue", cue=cue)
        cue_sent(cue)

    uplink.cancel, uplink.frame_sent, uplink.stopped = cancel_and_keep, frame_sent_and_keep, stopped_and_keep
    pacer.speaker_report, pacer.cue_sent = report_and_keep, cue_sent_and_keep


def analyse(cycles: list[Cycle], started: float, stops: list[float], erle: tuple[float | None, float | None],
            counters: dict,
            heard: list[tuple[float, str]] = (), scores: list[tuple[float, float]] = (),
            whole_chunks: list[tuple[float, bool]] = (), replies: list[float] | None = None) -> dict:
    latencies: list[float] = []
    counts = {"stops_spoken": 0, "stops_detected": 0, "wakes_spoken": 0, "wakes_detected": 0,
              "backchannels_spoken": 0, "false_stops": 0, "questions_unanswered": 0}
    per_cycle = []
    for cycle in cycles:
        said, ended, nxt = started + cycle.said_at, started + cycle.ended_at, started + cycle.next_at
        stopped = next((t for t in stops if said < t < nxt), None)
        key = {"stop": "stops", "wake": "wakes", "backchannel": "backchannels"}[cycle.kind]
        if replies is not None and not any(started + cycle.asked_at < t < said for t in replies):
            # The question got no reply (its wake word was missed or rejected): nothing to interrupt, not counted.
            counts["questions_unanswered"] += 1
            per_cycle.append({"kind": cycle.kind, "words": cycle.words, "unanswered": True})
            continue
        counts[f"{key}_spoken"] += 1
        if stopped is not None:
            counts["false_stops" if cycle.kind == "backchannel" else f"{key}_detected"] += 1
            if cycle.kind == "stop":
                latencies.append((stopped - ended) * 1000)
        per_cycle.append({"kind": cycle.kind, "words": cycle.words,
                          "stopped_after_ms": None if stopped is None else round((stopped - ended) * 1000),
                          "spotter_heard": [text for t, text in heard if said < t < nxt],
                          # the wake word's best score over the words (and 1 s after: the scoring runs behind)
                          "wake_score_max": round(max((x for t, x in scores if said < t < ended + 1.0), default=0), 2),
                          # of the words' 20 ms chunks, how many the session heard over the reply (linear version)
                          "heard_over_reply": sum(1 for t, linear in whole_chunks if said < t < ended and linear),
                          "chunks": round((ended - said) / 0.02)})
    rate = counts["wakes_detected"] / counts["wakes_spoken"] if counts["wakes_spoken"] else None
    return {"barge_in": {
        "barge_in": {"stop_latency_ms_p50": round_or_none(percentile(latencies, 50), 0),
                     "stop_latency_ms_p95": round_or_none(percentile(latencies, 95), 0),
                     "wake_during_reply_rate": round_or_none(rate, 3), **counts},
        "echo_return_loss_db": round_or_none(erle[0], 1),
        "echo_return_loss_db_linear": round_or_none(erle[1], 1),
        "per_cycle": per_cycle, "counters": counters,
    }}


def run(budget_s: float, quick: bool = False, out_dir: Path | None = None, dump: Path | None = None,
        echo: str = ECHO) -> dict:
    engines = load_engines()
    try:
        config = engines.config
        engines.config = dataclasses.replace(
            config, assistant=dataclasses.replace(config.assistant, follow_up_s=0.0),
            listen=dataclasses.replace(config.listen, echo_cancel=True))
        return asyncio.run(measure(engines, quick, dump, echo))
    finally:
        engines.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="fewer cycles")
    parser.add_argument("--json", action="store_true", help="print one JSON object on one line")
    parser.add_argument("--echo", default=ECHO, help=f"the earbud's echo path, DELAY_MS:GAIN_DB[:RT60_MS] (default {ECHO})")
    parser.add_argument("--dump", type=Path, help="write the mic, the uplink before/after cancelling and the speaker here")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    result = run(BUDGET_S, args.quick, dump=args.dump, echo=args.echo)["barge_in"]
    if args.json:
        print(json.dumps(result))
        return
    print(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
