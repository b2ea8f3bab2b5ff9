"""Fuzz targets: each is a hypothesis strategy and a check that must hold for every input it draws. A check that
raises is a crash: only the documented errors may come out of these doors, counters go up, and nothing else.

    TARGETS["link_status"].check(data)        # one execution
    python -m tests.fuzz --seconds 60         # every target for 60 s each (make fuzz)
"""

from __future__ import annotations

import asyncio
import json
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from hypothesis import strategies as st

ROOT = Path(__file__).resolve().parents[2]
for folder in (ROOT / "hardware" / "firmware", ROOT / "tests" / "firmware"):  # the firmware as the device has it
    if str(folder) not in sys.path:
        sys.path.insert(0, str(folder))

from protocol import audio, control  # noqa: E402
from protocol.gatt import MAX_ATT_PAYLOAD  # noqa: E402


@dataclass
class Target:
    name: str
    strategy: st.SearchStrategy
    check: Callable[[Any], None]
    needs: str = ""  # "loop": the check runs in a live asyncio loop given by the runner (see fuzz_server)


# --- bytes that look like ours, and bytes that do not -----------------------------------------------------------

def _control_messages() -> st.SearchStrategy[bytes]:
    """Control writes built from real message type bytes with random bodies, and plain random bytes."""
    types = sorted({value for name, value in vars(control).items() if name.startswith("TYPE_") and isinstance(value, int)})
    one = st.builds(lambda t, body: bytes([t & 0xFF, len(body) & 0xFF]) + body,
                    st.sampled_from(types) if types else st.integers(0, 255), st.binary(max_size=40))
    return st.one_of(st.binary(max_size=260), st.lists(one, max_size=8).map(b"".join))


def _audio_frames() -> st.SearchStrategy[bytes]:
    header = st.builds(lambda codec, flags, seq, body: bytes([codec & 0xFF, flags & 0xFF]) + seq.to_bytes(2, "little") + body,
                       st.integers(0, 3), st.integers(0, 255), st.integers(0, 0xFFFF), st.binary(max_size=240))
    return st.one_of(st.binary(max_size=260), header)


# --- the earbud's firmware core: every write a bonded central can make ------------------------------------------

def _core():
    from earbud.core import EarbudCore
    from earbud_fakes import FakeHal

    core = EarbudCore(FakeHal())
    core.connected()
    return core


def check_firmware_control(data: bytes) -> None:
    core = _core()
    before = core.stats["control_messages"] + core.stats["control_errors"]
    core.control_written(data)
    for value in core.take_notifications():
        assert len(value) <= MAX_ATT_PAYLOAD, len(value)
        control.decode_messages(value)  # what the earbud says must be well-formed
    if data:
        assert core.stats["control_messages"] + core.stats["control_errors"] > before, "a write went uncounted"


def check_firmware_audio_down(frames: list[bytes]) -> None:
    core = _core()
    for frame in frames:
        core.audio_down_written(frame)
    counted = core.stats["audio_frames_received"] + core.stats["audio_frames_malformed"]
    assert counted == len(frames), (counted, len(frames))
    for _ in range(5):  # whatever arrived plays (or is dropped) without raising
        assert len(core.speaker_pull(320)) == 640


# --- the bridge's side: notifications from a malicious earbud ----------------------------------------------------

def _protocol():
    from host.link.earbud_protocol import EarbudProtocol

    return EarbudProtocol(control.CODECS_MASK_ADPCM | control.CODECS_MASK_PCM16, "fuzz")


def check_link_status(notifications: list[bytes]) -> None:
    protocol = _protocol()
    for data in notifications:
        messages = protocol.status_received(data)
        assert isinstance(messages, list)
    stats = protocol.stats
    assert stats.status_notifications == len(notifications)


def check_link_audio(frames: list[bytes]) -> None:
    protocol = _protocol()
    for data in frames:
        pcm = protocol.audio_received(data)
        assert isinstance(pcm, bytes) and len(pcm) % 2 == 0
    assert protocol.stats.audio_frames_received == len(frames)


# --- files the user (or a broken disk) hands us ------------------------------------------------------------------

_SCALARS = st.one_of(st.none(), st.booleans(), st.integers(-10**12, 10**12), st.floats(allow_nan=True),
                     st.text(max_size=30))


def _config_texts() -> st.SearchStrategy[str]:
    from host import config

    names = {name: [f.name for f in __import__("dataclasses").fields(cls)] for name, cls in config.sections().items()}
    value = st.one_of(_SCALARS, st.lists(_SCALARS, max_size=3))

    def render(section: str, entries: dict) -> str:
        return f"[{section}]\n" + "".join(f"{key} = {_toml(v)}\n" for key, v in entries.items())

    sections = st.dictionaries(st.sampled_from(sorted(names)) | st.text("abcxyz_", min_size=1, max_size=8),
                               st.dictionaries(st.sampled_from(sorted({n for v in names.values() for n in v}))
                                               | st.text("abc_", min_size=1, max_size=6), value, max_size=4),
                               max_size=4)
    return st.one_of(st.text(max_size=200), sections.map(lambda s: "".join(render(k, v) for k, v in s.items())))


def _toml(value: Any) -> str:
    if value is None:
        return '""'
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return {float("inf"): "inf", float("-inf"): "-inf"}.get(value, "nan" if value != value else repr(value))
    if isinstance(value, (int,)):
        return str(value)
    if isinstance(value, list):
        return "[" + ", ".join(_toml(v) for v in value) + "]"
    return json.dumps(value)


def check_config(text: str) -> None:
    from host.config import ConfigError, parse

    try:
        parse(text, "fuzz.toml")
    except ConfigError as error:
        assert "\n" not in str(error).strip(), f"a config error of several lines: {error}"


def check_model_manifest(text: str) -> None:
    import tempfile

    from host import models

    with tempfile.TemporaryDirectory() as root:
        folder = Path(root) / "vosk-en"
        folder.mkdir()
        (folder / models.MANIFEST).write_text(text)
        try:
            rows = models.list_models(Path(root))
        except models.ModelError:
            return
        assert any(row["name"] == "vosk-en" for row in rows)


def _manifests() -> st.SearchStrategy[str]:
    json_values = st.recursive(_SCALARS.filter(lambda v: not (isinstance(v, float) and v != v)),
                               lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner,
                                                                                           max_size=3), max_leaves=6)
    return st.one_of(st.text(max_size=80), json_values.map(json.dumps),
                     st.dictionaries(st.sampled_from(["source", "files"]), json_values, max_size=2).map(json.dumps))


# --- the Wyoming satellite port's framing --------------------------------------------------------------------------

def check_wyoming_wire(data: bytes) -> None:
    from host.wyoming.wire import MAX_HEADER_BYTES, BadEvent, read_event

    async def read_all() -> None:
        reader = asyncio.StreamReader(limit=MAX_HEADER_BYTES)
        reader.feed_data(data)
        reader.feed_eof()
        for _ in range(64):
            try:
                event = await read_event(reader)
            except BadEvent as error:
                assert "\n" not in str(error)
                return
            if event is None:
                return

    asyncio.run(read_all())


def _wyoming_bytes() -> st.SearchStrategy[bytes]:
    types = ["audio-chunk", "audio-start", "audio-stop", "run-satellite", "describe", "transcript", "synthesize",
             "ping", "detection", "nope"]
    header = st.fixed_dictionaries({"type": st.sampled_from(types)},
                                   optional={"data": _SCALARS | st.dictionaries(st.text(max_size=5), _SCALARS),
                                             "data_length": st.one_of(st.integers(-2, 64), _SCALARS),
                                             "payload_length": st.one_of(st.integers(-2, 64), _SCALARS)})
    event = st.tuples(header, st.binary(max_size=80)).map(lambda hb: json.dumps(hb[0]).encode() + b"\n" + hb[1])
    return st.one_of(st.binary(max_size=300), st.lists(event, max_size=4).map(b"".join))


TARGETS = {t.name: t for t in (
    Target("firmware_control", _control_messages(), check_firmware_control),
    Target("firmware_audio_down", st.lists(_audio_frames(), max_size=12), check_firmware_audio_down),
    Target("link_status", st.lists(_control_messages(), max_size=6), check_link_status),
    Target("link_audio", st.lists(_audio_frames(), max_size=12), check_link_audio),
    Target("config", _config_texts(), check_config),
    Target("model_manifest", _manifests(), check_model_manifest),
    Target("wyoming_wire", _wyoming_bytes(), check_wyoming_wire),
)}


def _socket_target() -> Target:
    from tests.fuzz.socket_target import check_control_socket, request_lines

    return Target("control_socket", request_lines(), check_control_socket)


TARGETS["control_socket"] = _socket_target()
