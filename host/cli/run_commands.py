"""`earpiece run` (the bridge daemon) and `earpiece quiet` (stop or resume all listening)."""

from __future__ import annotations

import asyncio
import signal

from host.cli.output import CliError, add_json_flag, emit, log


def register(subparsers) -> None:
    run = subparsers.add_parser(
        "run",
        help="keep every paired earbud connected and listening (the bridge)",
        description="Connects to every paired earbud, reconnects when a link drops, and runs a conversation per "
        "earbud: wake word, listening, answer. Logs each turn's timing on stderr. Stop with Ctrl-C.",
    )
    run.add_argument("--adapter", metavar="SPEC", help="native (default), usb:N, or sim:HOST:PORT")
    run.add_argument("--wyoming", type=int, metavar="PORT",
                     help="serve each earbud to Home Assistant as a Wyoming satellite, from this TCP port up "
                     "(overrides [wyoming] satellite_port)")
    run.add_argument("devices", nargs="*", metavar="DEVICE", help="only these paired earbuds (default: all)")
    run.set_defaults(func=cmd_run)

    quiet = subparsers.add_parser(
        "quiet",
        help="stop (on) or resume (off) all listening; alone, show each earbud's state",
        description="Quiet mode stops the earbud's microphone: no audio leaves it and nothing on this computer "
        "listens. `earpiece quiet` alone shows each earbud's state. While `earpiece run` is running the change goes "
        "through it; otherwise this connects to the earbud directly. The earbud's own quiet switch cannot be "
        "overridden from here.",
    )
    quiet.add_argument("state", nargs="?", choices=["on", "off"], help="on = stop listening, off = listen again")
    quiet.add_argument("device", nargs="?", metavar="DEVICE", help="name or address (default: every paired earbud)")
    quiet.add_argument("--adapter", metavar="SPEC", help="native (default), usb:N, or sim:HOST:PORT")
    quiet.add_argument("--timeout", type=float, default=15.0, metavar="S", help="seconds to wait for the earbud")
    add_json_flag(quiet)
    quiet.set_defaults(func=cmd_quiet)


# --- run ------------------------------------------------------------------------------------------------------------
def cmd_run(args) -> int:
    from host import config as config_module
    from host.models import ModelError
    from host.pipeline.engines import Engines

    try:
        config = config_module.load()
    except config_module.ConfigError as error:
        raise CliError(str(error)) from None
    if args.wyoming is not None:
        import dataclasses

        if not 0 < args.wyoming < 65536:
            raise CliError(f"--wyoming needs a TCP port between 1 and 65535, not {args.wyoming}")
        config = dataclasses.replace(config, wyoming=dataclasses.replace(config.wyoming, satellite_port=args.wyoming))
    devices = _paired_devices(args.devices)
    log("earpiece run: loading models ...")
    try:
        engines = Engines.load(config)
    except ModelError as error:
        raise CliError(str(error)) from None
    try:
        asyncio.run(_serve(engines, args.adapter, devices, config.privacy.store_transcripts))
    finally:
        engines.close()
    return 0


def _paired_devices(targets: list[str]):
    from host.link.registry import AmbiguousDeviceError, DeviceRegistry

    registry = DeviceRegistry()
    if not targets:
        devices = registry.all()
        if not devices:
            raise CliError("no paired earbuds: find one with `earpiece scan`, then `earpiece pair DEVICE`")
        return devices
    chosen = []
    for target in targets:
        try:
            device = registry.find(target)
        except AmbiguousDeviceError as error:
            raise CliError(str(error)) from None
        if device is None:
            raise CliError(f"no paired earbud called {target!r}: see `earpiece devices`")
        chosen.append(device)
    return chosen


async def _serve(engines, adapter: str | None, devices, store_transcripts: bool) -> None:
    from host.bridge.bridge import Bridge
    from host.errors import EarpieceError

    def on_turn(name: str, result) -> None:
        t = result.timings
        line = (f"{name}: turn ({result.trigger}) {result.outcome}: latency {t.latency_s * 1000:.0f} ms "
                f"(endpoint {t.endpoint_s * 1000:.0f}, asr {t.asr_s * 1000:.0f}, "
                f"assistant {t.assistant_s * 1000:.0f}, tts {t.tts_first_audio_s * 1000:.0f})")
        if store_transcripts and result.transcript:
            line += f" heard {result.transcript!r} -> {result.reply.text if result.reply else ''!r}"
        log(line)

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    try:
        bridge = Bridge(engines, adapter=adapter, devices=devices, on_turn=on_turn)
        await bridge.start()
    except EarpieceError as error:  # e.g. another bridge holds the control socket
        raise CliError(str(error)) from None
    names = ", ".join(d.name for d in devices)
    for name, port in (bridge.satellites.ports if bridge.satellites else {}).items():  # for Home Assistant
        log(f"earpiece run: {name} is a Wyoming satellite at {engines.config.wyoming.satellite_host}:{port}")
    log(f"earpiece run: listening for {names}; Ctrl-C to stop")
    try:
        await stop.wait()
    finally:
        log("earpiece run: stopping")
        await bridge.close()


# --- quiet ----------------------------------------------------------------------------------------------------------
def cmd_quiet(args) -> int:
    from host.bridge import control_socket

    if control_socket.bridge_running():
        request = {"cmd": "status" if args.state is None else "quiet", "device": args.device}
        if args.state is not None:
            request["quiet"] = args.state == "on"
        try:
            response = control_socket.request(request, timeout=args.timeout + 5)
        except (OSError, ValueError) as error:
            raise CliError(f"the running bridge did not answer ({error}); is `earpiece run` stuck? restart it") from None
        keys = ("name", "address", "quiet", "quiet_source", "connected", "pending", "saved")
        devices = [{k: d[k] for k in keys if k in d} for d in response.get("devices", [])]
        return _report_quiet(args, response.get("ok", False), devices, response.get("error"), via="bridge")
    return asyncio.run(_quiet_direct(args))


async def _quiet_direct(args) -> int:
    """No bridge running: talk to the earbud(s) ourselves. The earbud is told first; then the record is kept."""
    from host.bridge.quiet import QuietController, switch_holds_message
    from host.link.earbud_link import EarbudLink
    from protocol import control

    devices = _paired_devices([args.device] if args.device else [])
    quiet = QuietController()
    if args.state is None:
        rows = [{"name": d.name, "address": d.address, "quiet": quiet.state(d.address).quiet,
                 "quiet_source": quiet.state(d.address).source_name} for d in devices]
        return _report_quiet(args, True, rows, None, via="record")
    want = args.state == "on"
    rows, errors = [], []
    for device in devices:
        # The earbud itself says whether its switch holds quiet (our record may be older than the switch).
        link = EarbudLink(device.address, adapter=args.adapter, name=device.name, stream_audio=False, reconnect=False)
        try:
            await link.connect(timeout=args.timeout)
            before = await link.request_status()
            if not want and before.quiet and before.quiet_source == control.QUIET_SOURCE_SWITCH:
                quiet.earbud_reported(device.address, True, control.QUIET_SOURCE_SWITCH)
                errors.append(switch_holds_message(device.name))
                rows.append({"name": device.name, "address": device.address, "quiet": True, "quiet_source": "switch"})
                continue
            message = control.SetQuiet(want, control.QUIET_SOURCE_HOST)
            if bool(before.quiet) != want:  # an earcon for the change: distinct for entering and leaving
                cue = control.PlayCue(control.CUE_QUIET_ON if want else control.CUE_QUIET_OFF)
                await link.send_control([message, cue])
            else:
                await link.send_control(message)
            status = await link.request_status()
        except Exception as error:  # noqa: BLE001 — any link failure is this earbud's one-line error, not a trace
            errors.append(f"{device.name}: {error or type(error).__name__}; is it on and in range?")
            continue
        finally:
            await link.close()
        quiet.host_requested(device.address, want, control.QUIET_SOURCE_HOST, persist=False)
        quiet.earbud_reported(device.address, bool(status.quiet), status.quiet_source)
        saved = quiet.persist(device.address)
        now = quiet.state(device.address)
        if now.quiet != want:
            errors.append(f"{device.name}: stayed {'quiet' if now.quiet else 'listening'} ({now.source_name})")
        rows.append({"name": device.name, "address": device.address, "quiet": now.quiet,
                     "quiet_source": now.source_name, "saved": saved})
    return _report_quiet(args, not errors, rows, "; ".join(errors) or None, via="earbud")


def _report_quiet(args, ok: bool, devices: list[dict], error: str | None, via: str) -> int:
    if args.json:
        emit(args, {"ok": ok, "via": via, "devices": devices, "error": error})
    else:
        for d in devices:
            state = "quiet" if d.get("quiet") else "listening"
            source = f" (by {d['quiet_source']})" if d.get("quiet") and d.get("quiet_source") else ""
            pending = " — applies when it reconnects" if d.get("pending") else ""
            emit(args, {}, f"{d['name']}: {state}{source}{pending}")
    for d in devices:
        if d.get("saved") is False:
            log(f"earpiece: warning: {d['name']}'s quiet state could not be saved (is the disk full?); "
                "it holds until the bridge stops")
    if not ok:
        raise CliError(error or "quiet mode could not be changed")
    return 0
