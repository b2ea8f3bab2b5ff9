"""Pairing, bonds and the device registry from the CLI, with radio, earbud and every CLI command as processes."""

from __future__ import annotations

import pytest

from tests.link.conftest import bonds, earpiece, host_probe, json_out

pytestmark = pytest.mark.e2e

PASSKEY = 271828
NAME = "Bud-Pair"  # fits the 31-byte advertising payload whole


@pytest.fixture
def radio(sim, env):
    address = sim.radio()
    env["EARPIECE_ADAPTER"] = f"sim:{address}"
    return address


def test_scan_then_pair_with_the_spoken_passkey(sim, env, home, radio):
    earbud, address = sim.earbud(radio, name=NAME, passkey=PASSKEY)
    found = json_out(earpiece(env, "scan", "--timeout", "1.5", "--json"))
    assert [(e["name"], e["address"], e["paired"]) for e in found["earbuds"]] == [(NAME, address, False)]
    assert isinstance(found["earbuds"][0]["rssi"], int)

    # No --passkey: the CLI asks on stdin once the earbud has spoken it.
    result = earpiece(env, "pair", NAME, stdin=f"{PASSKEY}\n")
    assert result.returncode == 0, result.stderr
    assert "passkey" in result.stderr.lower() and f"paired with {NAME}" in result.stdout
    earbud.wait_for(rf"passkey: {PASSKEY:06d}")

    keys = bonds(home)[address]
    assert keys["ltk"]["authenticated"] is True  # MITM-protected (passkey entry), not Just Works
    devices = json_out(earpiece(env, "devices", "--json"))["devices"]
    assert [(d["name"], d["address"], d["model"]) for d in devices] == [(NAME, address, "EP-SIM")]
    assert json_out(earpiece(env, "scan", "--timeout", "1.5", "--json"))["earbuds"][0]["paired"] is True

    status = json_out(earpiece(env, "status", NAME, "--json"))
    assert status["connected"] is True and status["quiet"] is False
    assert 0 <= status["battery"] <= 100 and status["codec"] == "adpcm" and status["mtu"] >= 185
    assert status["link"]["connects"] == 1


def test_wrong_passkey_fails_clearly_and_leaves_no_bond(sim, env, home, radio):
    earbud, address = sim.earbud(radio, name=NAME, passkey=PASSKEY)
    result = earpiece(env, "pair", address, "--passkey", "111111")
    assert result.returncode != 0
    assert "wrong passkey" in result.stderr and "Traceback" not in result.stderr
    assert address not in bonds(home)
    assert json_out(earpiece(env, "devices", "--json"))["devices"] == []
    # Re-pairing with a stale bond in place must not keep it either when the passkey is wrong.
    assert earpiece(env, "pair", address, "--passkey", str(PASSKEY)).returncode == 0
    assert address in bonds(home)
    earbud.send("long")  # back into pairing mode
    assert earpiece(env, "pair", address, "--passkey", "222222").returncode != 0
    assert address not in bonds(home)


def test_bonded_earbud_reconnects_after_both_sides_restart_without_pairing(sim, env, home, radio, tmp_path):
    state = tmp_path / "earbud-state"
    earbud, address = sim.earbud(radio, name=NAME, passkey=PASSKEY, state_dir=state)
    assert earpiece(env, "pair", NAME, "--passkey", str(PASSKEY)).returncode == 0
    ltk = bonds(home)[address]["ltk"]["value"]
    identity = (home / "data" / "bluetooth_identity.json").read_text()

    earbud.stop()
    earbud2, address2 = sim.earbud(radio, name=NAME, passkey=PASSKEY, state_dir=state)
    assert address2 == address
    # A new host process (the CLI), same identity and bond: it connects encrypted with no pairing.
    status = json_out(earpiece(env, "status", address, "--json"))
    assert status["connected"] is True
    assert bonds(home)[address]["ltk"]["value"] == ltk
    assert (home / "data" / "bluetooth_identity.json").read_text() == identity
    assert not any("passkey:" in line for line in earbud2.drain())


def test_forget_removes_the_bond_and_the_registry_entry(sim, env, home, radio):
    _, address = sim.earbud(radio, name=NAME, passkey=PASSKEY)
    assert earpiece(env, "pair", NAME, "--passkey", str(PASSKEY)).returncode == 0
    result = json_out(earpiece(env, "forget", NAME, "--json"))
    assert result == {"forgotten": True, "address": address, "name": NAME, "bond_removed": True}
    assert address not in bonds(home)
    assert json_out(earpiece(env, "devices", "--json"))["devices"] == []
    # Without the bond the earbud's protected service is closed to us again.
    probe = host_probe(env, "unpaired", address, "--seconds", "0.3")
    # The earbud still holds its half of the bond, so it may ask for encryption (0x0F) rather than pairing (0x05).
    assert probe["encrypted"] is False
    assert probe["read_status"] in ("att_error_5", "att_error_15") and probe["audio_bytes"] == 0
    again = earpiece(env, "forget", NAME)
    assert again.returncode != 0 and "no paired earbud" in again.stderr


def test_long_name_pairs_by_its_full_name(sim, env, radio):
    """A name too long to advertise whole is shortened on air; pairing by the full name still finds it, and the
    registry keeps the full name (read from the earbud's GAP Device Name)."""
    _, address = sim.earbud(radio, name="Earpiece-Kitchen", passkey=PASSKEY)
    result = earpiece(env, "pair", "Earpiece-Kitchen", "--passkey", str(PASSKEY), "--json")
    assert json_out(result)["name"] == "Earpiece-Kitchen"
    assert json_out(earpiece(env, "devices", "--json"))["devices"][0]["address"] == address


def test_unknown_and_ambiguous_devices_are_clear_errors(sim, env, radio):
    _, first = sim.earbud(radio, name="Twin", passkey=PASSKEY)
    _, second = sim.earbud(radio, name="Twin", passkey=PASSKEY)
    result = earpiece(env, "pair", "Twin", "--passkey", str(PASSKEY))
    assert result.returncode != 0
    assert "matches 2 earbuds" in result.stderr and first in result.stderr and second in result.stderr
    missing = earpiece(env, "pair", "Nobody", "--passkey", str(PASSKEY), "--timeout", "1")
    assert missing.returncode != 0 and "no Earpiece earbud 'Nobody' in range" in missing.stderr
    unknown = earpiece(env, "status", "Nobody")
    assert unknown.returncode != 0 and "earpiece pair" in unknown.stderr
    bad_adapter = earpiece(env, "scan", "--adapter", "bogus")
    assert bad_adapter.returncode != 0 and "unknown adapter" in bad_adapter.stderr
    no_radio = earpiece(env, "scan", "--adapter", "sim:127.0.0.1:9", "--timeout", "0.5")
    assert no_radio.returncode != 0 and "cannot open Bluetooth transport" in no_radio.stderr
    # Native works where the OS has Bluetooth, and fails in one line where it has none (this machine).
    native = earpiece(env, "scan", "--adapter", "native", "--timeout", "0.5", "--json")
    assert "Traceback" not in native.stderr
    assert native.returncode == 0 or "Bluetooth" in native.stderr.splitlines()[-1]


def test_a_pairing_stopped_after_the_bond_was_stored_is_completed_by_the_next_pair(sim, env, home, radio):
    """`pair` killed between writing bonds.json and the registry: the retry adopts the bond (the earbud has left
    pairing mode, so pairing anew would be refused)."""
    from host.link.registry import DeviceRegistry

    earbud, address = sim.earbud(radio, name=NAME, passkey=PASSKEY)
    assert earpiece(env, "pair", address, "--passkey", str(PASSKEY)).returncode == 0
    assert DeviceRegistry(home / "data" / "devices.sqlite3").remove(address)  # the state a kill leaves
    assert address in bonds(home)

    result = earpiece(env, "pair", address, "--passkey", str(PASSKEY))
    assert result.returncode == 0, result.stderr
    devices = json_out(earpiece(env, "devices", "--json"))["devices"]
    assert [(d["name"], d["address"], d["model"]) for d in devices] == [(NAME, address, "EP-SIM")]
    assert json_out(earpiece(env, "status", NAME, "--json"))["connected"] is True


def test_pairing_an_earbud_that_is_not_in_pairing_mode_says_how_to_enter_it(sim, env, home, radio):
    earbud, address = sim.earbud(radio, name=NAME, passkey=PASSKEY)
    assert earpiece(env, "pair", address, "--passkey", str(PASSKEY)).returncode == 0
    result = earpiece(env, "pair", address, "--passkey", str(PASSKEY))  # bonded: the earbud left pairing mode
    assert result.returncode == 1
    message = result.stderr.strip().splitlines()[-1]
    assert "not in pairing mode" in message and "Hold its button" in message, result.stderr
    assert "Traceback" not in result.stderr
    # The earbud kept its bond, so ours stays too: the earbud still works with this computer.
    assert address in bonds(home)
    assert json_out(earpiece(env, "status", NAME, "--json"))["connected"] is True
