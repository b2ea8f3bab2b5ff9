"""`earpiece enroll [DEVICE]` (learn the wearer's voice) and `earpiece memory voice` (list or forget it)."""

from __future__ import annotations

import asyncio

from host.cli.output import CliError, add_json_flag, emit, log

ENROLL_HELP = """\
Teaches the earbud your voice, so that with `[listen] wearer_only = true` (the default) it answers only you: other
voices (people near you, the television) are ignored before anything is recognized, and nothing of theirs is kept.

Put the earbud in. It says a sentence; say it back in your normal voice; about ten sentences, under a minute. Only
a voiceprint is kept (256 numbers describing your voice, no audio), in your data folder; see it or delete it with
`earpiece memory voice`. Quiet mode stops enrolment. While `earpiece run` is running this goes through it;
otherwise this connects to the earbud directly.
"""
ENROLL_TIMEOUT_S = 300.0


def register(subparsers) -> None:
    enroll = subparsers.add_parser("enroll", help="teach the earbud your voice (it then answers only you)",
                                   description=ENROLL_HELP, formatter_class=_raw())
    enroll.add_argument("device", nargs="?", metavar="DEVICE", help="name or address (default: the one paired earbud)")
    enroll.add_argument("--adapter", metavar="SPEC", help="native (default), usb:N, or sim:HOST:PORT")
    enroll.add_argument("--timeout", type=float, default=20.0, metavar="S", help="seconds to wait for the earbud")
    add_json_flag(enroll)
    enroll.set_defaults(func=cmd_enroll)


def add_voice_action(actions) -> None:
    """`earpiece memory voice [--forget [DEVICE]]` (called from companion_commands.register)."""
    voice = actions.add_parser("voice", help="the voiceprints `earpiece enroll` kept; --forget deletes them")
    voice.add_argument("--forget", nargs="?", const="", metavar="DEVICE",
                       help="delete the voiceprint of DEVICE (alone: every voiceprint)")
    add_json_flag(voice)
    voice.set_defaults(func=cmd_memory_voice)


def _raw():
    import argparse

    return argparse.RawDescriptionHelpFormatter


def cmd_enroll(args) -> int:
    from host.bridge import control_socket

    log("earpiece enroll: listen to the earbud, and repeat each sentence after it")
    if control_socket.bridge_running():
        try:
            response = control_socket.request({"cmd": "enroll", "device": args.device}, timeout=ENROLL_TIMEOUT_S)
        except (OSError, ValueError) as error:
            raise CliError(f"the running bridge did not answer ({error}); is `earpiece run` stuck? restart it") \
                from None
    else:
        response = asyncio.run(_enroll_direct(args))
    if not response.get("ok"):
        raise CliError(response.get("error") or "enrolment failed")
    emit(args, response, f"{response['device']}: your voice is enrolled ({response['voiced_s']:.0f} s heard); "
                         "from now on it answers only you ([listen] wearer_only)")
    return 0


async def _enroll_direct(args) -> dict:
    """No bridge running: this process connects to the earbud with the bridge's own runner and enrols."""
    from host.bridge.enrolment import enrol_request
    from host.bridge.quiet import QuietController
    from host.bridge.runner import EarbudRunner
    from host.cli.config_commands import load_config
    from host.cli.run_commands import _paired_devices
    from host.models import ModelError
    from host.pipeline.engines import Engines

    devices = _paired_devices([args.device] if args.device else [])
    if len(devices) != 1:
        raise CliError("several earbuds are paired: say which, `earpiece enroll DEVICE`", exit_code=2)
    log("earpiece enroll: loading models ...")
    try:
        engines = await asyncio.to_thread(Engines.load, load_config(), None, False)
    except ModelError as error:
        raise CliError(str(error)) from None
    runner = EarbudRunner(devices[0], engines, args.adapter, QuietController())
    try:
        await runner.start()
        deadline = asyncio.get_running_loop().time() + args.timeout
        while not runner.link.connected:
            if asyncio.get_running_loop().time() > deadline:
                raise CliError(f"{devices[0].name} did not connect within {args.timeout:.0f} s; is it on and in "
                               "range?")
            await asyncio.sleep(0.1)
        response = await enrol_request([runner])
        await runner.session.voice.wait_idle()  # the thank-you reaches the ear before the link closes
        await runner.pacer.wait_played()
        return response
    finally:
        await runner.close()
        engines.close()


def cmd_memory_voice(args) -> int:
    from host.companion.voiceprint import Voiceprints

    voiceprints = Voiceprints()
    if args.forget is not None:
        gone = voiceprints.forget(args.forget or None)
        if args.forget and not gone:
            raise CliError(f"no voiceprint for {args.forget!r}; see `earpiece memory voice`")
        emit(args, {"forgotten": [p.to_dict() for p in gone]},
             "\n".join(f"Forgot the voiceprint of {p.device}." for p in gone) or "No voiceprint was kept.")
        return 0
    prints = voiceprints.all()
    emit(args, {"voiceprints": [p.to_dict() for p in prints], "path": str(voiceprints.path)},
         "\n".join(f"{p.device}: enrolled {p.enrolled_at:%Y-%m-%d %H:%M} from {p.voiced_s:.0f} s of voice"
                   for p in prints) or "No voiceprint kept: enrol with `earpiece enroll`.")
    return 0
