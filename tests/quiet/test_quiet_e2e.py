"""Quiet mode end to end: radio, simulated earbud and `earpiece run` as separate processes; the real CLI.

The earbud's mic plays "Hey Jarvis" every few seconds, looped, so anything that still listens in quiet would be
caught: by the earbud's GATT-layer counter (audio notifications sent), by the bridge's counters (received,
processed, dropped), by its wake-word count, and by the CPU the bridge burns.
"""

from __future__ import annotations

import os
import subprocess
import time
from pathlib import Path

import pytest

from host.pipeline.audio import silence
from tests.system_rig import System

pytestmark = pytest.mark.e2e

WINDOW_S = 10.0
MAX_QUIET_CPU_PERCENT = 2.0  # of one core, the whole bridge process, one quiet earbud (the bound)


@pytest.fixture
def wake_loop(speech):
    """The mic: a wake word about every 3 s."""
    return silence(1.0) + speech("Hey Jarvis.") + silence(1.2)


def wait_for_wake(system: System, after: int, timeout: float = 20) -> dict:
    return system.wait_for(lambda: (s := system.status())["wake_detections"] > after and s, timeout,
                           f"a wake word after {after}")


def assert_quiet_everywhere(system: System, source: str) -> tuple[dict, dict]:
    status = system.status()
    assert status["via"] == "bridge" and status["connected"]
    assert status["quiet"] is True and status["quiet_source"] == source and status["earbud_quiet"] is True
    assert status["state"] == "quiet"
    earbud = system.earbud.fresh_stats()
    assert earbud["quiet"] is True and earbud["streaming"] is True  # subscribed, yet nothing is sent
    return status, earbud


def test_ten_quiet_seconds_send_nothing_process_nothing_and_cost_almost_nothing(start_system, wake_loop):
    system = start_system(wake_loop)
    wait_for_wake(system, 0)  # the mic's wake words are heard while listening

    result = system.quiet("on")
    assert result["ok"] and result["via"] == "bridge" and result["devices"][0]["quiet"] is True
    time.sleep(1.0)  # frames already on the air when quiet began
    status, earbud = assert_quiet_everywhere(system, "host")
    cpu_before, wall_before = system.bridge_cpu_s(), time.monotonic()
    time.sleep(WINDOW_S)
    cpu_s, wall_s = system.bridge_cpu_s() - cpu_before, time.monotonic() - wall_before
    after, earbud_after = assert_quiet_everywhere(system, "host")

    assert earbud_after["audio_frames_sent"] == earbud["audio_frames_sent"]  # 0 audio notifications
    assert after["audio_frames_received"] == status["audio_frames_received"]
    assert after["frames_processed"] == status["frames_processed"]  # 0 frames into the pipeline
    assert after["wake_detections"] == status["wake_detections"]
    cpu_percent = 100 * cpu_s / wall_s
    assert cpu_percent < MAX_QUIET_CPU_PERCENT, f"bridge used {cpu_percent:.2f}% of a core while quiet"

    # `earpiece quiet` alone shows the state; leaving quiet brings the wake word back.
    shown = system.cli("quiet").stdout
    assert f"{system.name}: quiet (by host)" in shown
    assert system.quiet("off")["devices"][0]["quiet"] is False
    wait_for_wake(system, after["wake_detections"])


def test_ten_toggles_through_the_radio_each_hear_the_wake_word_after_leaving_quiet(start_system, wake_loop):
    system = start_system(wake_loop)
    detections = wait_for_wake(system, 0)["wake_detections"]
    for cycle in range(10):
        assert system.quiet("on")["devices"][0]["quiet"] is True
        quiet = system.status()
        assert quiet["quiet"] is True and quiet["state"] == "quiet"
        assert system.quiet("off")["devices"][0]["quiet"] is False
        detections = wait_for_wake(system, max(detections, quiet["wake_detections"]))["wake_detections"]
    final = system.status()
    assert final["quiet"] is False and final["frames_processed"] > 0


def test_quiet_survives_a_bridge_restart_and_an_earbud_reboot(start_system, tmp_path, wake_loop):
    system = start_system(wake_loop)
    assert system.quiet("on")["devices"][0]["quiet"] is True

    system.stop_bridge()
    system.start_bridge()
    time.sleep(2.0)
    status, _ = assert_quiet_everywhere(system, "host")
    assert status["frames_processed"] == 0 and status["audio_frames_received"] == 0

    system.reboot_earbud()
    system.wait_for(lambda: (s := system.status())["link"]["connects"] >= 2 and s["connected"], 30,
                    "the rebooted earbud to reconnect")
    time.sleep(2.0)
    status, earbud = assert_quiet_everywhere(system, "host")
    assert earbud["audio_frames_sent"] == 0  # the rebooted earbud came back quiet by itself
    assert status["frames_processed"] == 0

    # An earbud that lost its settings comes back listening: the host never silently follows it.
    def forget_settings() -> None:
        (tmp_path / "earbud" / "core_state.json").unlink()

    system.reboot_earbud(forget_settings)
    system.wait_for(lambda: (s := system.status())["link"]["connects"] >= 3 and s["connected"], 30,
                    "the wiped earbud to reconnect")
    system.wait_for(lambda: system.earbud_stats().get("quiet") is True, 10, "the host to re-assert quiet")
    time.sleep(2.0)
    status, earbud = assert_quiet_everywhere(system, "host")
    assert status["frames_processed"] == 0  # whatever it sent before being told again was dropped unprocessed
    assert status["frames_dropped_quiet"] == status["audio_frames_received"]


def test_quiet_survives_reconnects(start_system, wake_loop):
    system = start_system(wake_loop, radio_args={"disconnect_every_s": 3})
    assert system.quiet("on")["devices"][0]["quiet"] is True
    time.sleep(1.0)
    connects = system.status()["link"]["connects"]
    status = system.wait_for(lambda: (s := system.status())["link"]["connects"] >= connects + 2 and s, 30,
                             "two reconnections")
    assert status["quiet"] is True and status["state"] == "quiet"
    processed = status["frames_processed"]
    time.sleep(1.0)
    assert system.earbud.fresh_stats()["quiet"] is True
    assert system.status()["frames_processed"] == processed
    assert "quiet: not listening" in system.bridge_text() and "listening again" not in system.bridge_text()


def test_a_misbehaving_earbud_streaming_in_quiet_is_dropped_and_counted(start_system, wake_loop):
    system = start_system(wake_loop, earbud_args=["--misbehave-audio-in-quiet"])
    wait_for_wake(system, 0)
    system.earbud.send("quiet on")  # the switch: it reports quiet, and (misbehaving) keeps streaming
    system.earbud.wait_for_line(r"^quiet switch on$")
    system.wait_for(lambda: system.status()["quiet_source"] == "switch", 10, "the switch's quiet to reach the host")
    before = system.status()
    time.sleep(3.0)
    after = system.status()
    received = after["audio_frames_received"] - before["audio_frames_received"]
    assert received >= 100  # ~50 frames a second kept arriving
    assert after["frames_dropped_quiet"] - before["frames_dropped_quiet"] == received  # every one dropped
    gate = after["link"]["audio_frames_dropped_quiet"] - before["link"]["audio_frames_dropped_quiet"]
    assert gate == received  # at the link's quiet gate, before ADPCM decoding
    assert after["frames_processed"] == before["frames_processed"]  # none processed
    assert after["wake_detections"] == before["wake_detections"]
    assert system.earbud_stats()["audio_frames_misbehaved_in_quiet"] > 0

    # The switch holds quiet: the CLI cannot override it.
    refused = system.cli("quiet", "off", system.name, check=False)
    assert refused.returncode != 0 and "switch" in refused.stderr and len(refused.stderr.strip().splitlines()) == 1
    assert system.status()["quiet"] is True


def test_without_a_bridge_the_cli_talks_to_the_earbud_directly(start_system, wake_loop):
    system = start_system(wake_loop, bridge=False)
    result = system.quiet("on")
    assert result["ok"] and result["via"] == "earbud" and result["devices"][0]["quiet"] is True
    status = system.status()
    assert status["via"] == "earbud" and status["quiet"] is True and status["quiet_source"] == "host"
    assert status["audio_frames_received"] == status["frames_processed"] == status["frames_dropped_quiet"] == 0
    assert system.earbud.fresh_stats()["quiet"] is True
    # The quiet earbud comes up quiet under a bridge started later: nothing is streamed or processed.
    system.start_bridge()
    time.sleep(2.0)
    bridged, earbud = assert_quiet_everywhere(system, "host")
    assert bridged["frames_processed"] == 0 and earbud["audio_frames_sent"] == 0
    system.stop_bridge()
    # The switch holds quiet against the CLI, also without a bridge.
    system.earbud.send("quiet on")
    system.earbud.wait_for_line(r"^quiet switch on$")
    refused = system.cli("quiet", "off", system.name, check=False)
    assert refused.returncode != 0 and "switch" in refused.stderr
    assert system.status()["quiet_source"] == "switch"
    system.earbud.send("quiet off")
    system.earbud.wait_for_line(r"^quiet switch off$")
    assert system.status()["quiet"] is False


def test_the_earbud_stats_file_is_rewritten_atomically_every_second(tmp_path, wake_loop):
    from host.system.demo import write_wav
    from host.system.simulator import start_earbud, start_radio

    mic = tmp_path / "mic.wav"
    write_wav(mic, wake_loop)
    with start_radio(log_dir=tmp_path) as radio, \
            start_earbud(radio, "Earpiece-Stats", state_dir=tmp_path / "bud", mic=[mic]) as earbud:
        deadline = time.monotonic() + 5
        while not earbud.stats_path.exists() and time.monotonic() < deadline:
            time.sleep(0.05)
        seen, deadline = set(), time.monotonic() + 3.5
        while time.monotonic() < deadline:
            stats = earbud.read_stats()  # never half a file: a torn read would raise here
            assert stats["audio_frames_sent"] == 0 and stats["quiet"] is False
            seen.add(earbud.stats_path.stat().st_mtime_ns)
            time.sleep(0.02)
        assert len(seen) >= 3


@pytest.fixture
def full_data_disk(tmp_path):
    """A 4 MB tmpfs as the bridge's data folder (EARPIECE_HOME/data), and a way to fill it (root only: mount)."""
    if os.geteuid() != 0:
        pytest.skip("mounting a small file system for the bridge's data needs root")
    data = tmp_path / "home" / "data"
    data.mkdir(parents=True)
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=4m,mode=0700", "tmpfs", str(data)], check=True)

    def fill() -> None:
        with open(data / "filler", "wb") as filler:
            try:
                while True:
                    filler.write(b"\0" * 65536)
                    filler.flush()
            except OSError:
                pass

    yield data, fill
    subprocess.run(["umount", "-l", str(data)], check=False)


def test_quiet_on_with_the_data_disk_full_silences_the_earbud(start_system, full_data_disk, wake_loop):
    data, fill = full_data_disk
    system = start_system(wake_loop * 3)
    wait_for_wake(system, 0)
    fill()
    result = system.cli("quiet", "on", system.name, "--json", check=False)
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr
    status, earbud = assert_quiet_everywhere(system, "host")
    sent = earbud["audio_frames_sent"]
    time.sleep(2.5)
    assert system.earbud.fresh_stats()["audio_frames_sent"] == sent  # the microphone is off: nothing leaves it
    assert not [p for p in Path(data).iterdir() if p.name.startswith(".quiet-")]  # no temporary files left
    (data / "filler").unlink()
    off = system.cli("quiet", "off", system.name, "--json")
    assert off.returncode == 0
    wait_for_wake(system, status["wake_detections"])


def test_forgetting_an_earbud_while_the_bridge_runs_lets_go_of_it_at_once(start_system, wake_loop):
    system = start_system(wake_loop * 3)
    wait_for_wake(system, 0)
    result = system.cli("forget", system.name)
    assert result.returncode == 0, result.stderr
    # The bridge disconnects it and stops processing its audio: the earbud is no longer connected, and stays so.
    system.wait_for(lambda: not system.earbud.fresh_stats()["connected"], 10, "the earbud to be disconnected")
    time.sleep(3.0)
    assert not system.earbud.fresh_stats()["connected"]
    status = system.cli("status", system.name, "--json", check=False)
    assert status.returncode != 0 and "Traceback" not in status.stderr
    assert "forgotten" in system.bridge_text()
