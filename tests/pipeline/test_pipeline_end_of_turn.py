"""End of turn by meaning (Smart Turn v3.2): a finished request scores high, the same request cut off scores low."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from host import models
from host.pipeline.audio import read_wav, silence
from host.pipeline.end_of_turn import load_turn_completion


@pytest.fixture(scope="module")
def turn(models_root):
    return load_turn_completion(models_root)


def trimmed(pcm: bytes) -> bytes:
    """Without espeak's silence before and after: as the endpointer hands over an utterance."""
    samples = np.frombuffer(pcm, dtype="<i2")
    loud = np.nonzero(np.abs(samples) > 300)[0]
    return samples[loud[0]: loud[-1] + 1].tobytes()


def test_a_complete_question_scores_high_and_the_same_cut_off_low(turn, speech):
    pcm = trimmed(speech("What is the weather like in Paris tomorrow?"))
    cut = pcm[: int(len(pcm) * 0.55) // 2 * 2]  # "What is the weather like in..."
    complete, incomplete = turn.probability(pcm + silence(0.1)), turn.probability(cut + silence(0.1))
    assert complete > 0.7 and incomplete < 0.4, (complete, incomplete)
    assert turn.runs == 2


CORPUS = Path(__file__).resolve().parents[2].parent / "shared" / "corpus"


@pytest.mark.skipif(not (CORPUS / "manifest.tsv").is_file(), reason="no ../shared/corpus here")
def test_a_human_sentence_longer_than_the_window(turn):
    pcm = trimmed(read_wav(CORPUS / "speech/whisper/jfk.wav"))  # 11 s: only its last 8 s are heard
    assert len(pcm) / 32000 > 8
    cut = pcm[: int(len(pcm) * 0.55) // 2 * 2]  # "... ask not what your country can do for you, ask what you"
    assert turn.probability(pcm) > 0.7 and turn.probability(cut) < 0.4


def test_a_missing_model_names_the_command_to_run(tmp_path):
    with pytest.raises(models.ModelError, match="earpiece models install"):
        load_turn_completion(tmp_path)
