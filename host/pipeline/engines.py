"""The loaded models, shared by every earbud's session: load once (seconds), then each session is cheap."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path

from host import models
from host.companion.conversation.base import ConversationEngine
from host.companion.conversation.loading import load_conversation_engine
from host.companion.prompt import load_persona
from host.config import Config
from host.pipeline.asr import AsrEngine, load_engine as load_asr
from host.pipeline.clock import AudioClock
from host.pipeline.end_of_turn import TurnCompletion, load_turn_completion
from host.pipeline.endpoint import Endpointer
from host.pipeline.noise_suppress import NoiseSuppressor
from host.pipeline.tts import TtsEngine, load_engine as load_tts
from host.pipeline.wake import BatchedWakeDetector, WakeBatcher, WakeModel, WakeWordDetector

log = logging.getLogger(__name__)


@dataclass
class Engines:
    config: Config
    wake: WakeModel
    asr: AsrEngine
    tts: TtsEngine
    models_root: Path | None = field(default=None)
    conversation: ConversationEngine | None = None
    """The conversation model for what the skills don't answer ([assistant]; None: the skills alone answer)."""
    persona: str = ""
    turn_completion: TurnCompletion | None = None
    """Smart Turn: judges from the sound of speech whether a request is finished ([end_of_turn])."""
    wake_batching: bool = True
    """Score every earbud's wake word in one shared worker thread, batched (many earbuds on few cores)."""
    _wake_batcher: WakeBatcher | None = field(default=None, init=False, repr=False)

    @classmethod
    def load(cls, config: Config | None = None, models_root: Path | None = None,
             conversation_model: bool = True) -> "Engines":
        """Load every model the settings ask for (`conversation_model=False`: all but the conversation model).
        Raises an EarpieceError: models.ModelError (one line naming the command to run), TtsError, ...)."""
        config = config or Config()
        wake = load_wake(config, models_root)
        asr = load_asr(config.asr, models_root)
        tts = load_tts(config.tts)
        persona = load_persona(config.assistant.persona)
        conversation = load_conversation_engine(config.assistant, models_root) if conversation_model else None
        log.info("models loaded: wake %s, asr %s, tts %s, conversation %s", wake.name, asr.name, tts.name,
                 conversation.model if conversation else "none")
        turn_completion = load_turn_completion(models_root) if config.end_of_turn.enabled else None
        engines = cls(config, wake, asr, tts, models_root, conversation, persona, turn_completion)
        engines.warm_up()
        return engines

    def warm_up(self) -> None:
        """Run each model once: the first inference pays for lazy allocations (~0.4 s for whisper), and that
        must not land on the user's first question."""
        self.wake_detector().process(bytes(2 * 1280 * 4))
        self.noise_suppressor().suppress(bytes(2 * 1600))  # a missing package is reported now, not per earbud
        self.asr.transcribe(bytes(2 * 8000))
        self.asr.runs = 0
        self.tts.synthesize("Ready.")
        if self.turn_completion is not None:
            self.turn_completion.probability(bytes(2 * 16000))
        if self.conversation is not None:
            # The persona is every prompt's prefix: the model reads it now, and later turns reuse it.
            self.conversation.warm_up(self.persona)

    def wake_detector(self, clock: AudioClock | None = None) -> WakeWordDetector:
        """A fresh wake-word stage; a session passes its audio clock (see host/pipeline/clock.py)."""
        settings = self.config.wake
        if self.wake_batching:
            if self._wake_batcher is None:
                self._wake_batcher = WakeBatcher(self.wake)
            return BatchedWakeDetector(self._wake_batcher, settings.threshold, settings.refractory_s,
                                       settings.startup_guard_s, clock=clock)
        return WakeWordDetector(self.wake, settings.threshold, settings.refractory_s, settings.startup_guard_s, clock)

    def wake_shed_blocks(self, clock: AudioClock) -> int:
        """80 ms blocks of the stream on `clock` left unscored because the bridge was over capacity."""
        return self._wake_batcher.load.shed_blocks.get(clock, 0) if self._wake_batcher is not None else 0

    def wake_lag_s(self) -> float:
        """How far behind the shared wake-word scoring runs (smoothed, seconds; 0 without batching)."""
        return self._wake_batcher.load.lag_s if self._wake_batcher is not None else 0.0

    def noise_suppressor(self) -> NoiseSuppressor:
        """A fresh noise-suppression stage for one earbud's mic ([listen] noise_suppression; off: pass-through)."""
        return NoiseSuppressor(self.config.listen.noise_suppression)

    def endpointer(self, clock: AudioClock | None = None) -> Endpointer:
        s = self.config.endpoint
        # With an end-of-turn model, silence alone waits patiently: the model (or a request a skill understood)
        # ends a finished turn sooner.
        hangover = s.hangover_s if self.turn_completion is None else max(
            s.hangover_s, self.config.end_of_turn.patient_hangover_s)
        return Endpointer(s.vad_aggressiveness, s.pre_roll_s, hangover, s.max_utterance_s, s.no_speech_timeout_s,
                          clock)

    def close(self) -> None:
        if self.conversation is not None:
            self.conversation.close()
        if self._wake_batcher is not None:
            self._wake_batcher.close()
        self.tts.close()


def load_wake(config: Config, models_root: Path | None = None) -> WakeModel:
    path = models.wake_model_path(config.wake.model, models_root)
    try:
        return WakeModel(path, models.melspectrogram_path(models_root), models.embedding_path(models_root))
    except models.ModelError:
        raise
    except Exception as error:  # onnxruntime's own errors for a file that is not a model
        reason = str(error).splitlines()[0][:160] if str(error) else type(error).__name__
        raise models.ModelError(f"wake-word model {path} could not be loaded ({reason}): set [wake] model to a "
                                "working .onnx file or a built-in name (`earpiece models list`)") from None
