"""Noise suppression ([listen] noise_suppression): does it help the wake word and the recognizer in noise, and
does it hurt clean speech?

Speech: the shared corpus's human recordings (`<repo>/../shared/corpus`, or $EARPIECE_CORPUS): WAKE_CLIPS of the
human "alexa" clips (spread over the set) and SPEECH_CLIPS sentences with transcripts; without a corpus, espeak-ng
voices saying the same kind of thing. Noise, one excerpt per clip (seeded; the same excerpt at every SNR):
- music: the bench's negative set (bench/negatives.py MUSIC_PACKAGES: Debian game music, cached beside the models);
- babble: BABBLE_TALKERS overlapping other speakers (the corpus's negatives/: crowd-sourced keyword clips).
Even clips get music, odd ones babble (babble alone when the music cannot be fetched). The SNR is the speech's
active level (its 20 ms frames within 30 dB of its loudest) over the noise's mean power. The noise starts before the
speech and goes on after it, as in a room: the suppressor hears it first.

Each engine (off, webrtc, rnnoise, deepfilternet; one that is not installed is reported as unavailable) processes
every clip clean and at each SNR, streaming in 20 ms chunks; one suppressor per engine and worker, reset between
clips (as quiet resets it).
- wake: the alexa model at the DEFAULT threshold, refractory time and start-up guard, each clip padded as
  bench_listening pads it (the padding noisy too), every detection verified as the bridge does ([wake] verify, on
  by default): `wake_rate` = clips detected AND verified / clips; the detector's own count is beside it.
- recognition: the default recognizer ([asr] defaults: Moonshine) on the suppressed audio from the endpointer's
  pre-roll (0.5 s) before the speech to TAIL_S after it; WER as bench_accuracy computes it (same normalization).
- CPU: the suppressor's process time per second of audio it processed. Delay: how far the suppressed clean speech
  lags the input (cross-correlation), median over DELAY_CLIPS clips; it includes the 10 ms frame the suppressor holds.
Read the WER with its noise in mind: Moonshine's transcript of a clip can flip on tiny changes (measured: the audio
12 ms later changed 3 of the 16 sentences; the 48 kHz round trip alone, no suppression, emptied one 12-word
transcript), so differences of a dozen errors in 169 words are one or two clips.

    .venv/bin/python -m bench --only noise [--quick]      (or: .venv/bin/python -m bench.bench_noise)
"""

from __future__ import annotations

import os
import statistics
import time
from concurrent.futures import ProcessPoolExecutor
from multiprocessing import get_context
from pathlib import Path

import numpy as np

from bench.common import Unavailable, corpus_dir, install_models, round_or_none

SECTIONS = {"noise": ("wake_rate_by_engine", "wer_by_engine", "cpu_ms_per_audio_s", "delay_ms")}
BUDGET_S = 480.0  # measured 245 s on 2 cores
ENGINES = ("off", "webrtc", "rnnoise", "deepfilternet")
SNRS_DB = (10, 5)
WAKE_CLIPS, SPEECH_CLIPS = 30, 16
QUICK_WAKE_CLIPS, QUICK_SPEECH_CLIPS = 8, 4
LEAD_S = 1.5  # noise before a sentence (a wake clip's lead is the start-up guard's padding, longer)
PRE_ROLL_S = 0.5  # what the endpointer keeps from before the speech ([endpoint] pre_roll_s)
TAIL_S = 0.5
CHUNK_BYTES = 640  # 20 ms, as the link delivers
BABBLE_TALKERS = 4
MUSIC_S = 240.0
DELAY_CLIPS = 5
RATE = 16000
ESPEAK_SENTENCES = ("Set a timer for ten minutes.", "What is the weather like tomorrow morning?",
                    "Remind me to call my sister at six.", "Turn the music down a little.",
                    "How far is it to the nearest train station?", "Add milk and bread to the shopping list.")
ESPEAK_VOICES = ("en-us", "en-gb", "en-us+f3", "en-gb-scotland")


# ---- the audio ---------------------------------------------------------------------------------------------------


def _samples(pcm: bytes) -> np.ndarray:
    return np.frombuffer(pcm, dtype="<i2").astype(np.float64)


def _pcm(x: np.ndarray) -> bytes:
    return np.clip(np.round(x), -32768, 32767).astype("<i2").tobytes()


def active_power(x: np.ndarray) -> float:
    """Mean power of the 20 ms frames within 30 dB of the loudest (the speech, not the pauses)."""
    frames = x[: x.size // 320 * 320].reshape(-1, 320)
    power = np.mean(frames ** 2, axis=1)
    return float(np.mean(power[power >= power.max() * 1e-3])) if power.size else 0.0


def mix(clean: np.ndarray, noise: np.ndarray, speech_power: float, snr_db: float | None) -> bytes:
    if snr_db is None:
        return _pcm(clean)
    return _pcm(clean + noise * np.sqrt(speech_power / 10 ** (snr_db / 10) / np.mean(noise ** 2)))


def noises(corpus_clips: list, rng: np.random.Generator, quick: bool) -> dict[str, np.ndarray]:
    """{"music": ..., "babble": ...} long tracks at 16 kHz (music left out when the negative set is unavailable)."""
    from bench import negatives

    tracks = {}
    try:
        sources = negatives.fetch(packages=negatives.MUSIC_PACKAGES)
        per_source = (60.0 if quick else MUSIC_S) / len(sources)
        tracks["music"] = np.concatenate([_samples(pcm) for source in sources
                                          for pcm, _ in negatives.stream(source, per_source)])
    except Unavailable as why:
        tracks["music_unavailable"] = str(why)
    talkers = [_samples(pcm) for pcm in corpus_clips]
    length = int((60 if quick else 120) * RATE)
    babble = np.zeros(length)
    for _ in range(BABBLE_TALKERS):
        order = rng.permutation(len(talkers))
        voice = np.concatenate([talkers[i] / np.sqrt(active_power(talkers[i]) + 1e-9) for i in order])
        babble += np.resize(voice, length)
    tracks["babble"] = babble
    return tracks


def excerpt(track: np.ndarray, n: int, rng: np.random.Generator) -> np.ndarray:
    start = int(rng.integers(0, max(1, track.size - n)))
    return np.resize(track[start:start + n], n)


def clips(quick: bool) -> tuple[list[tuple[str, bytes]], list[tuple[str, bytes, str]], list[bytes], str]:
    """(wake clips [(name, pcm)], sentences [(name, pcm, transcript)], babble talkers [pcm], where they came from)."""
    from host.pipeline.audio import read_wav

    n_wake, n_speech = (QUICK_WAKE_CLIPS, QUICK_SPEECH_CLIPS) if quick else (WAKE_CLIPS, SPEECH_CLIPS)
    try:
        from bench.bench_accuracy import read_manifest

        corpus = read_manifest(corpus_dir())
    except Unavailable:
        corpus = []
    wake = [c for c in corpus if c.kind == "wake"]
    speech = [c for c in corpus if c.kind == "speech"]
    if wake and speech:
        # Every voice the sentences have (pocketsphinx, JFK, Beckett) before the one LJSpeech reader.
        speech = sorted(speech, key=lambda c: "coqui_ljspeech" in c.source)
        talkers = [read_wav(c.path) for c in corpus if c.kind == "negative"]
        return ([(c.name, read_wav(c.path)) for c in wake[:: max(1, len(wake) // n_wake)][:n_wake]],
                [(c.name, read_wav(c.path), c.transcript) for c in speech[:n_speech]], talkers, str(corpus_dir()))
    from bench import negatives

    folder = negatives.cache_dir() / "noise-speech"
    say = lambda text, voice, rate=170: read_wav(negatives.espeak(text, voice, rate, folder))  # noqa: E731
    wake_clips = [(f"{v}@{r}: Alexa", say("Alexa", v, r)) for v in negatives.NEAR_MISS_VOICES
                  for r in negatives.NEAR_MISS_RATES][:n_wake]
    sentences = [(f"{v}: {t}", say(t, v), t) for t in ESPEAK_SENTENCES for v in ESPEAK_VOICES][:n_speech]
    talkers = [say(t, v) for t in ESPEAK_SENTENCES for v in negatives.NEAR_MISS_VOICES[4:]]
    return wake_clips, sentences, talkers, "espeak-ng (no corpus)"


# ---- one worker: the recognizer, the wake model, a suppressor per engine -----------------------------------------

_worker: dict = {}


def _init_worker() -> None:
    from bench import bench_listening

    bench_listening._init_worker()  # the default recognizer, as the listening bench loads it


def _suppress(engine: str, pcm: bytes) -> tuple[bytes, float]:
    from host.pipeline.noise_suppress import NoiseSuppressor

    if engine not in _worker:
        _worker[engine] = NoiseSuppressor(engine)
    suppressor = _worker[engine]
    suppressor.reset()
    started = time.process_time()
    out = b"".join(suppressor.suppress(pcm[i:i + CHUNK_BYTES]) for i in range(0, len(pcm), CHUNK_BYTES))
    return out, time.process_time() - started


def run_job(job: tuple[str, str, list[dict]]) -> list[dict]:
    """(engine, "wake" or "speech", items): each item's audio suppressed, then scored or recognized."""
    from bench import bench_listening
    from bench.bench_accuracy import compare

    engine, kind, items = job
    rows = []
    for item in items:
        out, cpu_s = _suppress(engine, item["pcm"])
        start, end = item["span"]
        row = {key: item[key] for key in ("label", "condition", "noise")}
        row.update(cpu_s=cpu_s, audio_s=len(out) / 2 / RATE)
        if kind == "wake":
            scored = bench_listening.score_stream("alexa", [(out[:start], 0.0), (out[start:end], (end - start) / 32000),
                                                             (out[end:], 0.0)], item["label"])
            row.update(detected=scored["both"]["detections"] > 0, verified=scored["both"]["verified"] > 0)
        else:
            text = bench_listening._worker["asr"].transcribe(out[max(0, start - int(PRE_ROLL_S * RATE) * 2):])
            row.update(hypothesis=text, **compare(item["transcript"], text))
        rows.append(row)
    return rows


def delay_ms(engine: str, sentences: list[bytes]) -> float | None:
    """Median lag of the suppressed clean speech behind the input (0..100 ms), from the best-matching shift."""
    from host.pipeline.noise_suppress import NoiseSuppressor

    suppressor, lags = NoiseSuppressor(engine), []
    for pcm in sentences:
        suppressor.reset()
        x = np.concatenate([np.zeros(int(LEAD_S * RATE)), _samples(pcm)])
        y = _samples(b"".join(suppressor.suppress(_pcm(x)[i:i + CHUNK_BYTES]) for i in range(0, 2 * x.size, CHUNK_BYTES)))
        n = x.size - 1600
        lags.append(max(range(1600), key=lambda k: float(np.dot(y[k:k + n], x[:n]))) / RATE * 1000)
    return statistics.median(lags) if lags else None


# ---- the part ----------------------------------------------------------------------------------------------------


def run(budget_s: float, quick: bool = False, out_dir: Path | None = None) -> dict:
    from host.config import Config
    from host.pipeline.noise_suppress import NoiseSuppressionUnavailable, NoiseSuppressor

    from bench.bench_accuracy import lead_silence_s, wer

    install_models()
    started = time.monotonic()
    rng = np.random.default_rng(15)
    wake_clips, sentences, talkers, source = clips(quick)
    if not wake_clips or not sentences:
        raise Unavailable("no speech: neither the shared corpus nor espeak-ng")
    tracks = noises(talkers, rng, quick)
    kinds = [k for k in ("music", "babble") if k in tracks]
    conditions = [("clean", None)] + [(f"snr_{snr}", snr) for snr in SNRS_DB]
    lead_wake = lead_silence_s(Config().wake.startup_guard_s)
    jobs: dict[str, list[dict]] = {"wake": [], "speech": []}
    for kind, items, lead_s, tail_s in (("wake", wake_clips, lead_wake, 1.0), ("speech", sentences, LEAD_S, TAIL_S)):
        for i, (label, pcm, *transcript) in enumerate(items):
            voice = np.concatenate([np.zeros(int(lead_s * RATE)), _samples(pcm), np.zeros(int(tail_s * RATE))])
            noise_kind = kinds[i % len(kinds)]
            noise = excerpt(tracks[noise_kind], voice.size, rng)
            span = (int(lead_s * RATE) * 2, int(lead_s * RATE) * 2 + len(pcm))
            for name, snr in conditions:
                jobs[kind].append({"label": label, "condition": name, "noise": noise_kind if snr else "none",
                                   "pcm": mix(voice, noise, active_power(_samples(pcm)), snr), "span": span,
                                   "transcript": transcript[0] if transcript else ""})
    engines, unavailable = [], {}
    for engine in ENGINES:
        try:
            NoiseSuppressor(engine)
            engines.append(engine)
        except NoiseSuppressionUnavailable as why:
            unavailable[engine] = str(why)
    pieces = [(engine, kind, items[i:i + 10]) for engine in engines for kind, items in jobs.items()
              for i in range(0, len(items), 10)]
    workers = max(1, min(2, os.cpu_count() or 1))
    with ProcessPoolExecutor(max_workers=workers, mp_context=get_context("spawn"), initializer=_init_worker) as pool:
        futures = [(engine, kind, pool.submit(run_job, (engine, kind, items))) for engine, kind, items in pieces]
        rows: dict[tuple[str, str], list[dict]] = {}
        for engine, kind, future in futures:
            rows.setdefault((engine, kind), []).extend(future.result())
    per_engine = {}
    for engine in engines:
        wake_rows, speech_rows = rows[(engine, "wake")], rows[(engine, "speech")]
        table = {}
        for name, _ in conditions:
            w = [r for r in wake_rows if r["condition"] == name]
            s = [r for r in speech_rows if r["condition"] == name]
            table[name] = _figures(w, s, wer)
            if name != "clean":
                table[name]["by_noise"] = {k: _figures([r for r in w if r["noise"] == k],
                                                       [r for r in s if r["noise"] == k], wer) for k in kinds}
        everything = wake_rows + speech_rows
        per_engine[engine] = {
            "conditions": table,
            "cpu_ms_per_audio_s": round(1000 * sum(r["cpu_s"] for r in everything) / sum(r["audio_s"] for r in everything), 1),
            "delay_ms": round_or_none(delay_ms(engine, [pcm for _, pcm, _ in sentences[:DELAY_CLIPS]]), 1),
            "missed_wake": {name: sorted(r["label"] for r in wake_rows if r["condition"] == name and not r["verified"])
                            for name, _ in conditions},
        }
    section = {
        "wake_rate_by_engine": {e: {c: v["wake_rate"] for c, v in row["conditions"].items()} for e, row in per_engine.items()},
        "wer_by_engine": {e: {c: v["wer"] for c, v in row["conditions"].items()} for e, row in per_engine.items()},
        "cpu_ms_per_audio_s": {e: row["cpu_ms_per_audio_s"] for e, row in per_engine.items()},
        "delay_ms": {e: row["delay_ms"] for e, row in per_engine.items()},
        "engines": per_engine,
        "unavailable": unavailable,
        "snr_db": list(SNRS_DB),
        "speech_source": source,
        "noise_kinds": kinds,
        "music_unavailable": tracks.get("music_unavailable"),
        "wake_model": "alexa (the corpus's human clips; the default hey_jarvis has none), default threshold, verified",
        "asr": Config().asr.engine,
        "wake_clips": len(wake_clips),
        "speech_clips": len(sentences),
        "quick": quick,
        "runtime_s": round(time.monotonic() - started, 1),
    }
    return {"noise": section}


def _figures(wake_rows: list[dict], speech_rows: list[dict], wer) -> dict:
    verified = sum(r["verified"] for r in wake_rows)
    return {"wake_clips": len(wake_rows), "wake_verified": verified,
            "wake_detected": sum(r["detected"] for r in wake_rows),
            "wake_rate": round_or_none(verified / len(wake_rows) if wake_rows else None, 4),
            "sentences": len(speech_rows), "word_errors": sum(r["errors"] for r in speech_rows),
            "reference_words": sum(r["words"] for r in speech_rows), "wer": round_or_none(wer(speech_rows), 4)}


def main() -> None:
    import argparse
    import json

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    section = run(BUDGET_S, quick=args.quick)["noise"]
    if args.json:
        print(json.dumps(section))
        return
    print(f"{'engine':<14} {'condition':<9} {'wake verified':>14} {'(detected)':>10} {'WER':>7} {'errors/words':>13} "
          f"{'CPU ms/s':>9} {'delay ms':>9}")
    for engine, row in section["engines"].items():
        for name, f in row["conditions"].items():
            print(f"{engine:<14} {name:<9} {f['wake_verified']:>6}/{f['wake_clips']:<3} {f['wake_rate']:>5.1%} "
                  f"{f['wake_detected']:>9}  {f['wer']:>6.1%} {f['word_errors']:>6}/{f['reference_words']:<6} "
                  f"{row['cpu_ms_per_audio_s']:>9} {row['delay_ms']:>9}")
    for engine, why in section["unavailable"].items():
        print(f"{engine}: unavailable ({why})")
    print(f"speech: {section['speech_source']}; noise: {', '.join(section['noise_kinds'])}; "
          f"{section['runtime_s']} s")


if __name__ == "__main__":
    main()
