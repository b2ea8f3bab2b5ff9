"""`earpiece-sim`: try Earpiece with no hardware — a virtual Bluetooth radio and simulated earbuds.

The only module of device_sim that parses arguments or prints.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import signal
import sys
import threading
from pathlib import Path

from device_sim import __version__

DESCRIPTION = """\
Simulate Earpiece hardware on this computer. Start a virtual radio, then one or more earbuds on it;
the host bridge attaches to the same radio with `--adapter sim:127.0.0.1:PORT`.

  earpiece-sim radio --port 7420
  earpiece-sim earbud --radio 127.0.0.1:7420 --name Earpiece-Sim --mic hello.wav --speaker out.wav
  earpiece pair --adapter sim:127.0.0.1:7420      # type the passkey the earbud prints (and speaks)

Talk to it yourself: `--mic pyaudio --speaker pyaudio` uses this computer's microphone and speakers
(`earpiece-sim audio-devices` lists them; `pyaudio:DEVICE` picks one by index or name).
"""

RADIO_HELP = """\
The virtual air. Bluetooth hosts (earbuds, bridges) attach over TCP as Bumble `tcp-client:127.0.0.1:PORT`
transports; each gets its own virtual controller on one shared link. LE data moves only at connection events,
a packet that is not acknowledged is retransmitted one or more intervals later (in order: what follows waits),
latency is added on top, and links can be cut on a schedule (both sides see a supervision timeout).
Defaults are a good link: 7.5 ms interval, no retransmissions, 1 ms latency, never cut.
"""

EARBUD_HELP = """\
A simulated earbud: advertises the Earpiece service, serves it (plus Battery and Device Information), and runs
the firmware's core. Its mic plays the WAV files in order, looped, in real time (silence without --mic); what
the host sends is written to --speaker. `--mic pyaudio[:DEVICE]` / `--speaker pyaudio[:DEVICE]` use this
computer's microphone / speakers instead (wear headphones, or the mic hears the reply). The first boot without bonds is in pairing mode; pairing needs the
6-digit passkey it prints (`passkey: NNNNNN`) and speaks into --speaker. Type on stdin:
  quiet on|off   flip the quiet switch (mic off, no audio leaves)
  press | double | long   press the button (long = pairing mode for 3 minutes)
  battery N      set the battery to N %
  status         print the earbud's state and counters as JSON
  quit           stop
"""


def _radio_address(text: str) -> str:
    host, sep, port = text.rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise argparse.ArgumentTypeError(f"{text!r} is not HOST:PORT, e.g. 127.0.0.1:7420")
    return text


def _say(line: str) -> None:
    print(line, flush=True)


def _parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="earpiece-sim", description=DESCRIPTION, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--version", action="version", version=f"earpiece-sim {__version__}")
    parser.add_argument("-v", "--verbose", action="count", default=0, help="log more to stderr (-vv for debug)")
    commands = parser.add_subparsers(dest="command", required=True, metavar="{radio,earbud,swarm,audio-devices}")

    radio = commands.add_parser("radio", help="run the virtual Bluetooth radio", description=RADIO_HELP,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    radio.add_argument("--port", type=int, default=7420, help="TCP port on 127.0.0.1 (0 = any free one; default 7420)")
    radio.add_argument("--interval-ms", type=float, default=7.5,
                       help="connection interval in ms, 7.5..4000 (default 7.5)")
    radio.add_argument("--retransmit-prob", type=float, default=0.0,
                       help="chance a packet is not acknowledged at an event and waits for the next (default 0)")
    radio.add_argument("--latency-ms", type=float, default=1.0, help="extra one-way latency in ms (default 1)")
    radio.add_argument("--disconnect-every-s", type=float, default=0.0,
                       help="cut each link this many seconds after it connects (default 0 = never)")
    radio.add_argument("--packets-per-event", type=int, default=4,
                       help="LL data packets per connection event and direction (default 4)")
    radio.add_argument("--seed", type=int, default=None, help="random seed for retransmissions (reproducible runs)")

    earbud = commands.add_parser("earbud", help="run a simulated earbud on the radio", description=EARBUD_HELP,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    earbud.add_argument("--radio", required=True, metavar="HOST:PORT", type=_radio_address, help="the radio's address, e.g. 127.0.0.1:7420")
    earbud.add_argument("--name", required=True, help="advertised name, e.g. Earpiece-Sim")
    earbud.add_argument("--mic", nargs="+", default=[], metavar="WAV",
                        help="PCM WAV files the mic hears, in order, looped (any rate/channels; resampled to 16 kHz), "
                             "or pyaudio[:DEVICE] for this computer's microphone")
    earbud.add_argument("--speaker", metavar="OUT.wav",
                        help="write the earbud's speaker to this WAV, or pyaudio[:DEVICE] to play it on this computer")
    earbud.add_argument("--state-dir", type=Path, metavar="DIR",
                        help="keeps bonds, address and settings across restarts "
                             "(default: $EARPIECE_HOME/sim/NAME or the user state directory)")
    earbud.add_argument("--passkey", type=int, metavar="N", help="use this 6-digit passkey instead of a random one")
    earbud.add_argument("--stats", type=Path, metavar="FILE", help="rewrite the earbud's counters as JSON here every second")
    earbud.add_argument("--address", metavar="RANDOM_STATIC", help="use this random static address (C0:..:..)")
    earbud.add_argument("--echo", type=_echo_spec, metavar="DELAY_MS:GAIN_DB[:RT60_MS]",
                        help="the speaker leaks into the mic: this much later and quieter, with a room tail "
                             "(e.g. 20:-10:150)")
    # Test aid, hidden from --help: stream the mic even while reporting quiet (a misbehaving firmware), so tests
    # can prove the host drops such audio unprocessed and counts it.
    earbud.add_argument("--misbehave-audio-in-quiet", action="store_true", help=argparse.SUPPRESS)

    _add_swarm_parser(commands)  # device_sim/swarm.py: many earbuds in one process, for load tests

    devices = commands.add_parser("audio-devices", help="list this computer's microphones and speakers (for pyaudio:DEVICE)")
    devices.add_argument("--json", action="store_true", help="print one JSON object on one line to stdout")
    args = parser.parse_args(argv)
    if args.command == "earbud":
        _split_live_audio(parser, args)
    return args


def _echo_spec(text: str):
    from device_sim.echo_path import parse_echo

    try:
        return parse_echo(text)
    except ValueError as error:
        raise argparse.ArgumentTypeError(str(error)) from None


def _split_live_audio(parser: argparse.ArgumentParser, args: argparse.Namespace) -> None:
    """--mic/--speaker take either files or `pyaudio[:DEVICE]`; sort them into paths and live device specs."""
    from device_sim.pyaudio_io import parse_device_spec

    live = [parse_device_spec(item) for item in args.mic]
    args.live_mic = None
    if any(spec is not None for spec in live):
        if len(args.mic) != 1:
            parser.error("--mic takes WAV files or one pyaudio[:DEVICE], not both")
        args.live_mic, args.mic = live[0], []
    args.mic = [Path(item) for item in args.mic]
    args.live_speaker = parse_device_spec(args.speaker) if args.speaker else None
    args.speaker = Path(args.speaker) if args.speaker and args.live_speaker is None else None


def _setup_logging(verbose: int) -> None:
    level = logging.WARNING if verbose == 0 else logging.INFO if verbose == 1 else logging.DEBUG
    logging.basicConfig(level=level, stream=sys.stderr, format="%(name)s: %(levelname)s: %(message)s")
    if verbose < 2:
        logging.getLogger("bumble").setLevel(logging.ERROR)


def _stop_on_signals(stop: asyncio.Event) -> None:
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)


async def _run_radio(args: argparse.Namespace) -> int:
    from device_sim.air import AirSettings
    from device_sim.radio import Radio

    settings = AirSettings(
        interval_ms=args.interval_ms,
        retransmit_prob=args.retransmit_prob,
        latency_ms=args.latency_ms,
        disconnect_every_s=args.disconnect_every_s,
        packets_per_event=args.packets_per_event,
        seed=args.seed,
    )
    try:
        radio = Radio(settings)
    except ValueError as error:
        print(f"earpiece-sim radio: {error}", file=sys.stderr)
        return 2
    try:
        port = await radio.start("127.0.0.1", args.port)
    except OSError as error:
        print(f"earpiece-sim radio: cannot listen on 127.0.0.1:{args.port} ({error.strerror}); "
              "pick another --port (0 = any free port)", file=sys.stderr)
        return 1
    _say(f"radio listening on 127.0.0.1:{port}")
    stop = asyncio.Event()
    _stop_on_signals(stop)
    await stop.wait()
    await radio.close()
    logging.getLogger("device_sim.radio").info("totals: %s", dict(radio.air.totals))
    return 0


def _read_console(loop: asyncio.AbstractEventLoop, lines: asyncio.Queue[str | None]) -> None:
    """stdin in a thread: works for terminals, pipes and /dev/null alike. EOF ends the console, not the earbud."""
    try:
        for line in sys.stdin:
            loop.call_soon_threadsafe(lines.put_nowait, line)
        loop.call_soon_threadsafe(lines.put_nowait, None)
    except (RuntimeError, OSError, ValueError):  # the loop closed (we are exiting) or stdin went away
        pass


async def _run_earbud(args: argparse.Namespace) -> int:
    from device_sim.console import QuitRequested, run_command
    from device_sim.earbud import EarbudOptions, SimulatedEarbud
    from device_sim.errors import EarbudError

    options = EarbudOptions(
        radio=args.radio, name=args.name, mic=args.mic, speaker=args.speaker, state_dir=args.state_dir,
        passkey=args.passkey, stats=args.stats, address=args.address,
        live_mic=args.live_mic, live_speaker=args.live_speaker,
        misbehave_audio_in_quiet=args.misbehave_audio_in_quiet, echo=args.echo,
    )
    earbud = SimulatedEarbud(options, announce=_say)
    try:
        await earbud.start()
    except EarbudError as error:
        print(f"earpiece-sim earbud: {error}", file=sys.stderr)
        return 1
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    _stop_on_signals(stop)
    stop_task = loop.create_task(stop.wait())
    stop_task.add_done_callback(lambda _task: earbud.stop())

    lines: asyncio.Queue[str | None] = asyncio.Queue()
    threading.Thread(target=_read_console, args=(loop, lines), daemon=True).start()

    async def console() -> None:
        while (line := await lines.get()) is not None:
            try:
                reply = run_command(earbud, line)
            except QuitRequested:
                earbud.stop()
                return
            if reply:
                _say(reply)

    console_task = loop.create_task(console())
    try:
        await earbud.run()
    except EarbudError as error:
        print(f"earpiece-sim earbud: {error}", file=sys.stderr)
        return 1
    finally:
        console_task.cancel()
        stop_task.cancel()
    return 0


def _audio_devices(args: argparse.Namespace) -> int:
    import json

    from device_sim.pyaudio_io import AudioDeviceError, list_devices

    try:
        devices = list_devices()
    except AudioDeviceError as error:
        print(f"earpiece-sim audio-devices: {error}", file=sys.stderr)
        return 1
    inputs = [d.to_json() for d in devices if d.can("input")]
    outputs = [d.to_json() for d in devices if d.can("output")]
    if args.json:
        _say(json.dumps({"inputs": inputs, "outputs": outputs}))
        return 0
    for title, listed, key in (("input devices (--mic pyaudio:DEVICE)", inputs, "default_input"),
                               ("output devices (--speaker pyaudio:DEVICE)", outputs, "default_output")):
        _say(title + ":")
        for d in listed:
            mark = " (default)" if d[key] else ""
            _say(f"  {d['index']:>3}  {d['name']}{mark}  [{d['host_api']}, {d['default_sample_rate']:.0f} Hz]")
        if not listed:
            _say("  none")
    return 0


def _add_swarm_parser(commands) -> None:
    swarm = commands.add_parser(
        "swarm", help="run many simulated earbuds in one process (load tests)",
        description="Many earbuds in one process, each a full simulated earbud except that its mic replays frames "
                    "encoded once from the WAV (so the load is the host's). All pair with the same --passkey. "
                    "Prints `earbud NAME advertising as ADDRESS` per earbud, then `swarm of N earbuds advertising`.")
    swarm.add_argument("--radio", required=True, metavar="HOST:PORT", type=_radio_address, help="the radio's address")
    swarm.add_argument("--count", required=True, type=int, metavar="N", help="how many earbuds")
    swarm.add_argument("--mic", required=True, type=Path, metavar="WAV", help="what every mic hears, looped")
    swarm.add_argument("--state-dir", required=True, type=Path, metavar="DIR", help="bonds and addresses, per earbud")
    swarm.add_argument("--name-prefix", default="Earpiece-Swarm", help="names are PREFIX-000, PREFIX-001, ...")
    swarm.add_argument("--passkey", type=int, default=123456, metavar="N", help="every earbud's passkey")
    swarm.add_argument("--stats", type=Path, metavar="FILE", help="rewrite per-earbud stream counters as JSON here")


def _run_swarm_command(args: argparse.Namespace) -> int:
    from device_sim.errors import EarbudError
    from device_sim.swarm import Swarm, SwarmOptions

    async def run() -> int:
        swarm = Swarm(SwarmOptions(radio=args.radio, count=args.count, mic=args.mic, state_dir=args.state_dir,
                                   name_prefix=args.name_prefix, passkey=args.passkey, stats=args.stats), _say)
        stop = asyncio.Event()
        _stop_on_signals(stop)
        asyncio.get_running_loop().create_task(stop.wait()).add_done_callback(lambda _task: swarm.stop())
        await swarm.start()
        await swarm.run()
        return 0

    if not 0 <= args.passkey <= 999_999:
        print("earpiece-sim swarm: --passkey must be 0..999999 (six digits)", file=sys.stderr)
        return 2
    try:
        return asyncio.run(run())
    except (EarbudError, ValueError) as error:
        print(f"earpiece-sim swarm: {error}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130


def main(argv: list[str] | None = None) -> int:
    args = _parse_args(argv)
    _setup_logging(args.verbose)
    if args.command == "audio-devices":
        return _audio_devices(args)
    if args.command == "swarm":
        return _run_swarm_command(args)
    runner = _run_radio if args.command == "radio" else _run_earbud
    try:
        return asyncio.run(runner(args))
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
