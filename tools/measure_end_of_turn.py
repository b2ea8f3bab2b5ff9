"""How often would Smart Turn end a turn too early, and how often early enough, on the corpus's human sentences?

Every pause the endpointer hears inside a clip (speech resumes after it) is a moment where an early end of turn
would cut the speaker off; the clip's end is where it should fire. At each, the model scores the utterance so far
plus `--silence` seconds of the silence that followed (what it would have heard when asked), and thresholds give:
cut-off rate = clips where some internal pause was judged complete (or lasted 1 s) / clips; early rate = clip ends
judged complete / clips. Silence alone (today: any 0.3 s pause ends the turn) is shown beside it.
The corpus's sentences are read text (LJSpeech clips often end mid-sentence), so the early rate is a lower bound.

    taskset -c 1 .venv/bin/python tools/measure_end_of_turn.py [--silence 0.1]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.bench_accuracy import read_manifest  # noqa: E402
from bench.common import corpus_dir  # noqa: E402
from host.pipeline.audio import read_wav, silence  # noqa: E402
from host.pipeline.endpoint import FRAME_BYTES, Endpointer  # noqa: E402
from host.pipeline.messages import SpeechEnded, SpeechPaused, SpeechResumed  # noqa: E402

THRESHOLDS = (0.5, 0.7, 0.8, 0.9, 0.95)


def pause_scores(turn, pcm: bytes, silence_s: float, hangover_s: float = 1.0) -> tuple[list, list[float]]:
    """([(pause length, score)] at pauses inside the clip, [score at its end]): the endpointer fed frame by frame
    as live, with a long hangover so that every pause up to it is seen."""
    endpointer = Endpointer(hangover_s=hangover_s, max_utterance_s=60, no_speech_timeout_s=1e9)
    endpointer.start()
    padded = pcm + silence(hangover_s + 0.5)
    inside, end, pending = [], [], None
    for offset in range(0, len(padded) - FRAME_BYTES + 1, FRAME_BYTES):
        for event in endpointer.process(padded[offset: offset + FRAME_BYTES]):
            if isinstance(event, SpeechPaused):
                pending = event
            elif isinstance(event, SpeechResumed) and pending is not None:
                # Speech came back after a pause long enough for the model to be asked: "complete" = cut off.
                if event.time_s - pending.time_s >= silence_s:
                    inside.append((event.time_s - pending.time_s, turn.probability(pending.audio + silence(silence_s))))
                pending = None
            elif isinstance(event, SpeechEnded):
                end.append(turn.probability(event.audio + silence(silence_s)))
                return inside, end
    return inside, end


def measure(turn, clips, silence_s: float, hangover_s: float = 0.3, patient_s: float = 1.0) -> dict:
    """Rates per threshold for the policy "end at `silence_s` of silence when the model says complete, else at
    `patient_s`", beside silence alone ending every pause of `hangover_s` (today). Cut-offs count per clip (a
    clip is cut off when any pause inside it ends the turn)."""
    per_clip = [pause_scores(turn, read_wav(clip.path), silence_s) for clip in clips]
    ends = [score for _, found_end in per_clip for score in found_end]
    today = sum(any(length >= hangover_s for length, _ in inside) for inside, _ in per_clip)
    result = {"clips": len(per_clip), "pauses": sum(len(inside) for inside, _ in per_clip),
              "today_cutoff_rate": today / len(per_clip), "by_threshold": {}}
    for threshold in THRESHOLDS:
        cut = sum(any(score > threshold or length >= patient_s for length, score in inside) for inside, _ in per_clip)
        result["by_threshold"][threshold] = {"cutoff_rate": cut / len(per_clip),
                                             "early_rate": sum(s > threshold for s in ends) / max(1, len(ends))}
    return result


def main() -> None:
    from host.pipeline.end_of_turn import load_turn_completion

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--silence", type=float, default=0.1, help="silence after the pause the model hears")
    args = parser.parse_args()
    clips = [clip for clip in read_manifest(corpus_dir()) if clip.kind == "speech"]
    result = measure(load_turn_completion(), clips, args.silence)
    print(f"{result['clips']} clips, {result['pauses']} pauses inside them; model asked after {args.silence} s "
          f"of silence; silence alone (0.3 s hangover) cuts off {result['today_cutoff_rate']:.1%} of clips")
    for threshold, rates in result["by_threshold"].items():
        print(f"  threshold {threshold}: cut-offs {rates['cutoff_rate']:.1%}, early ends {rates['early_rate']:.1%}")


if __name__ == "__main__":
    main()
