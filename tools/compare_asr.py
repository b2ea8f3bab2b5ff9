"""Word error rate and latency of speech recognizers on the corpus's transcribed clips, side by side.

Each clip is transcribed whole by every engine in turn (interleaved, so a busy machine slows them alike), each
engine on one thread; WER uses the bench's normalization (bench.bench_accuracy). With --pipeline, each clip also
goes the way `earpiece transcribe` takes it (cut into utterances by the endpointer, each recognized, texts joined):
that WER should equal the engine's. Run pinned to one core:

    taskset -c 1 .venv/bin/python tools/compare_asr.py [--engines moonshine,whisper] [--pipeline] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.bench_accuracy import compare, read_manifest, wer  # noqa: E402
from bench.common import corpus_dir  # noqa: E402
from host.pipeline.audio import read_wav  # noqa: E402


def load_one_thread(name: str):
    """An engine by name, on one thread."""
    from host import models

    if name == "moonshine":
        from host.pipeline.asr.moonshine_engine import MoonshineEngine

        return MoonshineEngine(models.moonshine_model_dir(), threads=1)
    if name == "whisper":
        from host.pipeline.asr.whisper_engine import WhisperEngine

        return WhisperEngine(models.whisper_model_dir(), cpu_threads=1)
    raise SystemExit(f"unknown engine {name}")


def transcribe_like_the_cli(engine, pcm: bytes) -> str:
    from host.cli.voice_commands import file_endpointer
    from host.config import EndpointSettings
    from host.pipeline.asr.segments import split_utterances

    texts = [engine.transcribe(u.audio) for u in split_utterances(pcm, file_endpointer(EndpointSettings()))]
    return " ".join(text for text in texts if text)


def compare_engines(engines: dict, clips: list, warmup: int = 2, pipeline: bool = False) -> dict:
    """{engine: {"wer", "latency_ms" {p50, p95, mean}, "rows": [...]}} over `clips` (bench Clip objects); with
    `pipeline`, also {"<engine> via transcribe": ...} for the clips cut into utterances first."""
    audio = [(clip, read_wav(clip.path)) for clip in clips]
    for engine in engines.values():
        for _, pcm in audio[:warmup]:
            engine.transcribe(pcm)
    ways = [(name, engine, engine.transcribe) for name, engine in engines.items()]
    if pipeline:
        ways += [(f"{name} via transcribe", engine, lambda pcm, e=engine: transcribe_like_the_cli(e, pcm))
                 for name, engine in engines.items()]
    rows: dict[str, list] = {name: [] for name, _, _ in ways}
    for clip, pcm in audio:
        for name, engine, run in ways:
            started = time.perf_counter()
            text = run(pcm)
            elapsed_ms = (time.perf_counter() - started) * 1000
            rows[name].append({"clip": clip.name, "seconds": round(len(pcm) / 32000, 2), "ms": round(elapsed_ms),
                               "text": text, **compare(clip.transcript, text)})
    return {name: summary(found) for name, found in rows.items()}


def summary(rows: list[dict]) -> dict:
    times = sorted(row["ms"] for row in rows)
    return {"wer": round(wer(rows), 4), "clips": len(rows),
            "latency_ms": {"p50": statistics.median(times), "p95": times[min(len(times) - 1, int(len(times) * 0.95))],
                           "mean": round(statistics.fmean(times))},
            "short_clips_latency_ms_p50": statistics.median([r["ms"] for r in rows if r["seconds"] <= 4] or [0]),
            "rows": rows}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--engines", default="moonshine,whisper")
    parser.add_argument("--pipeline", action="store_true", help="also measure the way `earpiece transcribe` goes")
    parser.add_argument("--json", type=Path, help="write every clip's result here")
    args = parser.parse_args()
    clips = [clip for clip in read_manifest(corpus_dir()) if clip.kind == "speech"]
    engines = {name: load_one_thread(name) for name in args.engines.split(",")}
    results = compare_engines(engines, clips, pipeline=args.pipeline)
    for name, result in results.items():
        print(f"{name:24} WER {result['wer']:.2%} over {result['clips']} clips; latency p50 "
              f"{result['latency_ms']['p50']:.0f} ms, p95 {result['latency_ms']['p95']} ms, mean "
              f"{result['latency_ms']['mean']} ms; clips <= 4 s p50 {result['short_clips_latency_ms_p50']:.0f} ms")
    if args.json:
        args.json.write_text(json.dumps(results, indent=1) + "\n")


if __name__ == "__main__":
    main()
