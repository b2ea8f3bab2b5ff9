"""Compare audio that went through the radio with the mic signal the earbud was given."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from protocol import adpcm
from protocol.audio import CODEC_ADPCM, CODEC_PCM16, decode_frame


def load_frames(path: Path) -> list:
    return [decode_frame(bytes.fromhex(h)) for h in json.loads(path.read_text())]


def assert_in_order(frames: list) -> None:
    """Every frame present, once, in order (sequence numbers step by one, modulo 65536)."""
    assert frames, "no audio frame arrived"
    seqs = [f.seq for f in frames]
    steps = [(b - a) % 65536 for a, b in zip(seqs, seqs[1:])]
    bad = [(i, s) for i, s in enumerate(steps) if s != 1]
    assert not bad, f"sequence breaks (index, step): {bad[:10]} of {len(steps)}"


def align(source: np.ndarray, received: np.ndarray) -> int:
    """Offset into the looped `source` where `received` starts (circular cross-correlation)."""
    n = source.size
    head = received[: min(received.size, n // 2)].astype(np.float64)
    padded = np.zeros(n)
    padded[: head.size] = head
    corr = np.fft.irfft(np.fft.rfft(source.astype(np.float64)) * np.conj(np.fft.rfft(padded)), n)
    return int(np.argmax(corr))


def looped(source: np.ndarray, offset: int, length: int) -> np.ndarray:
    reps = (offset + length) // source.size + 2
    return np.tile(source, reps)[offset : offset + length]


def pcm_of(frames: list) -> np.ndarray:
    return np.frombuffer(b"".join(f.pcm() for f in frames), dtype="<i2")


def snr_db(reference: np.ndarray, signal: np.ndarray) -> float:
    ref = reference.astype(np.float64)
    noise = signal.astype(np.float64) - ref
    return 10 * np.log10(np.sum(ref**2) / max(np.sum(noise**2), 1e-9))


def assert_pcm_bit_exact(source: np.ndarray, frames: list) -> None:
    assert all(f.codec == CODEC_PCM16 for f in frames)
    received = pcm_of(frames)
    offset = align(source, received)
    expected = looped(source, offset, received.size)
    mismatches = np.flatnonzero(received != expected)
    assert mismatches.size == 0, f"{mismatches.size} of {received.size} samples differ (first at {mismatches[:5]})"


def assert_adpcm_bit_exact(source: np.ndarray, frames: list) -> float:
    """Each frame's payload is exactly what IMA-ADPCM makes of the mic samples from the frame's own state.
    Returns the SNR of the decoded stream against the mic signal."""
    assert all(f.codec == CODEC_ADPCM for f in frames)
    received = pcm_of(frames)
    offset = align(source, received)
    expected = looped(source, offset, received.size)
    for i, frame in enumerate(frames):
        chunk = expected[i * 320 : (i + 1) * 320].astype("<i2").tobytes()
        encoded, _ = adpcm.encode(chunk, (frame.predictor, frame.index))
        assert encoded == bytes(frame.payload), f"frame {i} (seq {frame.seq}) is not the mic audio it should carry"
    return snr_db(expected, received)
