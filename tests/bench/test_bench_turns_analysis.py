"""How the turn-latency benchmark turns clock stamps into latencies and stages (no processes: the arithmetic)."""

from __future__ import annotations

from bench.bench_turns import STAGES, analyse
from host.bridge.reports import TurnResult, TurnTimings


def turn(latency_s: float, asr_s: float, tts_s: float, hangover_s: float = 0.2) -> TurnResult:
    return TurnResult(trigger="wake", timings=TurnTimings(endpoint_s=hangover_s, asr_s=asr_s, assistant_s=0.001,
                                                          tts_first_audio_s=tts_s, latency_s=latency_s,
                                                          speculative=True))


def test_each_turn_is_measured_on_the_earbud_clock_and_its_stages_add_up_to_it():
    started = 1000.0
    windows = [(3.0, 8.0), (10.0, 15.0), (17.0, 22.0)]  # (last voiced sample, next question) in the mic WAV
    # Turn 1: first silent frame seen 40 ms after the speech ended, the reply handed over 250 ms later,
    # received by the earbud 20 ms after that: 310 ms. Turn 2 likewise with other numbers. Turn 3: no reply.
    plays = [started + 3.0 + 0.040 + 0.250, started + 10.0 + 0.050 + 0.230]
    downs = [plays[0] + 0.020, plays[1] + 0.030, started + 16.0]  # the last one is a stray stream before turn 3
    results = [(plays[0] + 1.0, turn(0.250, 0.080, 0.015)), (plays[1] + 1.0, turn(0.230, 0.090, 0.012))]
    section = analyse({"mic_started_at": started, "speaker_stream_starts": downs}, windows, results, plays,
                      {"wake_detections": 2})
    assert section["samples_ms"] == [310.0, 310.0]
    assert section["turns"] == 2 and section["turns_spoken"] == 3 and section["unanswered_turns"] == [2]
    assert list(section["stages"]) == list(STAGES)
    for total in section["samples_ms"]:
        # the medians of two turns are their means: the stages of the median turn add up to the median latency
        assert abs(sum(section["stages"].values()) - total) < 1.0
    assert section["stages"]["endpoint"] == 45.0 and section["stages"]["downlink"] == 25.0
    assert section["p50"] == 310.0 and section["p95"] == 310.0


def test_turns_are_figured_per_voice():
    from bench.bench_turns import Spoken

    started = 1000.0
    windows = [(3.0, 8.0), (10.0, 15.0)]
    spoken = [Spoken("espeak", "what time is it?", 1.0), Spoken("human", "go forward ten meters", 8.0)]
    plays = [started + 3.0 + 0.2, started + 10.0 + 0.6]
    downs = [plays[0] + 0.01, plays[1] + 0.01]
    results = [(plays[0] + 1.0, turn(0.2, 0.1, 0.01)), (plays[1] + 1.0, turn(0.6, 0.3, 0.01))]
    section = analyse({"mic_started_at": started, "speaker_stream_starts": downs}, windows, results, plays, {}, spoken)
    assert section["by_voice"]["espeak"]["turns"] == 1 and section["by_voice"]["human"]["p50"] == 610.0
    assert section["voices"] == "espeak and human (corpus)"


def test_a_question_answered_before_it_ended_or_heard_in_part_was_cut_off():
    from bench.bench_turns import Spoken, cut_off, end_of_turn

    assert cut_off("set a timer for ten minutes", "set a timer")
    assert not cut_off("four queen of clubs", "for queen of clothes")  # a recognition error, not a cut-off
    assert not cut_off("tell me the time.", "Tell me the time.")
    started = 1000.0
    windows = [(3.0, 8.0), (10.0, 15.0), (17.0, 22.0)]
    spoken = [Spoken("espeak", "what time is it?", 1.0), Spoken("human", "he was not an ill disposed young man", 8.0),
              Spoken("espeak", "tell me the time.", 15.0)]
    downs = [started + 3.3, started + 9.5, started + 17.3]  # the second reply began before its question ended
    answered = [(started + 4.0, TurnResult(trigger="wake", transcript="What time is it?")),
                (started + 9.9, TurnResult(trigger="wake", transcript="He was not")),
                (started + 18.0, TurnResult(trigger="wake", transcript="Tell me the time."))]
    section = end_of_turn({"mic_started_at": started, "speaker_stream_starts": downs}, windows, answered,
                          {"early_ends": 1, "end_of_turn_model_ends": 1}, spoken)
    assert section["cutoff_rate"] == round(1 / 3, 3)
    assert [c["turn"] for c in section["cutoff_turns"]] == [1] and section["cutoff_turns"][0]["reply_before_end"]
    assert section["early_commit_rate"] == round(2 / 3, 3)
