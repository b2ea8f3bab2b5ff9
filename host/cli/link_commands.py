"""`earpiece scan | pair | devices | forget | status`: finding, pairing and checking earbuds.

Every command takes `--adapter` (native, usb:N, sim:HOST:PORT; default from $EARPIECE_ADAPTER, then the config's
`[link] adapter`, then native).
"""

from __future__ import annotations

import asyncio
import datetime
import logging
import sys

from host.cli.output import CliError, add_json_flag, emit, log

SCAN_TIMEOUT_S = 5.0


def register(subparsers) -> None:
    scan = subparsers.add_parser("scan", help="list Earpiece earbuds in range")
    scan.add_argument("--timeout", type=float, default=SCAN_TIMEOUT_S, metavar="S", help="seconds to listen (default 5)")
    _add_adapter(scan)
    add_json_flag(scan)
    scan.set_defaults(func=cmd_scan)

    pair = subparsers.add_parser("pair", help="pair an earbud (type the 6-digit passkey it speaks)")
    pair.add_argument("device", metavar="DEVICE", help="name or address (see `earpiece scan`)")
    pair.add_argument("--passkey", type=_passkey, metavar="N", help="the passkey the earbud speaks (asked on stdin if not given)")
    pair.add_argument("--timeout", type=float, default=10.0, metavar="S", help="seconds to look for the earbud (default 10)")
    _add_adapter(pair)
    add_json_flag(pair)
    pair.set_defaults(func=cmd_pair)

    devices = subparsers.add_parser("devices", help="list paired earbuds")
    add_json_flag(devices)
    _add_adapter(devices)
    devices.set_defaults(func=cmd_devices)

    forget = subparsers.add_parser("forget", help="remove a paired earbud (and this computer's pairing with it)")
    forget.add_argument("device", metavar="DEVICE", help="name or address (see `earpiece devices`)")
    _add_adapter(forget)
    add_json_flag(forget)
    forget.set_defaults(func=cmd_forget)

    status = subparsers.add_parser("status", help="connect to a paired earbud and show how it is")
    status.add_argument("device", metavar="DEVICE", nargs="?", help="name or address (default: the only paired one)")
    status.add_argument("--timeout", type=float, default=15.0, metavar="S", help="seconds to wait for the connection")
    _add_adapter(status)
    add_json_flag(status)
    status.set_defaults(func=cmd_status)


def _add_adapter(parser) -> None:
    parser.add_argument(
        "--adapter",
        metavar="SPEC",
        help="native (default), usb:N, or sim:HOST:PORT (env EARPIECE_ADAPTER, config [link] adapter)",
    )


def _passkey(text: str) -> int:
    import argparse

    if not text.isdigit() or len(text) > 6:
        raise argparse.ArgumentTypeError("the passkey is the 6 digits the earbud speaks, e.g. 042137")
    return int(text)


def _adapter(args):
    from host.link.adapter import AdapterError, resolve_adapter

    try:
        return resolve_adapter(args.adapter)
    except AdapterError as error:
        raise CliError(str(error), exit_code=2) from error


def _run(coro):
    """Run a command's coroutine; turn the link's errors into one-line CLI errors."""
    from bleak.exc import BleakError

    from host.errors import EarpieceError
    from host.link.errors import PairingFailedError

    # Bumble logs protocol failures (e.g. a wrong passkey) as warnings; we report them ourselves in one line.
    if not logging.getLogger().isEnabledFor(logging.DEBUG):
        logging.getLogger("bumble").setLevel(logging.ERROR)
    try:
        return asyncio.run(coro)
    except PairingFailedError as error:
        if error.reason in ("CONFIRM_VALUE_FAILED", "PASSKEY_ENTRY_FAILED", "AUTHENTICATION_FAILED"):
            raise CliError(
                "pairing failed: wrong passkey; nothing was stored. Run `earpiece pair` again and type the six digits "
                "the earbud speaks"
            ) from error
        if error.reason == "PAIRING_NOT_SUPPORTED":  # what the earbud answers when it is not in pairing mode
            raise CliError(
                f"{error}: the earbud is not in pairing mode; nothing was stored. Hold its button until it says "
                "'pairing' (a new earbud is in pairing mode on its own), then pair again"
            ) from error
        raise CliError(f"{error}; nothing was stored. Put the earbud in pairing mode and try again") from error
    except EarpieceError as error:  # says what to do already
        raise CliError(str(error)) from error
    # Before OSError: TimeoutError is one.
    except (BleakError, TimeoutError, asyncio.TimeoutError) as error:
        raise CliError(f"Bluetooth error: {error or type(error).__name__}; is the earbud on and in range?") from error
    except ConnectionError as error:
        raise CliError(f"{error} (check --adapter and that the radio/dongle is there)") from error
    except OSError as error:  # native: no D-Bus/BlueZ (or the OS's Bluetooth service) to talk to
        raise CliError(
            f"the system Bluetooth service is not reachable ({error.strerror or error}); start it, or use "
            "--adapter usb:N (a dongle driven by Earpiece) or sim:HOST:PORT (the simulator)"
        ) from error


# -- scan ---------------------------------------------------------------------------------------------------


def cmd_scan(args) -> int:
    from host.link.earbuds import scan_earbuds

    adapter = _adapter(args)
    if args.timeout <= 0:
        raise CliError("--timeout must be positive", exit_code=2)
    log(f"scanning for {args.timeout:g} s on {adapter.spec} ...")
    earbuds = _run(scan_earbuds(adapter, args.timeout))
    lines = [f"{e.name:<20} {e.address}  {e.rssi:>4} dBm  {'paired' if e.paired else 'not paired'}" for e in earbuds]
    emit(
        args,
        {"adapter": adapter.spec, "earbuds": [e.to_json() for e in earbuds]},
        "\n".join(lines) if lines else "no Earpiece earbud in range",
    )
    return 0


# -- pair ---------------------------------------------------------------------------------------------------


def cmd_pair(args) -> int:
    from host.link.earbuds import pair_earbud

    adapter = _adapter(args)

    async def passkey_provider() -> int | None:
        if args.passkey is not None:
            return args.passkey
        # The earbud is speaking the passkey now: ask for it (stdin read off the event loop).
        sys.stderr.write("Type the 6-digit passkey the earbud speaks: ")
        sys.stderr.flush()
        line = await asyncio.get_running_loop().run_in_executor(None, sys.stdin.readline)
        text = line.strip()
        if not text.isdigit() or len(text) > 6:
            log("that is not a 6-digit passkey")
            return None
        return int(text)

    if adapter.is_native and args.passkey is not None:
        log("note: with the native adapter the operating system asks for the passkey; --passkey is not used")
    log(f"looking for {args.device!r} on {adapter.spec} ...")
    try:
        device = _run(pair_earbud(adapter, args.device, passkey_provider, scan_timeout=args.timeout))
    except CliError as error:
        from host.bridge import control_socket

        if "in range" in str(error) and control_socket.bridge_running():
            # A connected earbud does not advertise: the running bridge may hold it.
            raise CliError(f"{error}; `earpiece run` is running and may be connected to it: stop it, then pair "
                           "again") from None
        raise
    emit(args, {"paired": True, **device.to_json()}, f"paired with {device.name} ({device.address})")
    return 0


# -- devices ------------------------------------------------------------------------------------------------


def _when(timestamp: float | None) -> str:
    if timestamp is None:
        return "never"
    return datetime.datetime.fromtimestamp(timestamp).strftime("%Y-%m-%d %H:%M")


def cmd_devices(args) -> int:
    from host.link.registry import DeviceRegistry

    devices = DeviceRegistry().all()
    lines = [f"{d.name:<20} {d.address}  paired {_when(d.paired_at)}  last seen {_when(d.last_seen)}  via {d.adapter}" for d in devices]
    emit(args, {"devices": [d.to_json() for d in devices]}, "\n".join(lines) if lines else "no paired earbud (`earpiece pair DEVICE` adds one)")
    return 0


# -- forget -------------------------------------------------------------------------------------------------


def cmd_forget(args) -> int:
    from host.link.adapter import parse_adapter
    from host.link.earbuds import forget_earbud
    from host.link.registry import DeviceRegistry

    registry = DeviceRegistry()
    device = _resolve(registry, args.device)
    # The bond lives where the pairing was made (the OS for native, our bond store for Bumble adapters).
    adapter = _adapter(args) if args.adapter else parse_adapter(device.adapter)
    bond_removed = _run(forget_earbud(adapter, device, registry))
    _tell_the_bridge_to_forget(device)
    emit(
        args,
        {"forgotten": True, "address": device.address, "name": device.name, "bond_removed": bond_removed},
        f"forgot {device.name} ({device.address})",
    )
    return 0


def _tell_the_bridge_to_forget(device) -> None:
    """A running bridge must let go of a forgotten earbud at once: disconnect it and stop processing its audio."""
    from host.bridge import control_socket

    if not control_socket.bridge_running():
        return
    try:
        response = control_socket.request({"cmd": "forget", "address": device.address})
    except (OSError, ValueError) as error:
        raise CliError(f"{device.name} is forgotten, but the running bridge did not answer ({error}): restart "
                       "`earpiece run` so it stops listening to it") from None
    if not response.get("ok"):
        raise CliError(f"{device.name} is forgotten, but the running bridge said: {response.get('error')}; restart "
                       "`earpiece run`")


def _resolve(registry, target: str | None):
    from host.link.earbuds import AmbiguousEarbudError, EarbudNotFoundError, resolve_paired

    if target is None:
        devices = registry.all()
        if len(devices) == 1:
            return devices[0]
        if not devices:
            raise CliError("no paired earbud: run `earpiece pair DEVICE` first")
        raise CliError("several earbuds are paired: name one (`earpiece devices` lists them)")
    try:
        return resolve_paired(registry, target)
    except (EarbudNotFoundError, AmbiguousEarbudError) as error:
        raise CliError(str(error)) from error


# -- status -------------------------------------------------------------------------------------------------


def cmd_status(args) -> int:
    from host.bridge import control_socket

    # While `earpiece run` holds the link, only it can talk to the earbud: ask it (it also knows the counters).
    if control_socket.bridge_running():
        result = _status_from_bridge(args)
    else:
        result = _status_from_earbud(args)
    emit(args, result, _status_text(result))
    return 0


def _status_from_bridge(args) -> dict:
    from host.bridge import control_socket

    try:
        response = control_socket.request({"cmd": "status", "device": args.device}, timeout=args.timeout)
    except (OSError, ValueError) as error:
        raise CliError(f"the running bridge did not answer ({error}); is `earpiece run` stuck? restart it") from error
    if not response.get("ok"):
        raise CliError(response.get("error") or "the bridge could not report status")
    devices = response.get("devices") or []
    if not devices:
        raise CliError("the running bridge manages no earbuds: pair one (`earpiece pair DEVICE`), then restart "
                       "`earpiece run`")
    if len(devices) > 1:
        names = ", ".join(d.get("device", "?") for d in devices)
        raise CliError(f"the bridge manages several earbuds ({names}): name one, e.g. `earpiece status NAME`")
    return {**devices[0], "via": "bridge"}


def _status_from_earbud(args) -> dict:
    from host.link.earbud_link import EarbudLink
    from host.link.registry import DeviceRegistry
    from host.bridge.quiet import SOURCE_NAMES
    from protocol.audio import CODEC_NAMES

    registry = DeviceRegistry()
    device = _resolve(registry, args.device)
    adapter = _adapter(args)

    async def ask() -> dict:
        link = EarbudLink(device.address, adapter=adapter, name=device.name, stream_audio=False, reconnect=False)
        try:
            await link.connect(timeout=args.timeout)
            status = await link.request_status()
            battery = await link.read_battery()
            hello = link.earbud_hello
            return {
                "address": device.address,
                "name": device.name,
                "device": device.name,
                "connected": True,
                "battery": battery if battery is not None else status.battery,
                "charging": bool(status.charging),
                "quiet": bool(status.quiet),
                "quiet_source": SOURCE_NAMES.get(status.quiet_source, "unknown"),
                "codec": CODEC_NAMES.get(status.codec, status.codec),
                "volume": status.volume,
                "firmware": hello.firmware if hello else status.firmware,
                "mtu": link.mtu,
                # No bridge is running: nothing on this computer receives or processes the earbud's audio.
                "audio_frames_received": 0,
                "frames_processed": 0,
                "frames_dropped_quiet": 0,
                "link": link.stats.to_json(),
                "via": "earbud",
            }
        finally:
            await link.close()

    result = _run(ask())
    registry.touch(device.address, firmware=result.get("firmware"))
    return result


def _status_text(result: dict) -> str:
    quiet = f"on (by {result['quiet_source']})" if result["quiet"] else "off"
    lines = [f"{result['name']} ({result['address']}): {'connected' if result['connected'] else 'not connected'}"
             + (" — via the running bridge" if result.get("via") == "bridge" else "")]
    if result.get("battery") is not None:
        lines.append(f"  battery  {result['battery']}%{' (charging)' if result.get('charging') else ''}")
    lines.append(f"  quiet    {quiet}")
    if result.get("codec"):
        volume = f", volume {result['volume']}%" if result.get("volume") is not None else ""
        lines.append(f"  codec    {result['codec']}{volume}")
    if result.get("firmware"):
        mtu = f", ATT MTU {result['mtu']}" if result.get("mtu") else ""
        lines.append(f"  firmware {result['firmware']}{mtu}")
    if result.get("via") == "bridge":
        lines.append(f"  audio    {result['audio_frames_received']} frame(s) received, {result['frames_processed']} "
                     f"processed, {result['frames_dropped_quiet']} dropped in quiet")
    link = result.get("link") or {}
    lines.append(f"  link     {link.get('connects', 0)} connection(s), {link.get('sequence_gaps', 0)} sequence gap(s)")
    return "\n".join(lines)
