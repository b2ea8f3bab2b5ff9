"""Audio from the simulated earbud's mic through the virtual radio to EarbudLink, each in its own process."""

from __future__ import annotations

import pytest

from tests.link.audio_checks import assert_adpcm_bit_exact, assert_in_order, assert_pcm_bit_exact, load_frames
from tests.link.conftest import earpiece, host_probe, write_test_wav

pytestmark = pytest.mark.e2e

PASSKEY = 135790


def _paired_earbud(sim, env, tmp_path, *radio_options):
    source = write_test_wav(tmp_path / "mic.wav")
    radio = sim.radio(*radio_options)
    env["EARPIECE_ADAPTER"] = f"sim:{radio}"
    _, address = sim.earbud(radio, passkey=PASSKEY, mic=tmp_path / "mic.wav")
    result = earpiece(env, "pair", address, "--passkey", str(PASSKEY))
    assert result.returncode == 0, result.stderr
    return source, address


def test_pcm_audio_is_bit_exact(sim, env, tmp_path):
    source, address = _paired_earbud(sim, env, tmp_path)
    out = host_probe(env, "collect", address, "--seconds", "2", "--codec", "pcm", "--frames-out", str(tmp_path / "f.json"))
    frames = load_frames(tmp_path / "f.json")
    assert len(frames) >= 200, out  # >= 1 s of 5 ms frames
    assert_in_order(frames)
    assert_pcm_bit_exact(source, frames)
    assert out["stats"]["receiver"]["malformed"] == 0


def test_pcm_audio_to_the_speaker_is_bit_exact(sim, env, tmp_path):
    """Downlink: frames written without response by EarbudLink play on the earbud's speaker unchanged."""
    import wave

    import numpy as np

    reply = write_test_wav(tmp_path / "reply.wav", seconds=1.5, seed=21)
    radio = sim.radio()
    env["EARPIECE_ADAPTER"] = f"sim:{radio}"
    speaker = tmp_path / "speaker.wav"
    earbud, address = sim.earbud(radio, passkey=PASSKEY, speaker=speaker)
    assert earpiece(env, "pair", address, "--passkey", str(PASSKEY)).returncode == 0
    # Wait out the passkey the earbud speaks while pairing: the speaker mixes local sounds with reply audio.
    out = host_probe(env, "downlink", address, str(tmp_path / "reply.wav"), "--codec", "pcm", "--settle", "5")
    assert out["sent"] == out["frames"] == reply.size // 80, out
    earbud.stop()
    with wave.open(str(speaker), "rb") as f:
        played = np.frombuffer(f.readframes(f.getnframes()), dtype="<i2")
    starts = [i for i in np.flatnonzero(played == reply[0]) if np.array_equal(played[i : i + 80], reply[:80])]
    assert starts, "the reply's first frame never reached the speaker"
    heard = played[starts[0] : starts[0] + reply.size]
    mismatches = np.flatnonzero(heard != reply)
    assert heard.size == reply.size and mismatches.size == 0, f"{mismatches.size} samples differ, first {mismatches[:5]}"


def test_adpcm_audio_reaches_20_db_snr(sim, env, tmp_path):
    source, address = _paired_earbud(sim, env, tmp_path)
    out = host_probe(env, "collect", address, "--seconds", "2", "--frames-out", str(tmp_path / "f.json"))
    frames = load_frames(tmp_path / "f.json")
    assert len(frames) >= 50, out
    assert_in_order(frames)
    assert assert_adpcm_bit_exact(source, frames) >= 20.0


def test_slow_lossy_link_delivers_all_audio_in_order(sim, env, tmp_path):
    """30 ms connection interval, 10 % of packets retransmitted: late, but nothing lost or reordered."""
    source, address = _paired_earbud(sim, env, tmp_path, "--interval-ms", "30", "--retransmit-prob", "0.1", "--seed", "3")
    out = host_probe(env, "collect", address, "--seconds", "3", "--frames-out", str(tmp_path / "f.json"))
    frames = load_frames(tmp_path / "f.json")
    assert len(frames) >= 100, out  # >= 2 s of 20 ms frames
    assert_in_order(frames)
    assert out["stats"]["sequence_gaps"] == 0, out
    assert out["stats"]["receiver"]["late"] == 0 and out["stats"]["receiver"]["duplicates"] == 0, out
    assert assert_adpcm_bit_exact(source, frames) >= 20.0


def test_link_reconnects_unattended_after_forced_disconnects(sim, env, tmp_path):
    source, address = _paired_earbud(sim, env, tmp_path, "--disconnect-every-s", "2.5")
    out = host_probe(env, "collect", address, "--seconds", "7", "--frames-out", str(tmp_path / "f.json"))
    stats = out["stats"]
    assert stats["disconnects"] >= 2, stats
    assert stats["connects"] >= stats["disconnects"], stats  # back up after every drop, with nobody's help
    assert stats["last_reconnect_s"] is not None
    # Audio kept flowing across the reconnections (each one restarts the stream on the earbud).
    assert stats["receiver"]["streams"] >= 2, stats
    frames = load_frames(tmp_path / "f.json")
    assert len(frames) >= 150, stats


def test_link_comes_back_when_the_earbud_returns(sim, env, tmp_path):
    """The earbud is switched off for a while (its state kept), then on again: the link resumes by itself."""
    import json
    import subprocess
    import sys
    import time
    from pathlib import Path

    write_test_wav(tmp_path / "mic.wav")
    radio = sim.radio()
    env["EARPIECE_ADAPTER"] = f"sim:{radio}"
    state = tmp_path / "earbud-state"
    earbud, address = sim.earbud(radio, passkey=PASSKEY, mic=tmp_path / "mic.wav", state_dir=state)
    assert earpiece(env, "pair", address, "--passkey", str(PASSKEY)).returncode == 0
    probe = subprocess.Popen(
        [sys.executable, str(Path(__file__).with_name("host_probe.py")), "collect", address, "--seconds", "9"],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    try:
        time.sleep(4)
        earbud.stop()
        time.sleep(2)
        sim.earbud(radio, passkey=PASSKEY, mic=tmp_path / "mic.wav", state_dir=state)
        out, err = probe.communicate(timeout=60)
    finally:
        probe.kill()
    assert probe.returncode == 0, err[-2000:]
    stats = json.loads(out.strip().splitlines()[-1])["stats"]
    assert stats["disconnects"] >= 1 and stats["connects"] >= 2, stats
    assert stats["receiver"]["streams"] >= 2, stats  # audio flowed again after the return
