"""`earpiece demo`: try the whole system with a simulated earbud."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path

from host.cli.output import CliError, add_json_flag, emit, log


def register(subparsers) -> None:
    demo = subparsers.add_parser(
        "demo",
        help="try Earpiece end to end with a simulated earbud (no hardware needed)",
        description="Starts a virtual Bluetooth radio and a simulated earbud as separate processes, pairs with it "
        "and runs the bridge. The earbud's microphone plays a synthesized \"Hey Jarvis, what time is it?\"; the "
        "answer comes back over Bluetooth and the earbud's speaker is saved as a WAV file. Uses a throwaway "
        "pairing: your own earbuds and settings are not touched.",
    )
    demo.add_argument("--say", default=None, metavar="TEXT", help='what the earbud hears (default: "Hey Jarvis, what time is it?")')
    demo.add_argument("--speaker", type=Path, metavar="OUT.wav", help="where to save the earbud's speaker (default: a new file in the temp folder)")
    demo.add_argument("--live", action="store_true",
                      help="talk to it yourself: the simulated earbud uses this computer's microphone and speakers "
                           "(wear headphones); runs until Ctrl-C, printing each turn")
    demo.add_argument("--mic-device", default="", metavar="DEVICE",
                      help="with --live: microphone index or name (see `earpiece-sim audio-devices`; default: the system's)")
    demo.add_argument("--speaker-device", default="", metavar="DEVICE",
                      help="with --live: speaker/headphones index or name (default: the system's)")
    add_json_flag(demo)
    demo.set_defaults(func=cmd_demo)


def cmd_demo(args) -> int:
    from host import config as config_module
    from host.system.demo import DEFAULT_UTTERANCE, DemoError, default_speaker_path, run_demo
    from host.models import ModelError
    from host.pipeline.engines import Engines

    try:
        config = config_module.load()
    except config_module.ConfigError as error:
        raise CliError(str(error)) from None
    log("demo: loading models (wake word, speech recognition, voice) ...")
    try:
        engines = Engines.load(config)
    except ModelError as error:
        raise CliError(str(error)) from None
    if not args.verbose:
        logging.getLogger("bumble").setLevel(logging.ERROR)
    if args.live:
        return _live(args, engines)
    speaker = args.speaker or default_speaker_path()
    try:
        result = asyncio.run(run_demo(engines, speaker, args.say or DEFAULT_UTTERANCE, progress=lambda m: log("demo: " + m)))
    except DemoError as error:
        raise CliError(f"demo: {error}") from None
    finally:
        engines.close()

    latency = result.latency_ms
    wake = result.wake
    lines = [
        "",
        f"  wake word   {'heard' if wake['detected'] else 'not heard'}"
        + (f" (score {wake['score']:.2f} at {wake['t_s']:.1f} s)" if wake.get("score") is not None else ""),
        f"  you said    {result.transcript!r}",
        f"  earpiece    {result.reply!r}",
        "",
        "  latency (ms): " + ", ".join(f"{k} {v}" for k, v in latency.items() if v is not None),
        f"  the earbud's speaker: {result.speaker_wav}",
    ]
    emit(args, result.to_json(), "\n".join(lines))
    return 0


def _live(args, engines) -> int:
    """`earpiece demo --live`: until Ctrl-C (or SIGTERM), then a clean stop of the bridge, earbud and radio."""
    import json
    import signal
    import sys

    from host.system.demo import DemoError, LiveTurn, run_live_demo

    def show(turn: LiveTurn) -> None:
        latency = f"{turn.latency_ms} ms" if turn.latency_ms is not None else "-"
        text = f"  heard     {turn.heard!r}\n  answered  {turn.answered!r}\n  latency   {latency}\n"
        if args.json:  # stdout keeps its one JSON object for the end; turns go to the log
            log(text.rstrip("\n"))
        else:
            sys.stdout.write(text + "\n")
            sys.stdout.flush()

    async def main() -> dict:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        return await run_live_demo(engines, stop, args.mic_device, args.speaker_device, on_turn=show,
                                   progress=lambda m: log("demo: " + m))

    try:
        summary = asyncio.run(main())
    except DemoError as error:
        raise CliError(f"demo: {error}") from None
    finally:
        engines.close()
    if args.json:
        sys.stdout.write(json.dumps(summary) + "\n")
    else:
        log(f"demo: stopped after {len(summary['turns'])} turn(s); earbud counters: {summary['earbud']}")
    return 0
