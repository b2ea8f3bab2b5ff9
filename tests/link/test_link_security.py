"""An unpaired central gets nothing from the earbud's protected service: ATT errors, and not one audio byte."""

from __future__ import annotations

import json
import time

import pytest

from tests.link.conftest import host_probe, write_test_wav

pytestmark = pytest.mark.e2e


def test_unpaired_central_cannot_read_subscribe_or_control(sim, env, tmp_path):
    write_test_wav(tmp_path / "mic.wav")
    radio = sim.radio()
    env["EARPIECE_ADAPTER"] = f"sim:{radio}"
    stats_file = tmp_path / "earbud-stats.json"
    _, address = sim.earbud(radio, mic=tmp_path / "mic.wav", stats=stats_file)

    probe = host_probe(env, "unpaired", address, "--seconds", "1.5")
    insufficient_authentication = "att_error_5"
    assert probe["encrypted"] is False
    assert probe["read_status"] == insufficient_authentication
    assert probe["subscribe_audio"] == insufficient_authentication
    assert probe["subscribe_status"] == insufficient_authentication
    assert probe["write_control"] == insufficient_authentication
    assert probe["audio_bytes"] == 0 and probe["status_bytes"] == 0
    assert probe["read_battery"] == "ok"  # the standard Battery service is open, as in README §1
    assert probe["still_connected"] is True  # refused, not crashed

    time.sleep(1.2)  # the earbud rewrites its stats file every second
    earbud_stats = json.loads(stats_file.read_text())
    assert earbud_stats["audio_frames_sent"] == 0 and earbud_stats["audio_frames_encoded"] == 0
