"""A private PulseAudio server with two null sinks: the test's virtual sound card (these machines have none).

    earpiece_mic_feed    what the test plays (paplay) lands here; its monitor is the default *source*,
                         i.e. what a program recording from the microphone hears
    earpiece_speaker     the default *sink*: what a program plays; the test records its monitor (parec)

PortAudio 19.6 (Debian) has no PulseAudio backend: it reaches the server through ALSA's pulse plugin
(libasound2-plugins). An ALSA config (ALSA_CONFIG_PATH) adds two named PCMs so the devices can be picked by name:
`earpiece_test_mic` and `earpiece_test_speaker`.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from pathlib import Path

APT_HINT = "sudo apt-get install -y pulseaudio libasound2-plugins portaudio19-dev (or: sh tools/system-deps.sh)"
SYSTEM_ALSA_CONF = Path("/usr/share/alsa/alsa.conf")
MIC_FEED_SINK = "earpiece_mic_feed"
SPEAKER_SINK = "earpiece_speaker"
TEST_MIC = "earpiece_test_mic"
TEST_SPEAKER = "earpiece_test_speaker"
RATE = 16000


class PulseServer:
    def __init__(self, root: Path) -> None:
        missing = [tool for tool in ("pulseaudio", "paplay", "parec", "pactl") if shutil.which(tool) is None]
        if missing:
            raise RuntimeError(f"{', '.join(missing)} not found; the PyAudio tests need a PulseAudio server: {APT_HINT}")
        if not (Path("/usr/lib/x86_64-linux-gnu/alsa-lib/libasound_module_pcm_pulse.so").exists()
                or list(Path("/usr/lib").glob("*/alsa-lib/libasound_module_pcm_pulse.so"))):
            raise RuntimeError(f"ALSA's PulseAudio plugin is missing: {APT_HINT}")
        self.root = root
        home, runtime = root / "home", root / "runtime"
        home.mkdir(parents=True, exist_ok=True)
        runtime.mkdir(parents=True, exist_ok=True)
        runtime.chmod(0o700)
        self.socket = runtime / "native"
        script = root / "server.pa"
        script.write_text(
            f"load-module module-null-sink sink_name={SPEAKER_SINK} rate={RATE} channels=1 "
            "sink_properties=device.description=Earpiece-test-speaker\n"
            f"load-module module-null-sink sink_name={MIC_FEED_SINK} rate={RATE} channels=1 "
            "sink_properties=device.description=Earpiece-test-mic-feed\n"
            f"load-module module-native-protocol-unix socket={self.socket} auth-anonymous=1\n"
            f"set-default-sink {SPEAKER_SINK}\n"
            f"set-default-source {MIC_FEED_SINK}.monitor\n",
            encoding="utf-8",
        )
        alsa_conf = root / "asound.conf"
        alsa_conf.write_text(
            (f"<{SYSTEM_ALSA_CONF}>\n" if SYSTEM_ALSA_CONF.exists() else "")
            + f'pcm.{TEST_MIC} {{ type pulse device "{MIC_FEED_SINK}.monitor" }}\n'
            + f'pcm.{TEST_SPEAKER} {{ type pulse device "{SPEAKER_SINK}" }}\n',
            encoding="utf-8",
        )
        # What every audio client (this process, the earbud, paplay/parec) needs to find this server.
        self.env = {"PULSE_SERVER": f"unix:{self.socket}", "ALSA_CONFIG_PATH": str(alsa_conf),
                    "PULSE_RUNTIME_PATH": str(runtime)}
        server_env = {**os.environ, **self.env, "HOME": str(home), "PULSE_STATE_PATH": str(home / "state")}
        server_env.pop("PULSE_SERVER")
        self.log_path = root / "pulseaudio.log"
        self._log = open(self.log_path, "wb")
        # As root PulseAudio wants --system; a per-user server with a private HOME, no pid file and no exit on
        # idle works as well and stays private to the test.
        self.proc = subprocess.Popen(
            ["pulseaudio", "--daemonize=no", "-n", "--exit-idle-time=-1", "--use-pid-file=no", "--disallow-exit",
             # Shared memory off: with several clients coming and going, PulseAudio 16 can abort on a memfd
             # block it no longer knows (upstream issue 824); copying over the socket is plenty for 16 kHz mono.
             "--disable-shm=yes", "--enable-memfd=no", "--log-target=stderr", "-F", str(script)],
            env=server_env, stdout=self._log, stderr=subprocess.STDOUT, start_new_session=True,
        )
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                break
            if self.socket.exists() and subprocess.run(["pactl", "info"], env=self.client_env(),
                                                        capture_output=True, timeout=10).returncode == 0:
                return
            time.sleep(0.1)
        self.stop()
        raise RuntimeError(f"PulseAudio did not start ({APT_HINT}); its log:\n{self.log_tail()}")

    def client_env(self) -> dict[str, str]:
        return {**os.environ, **self.env}

    def log_tail(self) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-20:])
        except OSError:
            return ""

    def play(self, wav: Path) -> subprocess.Popen:
        """Start saying `wav` into the virtual microphone, in real time (wait() on the result for its end)."""
        return subprocess.Popen(["paplay", "-d", MIC_FEED_SINK, str(wav)], env=self.client_env())

    def record(self, raw_path: Path) -> subprocess.Popen:
        """Record the virtual speaker (16 kHz mono PCM16, raw) until the returned process is terminated."""
        out = open(raw_path, "wb")
        try:
            return subprocess.Popen(
                ["parec", "-d", f"{SPEAKER_SINK}.monitor", "--rate", str(RATE), "--channels", "1",
                 "--format", "s16le", "--raw", "--latency-msec", "20"],
                env=self.client_env(), stdout=out, stderr=subprocess.DEVNULL,
            )
        finally:
            out.close()

    def stop(self) -> None:
        stop_process(self.proc)
        self._log.close()


def stop_process(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)
