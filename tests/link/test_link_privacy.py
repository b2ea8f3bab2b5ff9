"""`earpiece -vv` never logs a secret: pairing and an encrypted reconnection, with Bumble's debug logs on."""

from __future__ import annotations

import json

import pytest

from tests.link.conftest import bonds, earpiece

pytestmark = pytest.mark.e2e

PASSKEY = 864209
NAME = "Bud-Private"


def _secrets(home) -> list[str]:
    """Every key we hold after pairing (bond store and identity), as hex."""
    found: list[str] = []

    def walk(node) -> None:
        if isinstance(node, dict):
            for key, value in node.items():
                if key == "value" and isinstance(value, str):
                    found.append(value)
                else:
                    walk(value)

    walk(bonds(home))
    found.append(json.loads((home / "data" / "bluetooth_identity.json").read_text())["irk"])
    return found


def _spellings(key_hex: str) -> set[str]:
    raw = bytes.fromhex(key_hex)
    forms = {raw.hex(), raw[::-1].hex(), raw.hex(":"), raw[::-1].hex(":"), repr(raw)[2:-1], repr(raw[::-1])[2:-1]}
    return forms | {form.upper() for form in forms}


def test_debug_logs_of_pairing_and_reconnecting_hold_no_key(sim, env, home):
    radio = sim.radio()
    env["EARPIECE_ADAPTER"] = f"sim:{radio}"
    _, address = sim.earbud(radio, name=NAME, passkey=PASSKEY)
    paired = earpiece(env, "-vv", "pair", NAME, "--passkey", str(PASSKEY))
    assert paired.returncode == 0, paired.stderr[-3000:]
    status = earpiece(env, "-vv", "status", NAME, "--json")  # re-encrypts with the stored LTK
    assert status.returncode == 0, status.stderr[-3000:]

    keys = _secrets(home)
    assert len(keys) >= 3 and bonds(home)[address]["ltk"]["value"] in keys  # LTK, peer IRK, our IRK at least
    logs = paired.stderr + status.stderr
    assert "bumble" in logs and len(logs.splitlines()) > 50  # Bumble's debug logs really were on
    for key in keys:
        leaked = [form for form in _spellings(key) if form in logs]
        assert not leaked, f"a key appears in the -vv logs: {leaked[0][:8]}..."
    assert str(PASSKEY) not in logs


def test_redaction_keeps_what_debugging_needs():
    from host.link.bumble_backend.log_privacy import REDACTED, redact

    key = bytes(range(16))
    line = f"HCI_LE_Enable_Encryption_Command: connection_handle: 1, long_term_key: {key.hex()}, ediv: 0"
    assert redact(line) == f"HCI_LE_Enable_Encryption_Command: connection_handle: 1, long_term_key: {REDACTED}, ediv: 0"
    assert key.hex() not in redact(f"irk={key!r} and {key[::-1].hex(':')}")
    assert redact("user input: 864209") == f"user input: {REDACTED}"
    kept = "connection from F1:22:33:44:55:66 (handle 0x0040), MTU 517, 3 services"
    assert redact(kept) == kept
