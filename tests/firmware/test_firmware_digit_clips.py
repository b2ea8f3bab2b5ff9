"""The spoken-passkey clips: generated with espeak-ng at build time, played by the core digit by digit."""
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from earbud.core import EarbudCore
from earbud.sounds import DIGIT_GAP_MS
from earbud_fakes import FakeHal

TOOL = Path(__file__).resolve().parents[2] / "hardware" / "firmware" / "tools" / "make_digit_clips.py"


@pytest.mark.e2e  # starts processes
def test_clips_are_generated_and_the_core_speaks_them_in_order(tmp_path):
    result = subprocess.run([sys.executable, str(TOOL), "--out", str(tmp_path), "--json"], capture_output=True,
                            text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert sorted(json.loads(result.stdout)["files"]) == ["digit_%d.pcm" % d for d in range(10)]
    clips = {}
    for digit in range(10):
        samples = np.frombuffer((tmp_path / ("digit_%d.pcm" % digit)).read_bytes(), dtype="<i2")
        assert 0.2 < len(samples) / 16000 < 0.8, digit
        assert np.abs(samples).max() == 16384  # normalised to -6 dBFS
        clips["digit_%d" % digit] = samples.tobytes()
    assert len({len(c) for c in clips.values()}) > 5  # ten different words, not one clip copied

    hal = FakeHal(clips=clips, state={"volume": 100})
    core = EarbudCore(hal)
    core.speak_passkey(582014)
    played = np.frombuffer(b"".join(core.speaker_pull(320) for _ in range(300)), dtype="<i2")
    gap = np.zeros(DIGIT_GAP_MS * 16, dtype="<i2")
    parts = []
    for i, digit in enumerate([5, 8, 2, 0, 1, 4]):
        if i:
            parts.append(gap)
        parts.append(np.frombuffer(clips["digit_%d" % digit], dtype="<i2"))
    expected = np.concatenate(parts)
    assert np.array_equal(played[:len(expected)], expected)
    assert not played[len(expected):].any()
