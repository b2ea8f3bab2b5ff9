"""What each echo canceller does to the echo and to the wearer's voice said over it, offline, on the simulated path.

A synthetic reply (espeak-ng) is the reference; its echo comes through device_sim's room (`--echo 20:-10:150` as
bench_barge_in uses: 20 ms, -10 dB, a 150 ms room tail; and 0 dB) behind the bridge's reference lead (0.2 s);
stop phrases are said over it late in the reply (double talk). For WebRTC AEC3 and for the linear canceller:
    erle_db          echo return loss enhancement on the echo alone, after 3 s of learning
    voice_corr       correlation of the wearer's voice with the canceller's output over the phrase (1 = untouched;
                     best over output lags up to 30 ms)
    voice_level_db   the phrase's level in the output against the clean phrase
    ser_db           voice-to-remaining-echo ratio over the phrase (what the recognizer gets)
    us_per_10ms      processing time per 10 ms block

    .venv/bin/python -m bench.bench_echo_cancel [--json]
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np

RATE = 16000
LEAD_S = 0.2  # host/bridge/echo_reference.py reads the reference this much ahead of the mic
REPLY = ("Here is the weather for today. It will be mild and cloudy in the morning, with a little rain in the "
         "afternoon, and a clear sky by the evening. Tomorrow looks much the same, a little warmer perhaps.")
PHRASES = ["stop", "never mind", "Hey Jarvis, stop"]
PATHS = {"20:-10:150": (20, -10, 150), "20:0:150": (20, 0, 150)}


def _aec3(near: np.ndarray, far: np.ndarray) -> np.ndarray:
    import pywebrtc_audio

    aec = pywebrtc_audio.EchoCanceller(RATE, 1)
    return np.concatenate([np.asarray(aec.process(near[i:i + 160].astype(np.int16), far[i:i + 160].astype(np.int16)))
                           .reshape(-1) for i in range(0, len(near) - 159, 160)]).astype(float)


def _linear(near: np.ndarray, far: np.ndarray) -> np.ndarray:
    from host.pipeline.linear_echo import LinearEchoCanceller

    canceller = LinearEchoCanceller()
    return np.concatenate([canceller.process(near[i:i + 160], far[i:i + 160])
                           for i in range(0, len(near) - 159, 160)])


def measure() -> dict:
    from device_sim.echo_path import room_response
    from host.config import Config
    from host.pipeline.tts import load_engine

    tts = load_engine(Config().tts)
    try:
        reply = np.frombuffer(tts.synthesize(REPLY), "<i2").astype(float)
        phrases = {p: np.frombuffer(tts.synthesize(p), "<i2").astype(float) for p in PHRASES}
    finally:
        tts.close()
    results: dict = {}
    for path, (delay_ms, gain_db, rt60_ms) in PATHS.items():
        lag = round((LEAD_S + delay_ms / 1000) * RATE)
        echo = np.convolve(reply, room_response(rt60_ms))[: len(reply)] * 10 ** (gain_db / 20)
        echo = np.concatenate([np.zeros(lag), echo])[: len(reply)]
        for name, cancel in (("aec3", _aec3), ("linear", _linear)):
            rows = []
            for phrase, voice_pcm in phrases.items():
                at = int(len(reply) * 0.6)
                voice = np.zeros_like(echo)
                voice[at: at + len(voice_pcm)] = voice_pcm[: len(echo) - at]
                started = time.perf_counter()
                out = cancel(echo + voice, reply)
                us = (time.perf_counter() - started) / (len(out) / 160) * 1e6
                span = slice(at, at + len(voice_pcm))
                alone = slice(3 * RATE, at - RATE // 10)
                corr = max(np.corrcoef(voice[span], out[at + k: at + k + len(voice_pcm)])[0, 1]
                           for k in range(0, 480, 16))
                rows.append({
                    "phrase": phrase,
                    "erle_db": 10 * np.log10(np.sum(echo[alone] ** 2) / max(np.sum(out[alone] ** 2), 1.0)),
                    "voice_corr": corr,
                    "voice_level_db": 10 * np.log10(np.sum(out[span] ** 2) / np.sum(voice[span] ** 2)),
                    "ser_db": 10 * np.log10(np.sum(voice[span] ** 2) / np.sum((out[span] - voice[span]) ** 2)),
                    "us_per_10ms": us,
                })
            results[f"{path} {name}"] = {key: round(float(np.median([r[key] for r in rows])), 3 if key == "voice_corr"
                                                    else 1) for key in rows[0] if key != "phrase"}
            results[f"{path} {name}"]["voice_corr_min"] = round(float(min(r["voice_corr"] for r in rows)), 3)
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--json", action="store_true", help="one JSON object on one line")
    results = measure()
    if parser.parse_args().json:
        print(json.dumps(results))
        return
    for name, row in results.items():
        print(f"{name:24} " + "  ".join(f"{key} {value}" for key, value in row.items()))


if __name__ == "__main__":
    main()
