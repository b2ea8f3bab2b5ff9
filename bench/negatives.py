"""The bench's negative audio: hours of ordinary speech and music from Debian packages, plus synthetic near misses.

The shared corpus holds about 0.25 h of negatives, too little to resolve 0.5 false accepts per hour (one false
accept alone reads as 4 per hour). These Debian packages are ordinary audio no one here tuned the wake word on:
- telephone prompts of the Asterisk PBX (`asterisk-core-sounds-{en,es,fr,it,ru}-wav`, CC BY-SA 3.0, Digium):
  about 2.2 h of read speech in five languages, 8 kHz;
- game music (`drascula-music`, freeware licence; `singularity-music`, CC BY-SA; `asc-music`, GPL-2+), each track
  cut to its first MUSIC_TRACK_S seconds (about 0.8 h).
They are fetched once with `apt-get download` (Debian's own client; root, or a user apt lets download) into
`<cache>/bench-negatives/` beside the models, unpacked with `dpkg-deb`, and kept (about 200 MB); `fetch` raises
Unavailable with the reason when apt-get cannot (no Debian, no network): the bench then skips what needs them.
Nothing here runs in `make test`.

Near misses are synthetic: espeak-ng voices saying other assistants' names and rhymes of the wake phrase
(`near_misses`), made on the fly (a few seconds of CPU).
"""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

from bench.common import Unavailable

SPEECH_PACKAGES = tuple(f"asterisk-core-sounds-{lang}-wav" for lang in ("en", "es", "fr", "it", "ru"))
MUSIC_PACKAGES = ("drascula-music", "singularity-music", "asc-music")
AUDIO_SUFFIXES = (".wav", ".ogg", ".mp3", ".flac")
MUSIC_TRACK_S = 60.0  # the first minute of each track: variety over length (drascula alone is 4.7 h of loops)
GAP_S = 0.3  # silence between the prompts of one stream (read speech as a stream, not clip by clip)

# Near misses: what the wake-word model must not take for its phrase (fixed before measuring).
NEAR_MISSES = {
    "hey_jarvis": ("Hey chatterbox", "Hey savant", "Hey Travis", "Hey jars", "Hey Marvin", "Harvest",
                   "Hey service", "Hey Java", "Hey carpets", "Hey Siri", "OK Google", "Hey Mycroft", "Hey Cortana",
                   "Hey Garvey"),
    "alexa": ("Alexander", "A Lexus", "Alexis", "Electra", "Alaska", "Alex", "Lexa", "I like sap", "Hey Siri",
              "Computer", "Echo", "Selected", "Hey Jarvis", "Alexandra"),
}
NEAR_MISS_VOICES = ("en-us", "en-gb", "en-gb-scotland", "en-029", "en-us+f3", "en-gb-x-rp+f2", "en-us-nyc",
                    "en-gb-x-gbclan+m3")
NEAR_MISS_RATES = (150, 190)


@dataclass(frozen=True)
class Source:
    """One package's audio, as one stream: a name for the breakdown, its kind and its files."""

    name: str
    kind: str  # "speech" or "music"
    files: tuple[Path, ...]


def cache_dir() -> Path:
    from host import paths

    return paths.cache_dir() / "bench-negatives"


def fetch(root: Path | None = None, packages: tuple[str, ...] = SPEECH_PACKAGES + MUSIC_PACKAGES) -> list[Source]:
    """Every package's audio, downloading and unpacking those not cached yet. Raises Unavailable saying why not."""
    root = root or cache_dir()
    sources = []
    for package in packages:
        folder = root / package
        if not (folder / "done.json").is_file():
            _download(package, folder)
        files = tuple(sorted(p for p in folder.rglob("*") if p.suffix.lower() in AUDIO_SUFFIXES))
        sources.append(Source(package, "music" if package in MUSIC_PACKAGES else "speech", files))
    return sources


def _download(package: str, folder: Path) -> None:
    if shutil.which("apt-get") is None or shutil.which("dpkg-deb") is None:
        raise Unavailable("no apt-get/dpkg-deb here (the negative set comes from Debian packages)")
    with tempfile.TemporaryDirectory(prefix="earpiece-negatives-") as scratch:
        scratch_dir = Path(scratch)
        scratch_dir.chmod(0o777)  # apt drops to its own user to download
        done = subprocess.run(["apt-get", "download", "-q", package], cwd=scratch, capture_output=True, text=True)
        debs = list(scratch_dir.glob("*.deb"))
        if done.returncode != 0 or not debs:
            reason = (done.stderr.strip().splitlines() or ["no .deb"])[-1][:160]
            raise Unavailable(f"apt-get download {package} failed ({reason}); run `apt-get update` as root")
        unpacked = scratch_dir / "unpacked"
        subprocess.run(["dpkg-deb", "-x", str(debs[0]), str(unpacked)], check=True, capture_output=True)
        staged = folder.with_name(folder.name + ".partial")
        shutil.rmtree(staged, ignore_errors=True)
        staged.mkdir(parents=True)
        count, seen = 0, set()
        for path in sorted(unpacked.rglob("*")):
            # Packages link one file into several folders (drascula's music per language): each file once.
            if path.suffix.lower() in AUDIO_SUFFIXES and path.is_file() and path.resolve() not in seen:
                seen.add(path.resolve())
                relative = path.relative_to(unpacked)
                shutil.copyfile(path, staged / "__".join(relative.parts[-3:]))
                count += 1
        for licence in unpacked.rglob("copyright"):
            shutil.copyfile(licence, staged / "copyright")
        (staged / "done.json").write_text(json.dumps({"package": package, "deb": debs[0].name, "files": count}))
        shutil.rmtree(folder, ignore_errors=True)
        staged.rename(folder)


def stream(source: Source, max_s: float | None = None):
    """The source's audio as 16 kHz PCM chunks (one per file, prompts followed by a short gap; music tracks cut to
    MUSIC_TRACK_S), with the seconds of real audio in each: yields (pcm, real_seconds). Stops after `max_s`."""
    import numpy as np
    import soundfile

    from host.pipeline.audio import resample, silence, to_mono

    total = 0.0
    for path in source.files:
        try:
            data, rate = soundfile.read(str(path), dtype="int16", always_2d=True,
                                        frames=int(MUSIC_TRACK_S * 48000) if source.kind == "music" else -1)
        except (RuntimeError, soundfile.LibsndfileError):
            continue  # a file libsndfile cannot read: left out, and not counted
        if source.kind == "music":
            data = data[: int(MUSIC_TRACK_S * rate)]
        pcm = to_mono(np.ascontiguousarray(data).tobytes(), data.shape[1])
        pcm = resample(pcm, rate)
        real_s = len(pcm) / 32000
        yield pcm + (silence(GAP_S) if source.kind == "speech" else b""), real_s
        total += real_s
        if max_s is not None and total >= max_s:
            return


def near_misses(model: str, folder: Path, quick: bool = False) -> list[tuple[str, bytes]]:
    """(label, 16 kHz PCM) of every near-miss phrase for `model` in every voice and rate (espeak-ng)."""
    from host.pipeline.audio import read_wav

    phrases = NEAR_MISSES.get(model, ())
    voices = NEAR_MISS_VOICES[:2] if quick else NEAR_MISS_VOICES
    return [(f"{voice}@{rate}: {text}", read_wav(espeak(text, voice, rate, folder)))
            for text in phrases for voice in voices for rate in NEAR_MISS_RATES]


def espeak(text: str, voice: str, rate: int, folder: Path) -> Path:
    """A WAV of espeak-ng saying `text` (cached in `folder` by its text, voice and rate)."""
    if shutil.which("espeak-ng") is None:
        raise Unavailable("espeak-ng is not installed (tools/system-deps.sh)")
    path = folder / (hashlib.sha1(f"{voice}|{rate}|{text}".encode()).hexdigest()[:16] + ".wav")
    if not path.is_file():
        folder.mkdir(parents=True, exist_ok=True)
        subprocess.run(["espeak-ng", "-v", voice, "-s", str(rate), "-w", str(path), text], check=True,
                       capture_output=True)
    return path
