"""Vosk models: the one model download from a URL (alphacephei.com), and only when the user asks for it
(`earpiece models get vosk-en`): checked against its sha256 and installed whole or not at all."""

from __future__ import annotations

import hashlib
import tempfile
import urllib.request
import zipfile
from pathlib import Path
from typing import Callable

from host.models import (VOSK_DOWNLOADS, ModelError, _replace_dir, _write_manifest, looks_like_vosk_model,
                         models_dir)

def download_vosk(name: str, url: str | None = None, sha256: str | None = None, root: Path | None = None,
                  progress: Callable[[int, int | None], None] | None = None,
                  opener: Callable = urllib.request.urlopen) -> tuple[Path, str]:
    """Download a vosk model zip, check it and install it as `<models>/<name>`. Returns (folder, sha256).

    `progress(done_bytes, total_bytes_or_None)` is called as data arrives. Raises ModelError; on any failure
    nothing is left installed (an older copy of the model stays as it was)."""
    default_url, pinned = VOSK_DOWNLOADS.get(name, (None, None))
    url = url or default_url
    if not url:
        raise ModelError(f"no download is known for {name!r}: pass --url (known: {', '.join(VOSK_DOWNLOADS)})")
    expected = (sha256 or (pinned if url == default_url else None) or "").lower() or None
    root = root or models_dir()
    root.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=f".{name}-", dir=root) as staging:
        archive = Path(staging) / "model.zip"
        actual = _fetch(url, archive, progress, opener)
        if expected and actual != expected:
            raise ModelError(f"download of {url} is corrupt: sha256 {actual}, expected {expected}; nothing installed")
        extracted = Path(staging) / "unpacked"
        try:
            with zipfile.ZipFile(archive) as bundle:
                _safe_extract(bundle, extracted)
        except zipfile.BadZipFile:
            raise ModelError(f"download of {url} is not a zip file; nothing installed") from None
        model_root = _find_model_root(extracted)
        if model_root is None:
            raise ModelError(f"{url} does not contain a vosk model (no am/final.mdl); nothing installed")
        _write_manifest(model_root, {"source": url, "sha256": actual, "verified": bool(expected)})
        _replace_dir(model_root, root / name)
    return root / name, actual


def _fetch(url: str, target: Path, progress: Callable | None, opener: Callable) -> str:
    digest = hashlib.sha256()
    try:
        with opener(url, timeout=30) as response, open(target, "wb") as sink:
            total = response.headers.get("Content-Length")
            total = int(total) if total and total.isdigit() else None
            done = 0
            while block := response.read(1 << 16):
                sink.write(block)
                digest.update(block)
                done += len(block)
                if progress:
                    progress(done, total)
    except OSError as error:
        raise ModelError(f"could not download {url}: {error}; nothing installed") from None
    if total is not None and done != total:
        raise ModelError(f"download of {url} stopped after {done} of {total} bytes; nothing installed")
    return digest.hexdigest()


def _safe_extract(bundle: zipfile.ZipFile, target: Path) -> None:
    target.mkdir(parents=True)
    base = target.resolve()
    for member in bundle.infolist():
        destination = (target / member.filename).resolve()
        if not destination.is_relative_to(base):  # a zip entry like ../../x must not escape the staging folder
            raise ModelError(f"refusing zip entry outside the model folder: {member.filename}")
    bundle.extractall(target)


def _find_model_root(folder: Path) -> Path | None:
    if looks_like_vosk_model(folder):
        return folder
    for candidate in sorted(p for p in folder.rglob("am") if p.is_dir()):
        if looks_like_vosk_model(candidate.parent):
            return candidate.parent
    return None
