"""What a user sees when something is missing or broken: one line that says what to do, never a traceback."""

from __future__ import annotations

import os

import pytest

from tests.system_rig import earpiece

pytestmark = pytest.mark.e2e  # each runs the `earpiece` CLI as its own process


def _env(tmp_path, **extra) -> dict:
    return {**os.environ, "EARPIECE_HOME": str(tmp_path / "home"), **extra}


def _one_line_error(result) -> str:
    assert result.returncode != 0
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert "Traceback" not in result.stderr
    assert lines and lines[-1].startswith("earpiece: error:"), result.stderr
    return lines[-1]


def test_missing_models_say_how_to_install_them(tmp_path):
    empty = tmp_path / "no-models"
    empty.mkdir()
    result = earpiece("demo", env=_env(tmp_path, EARPIECE_MODELS_DIR=str(empty)), check=False)
    assert "earpiece models install" in _one_line_error(result)


def test_a_corrupt_config_names_the_line(tmp_path):
    config = tmp_path / "home" / "config" / "config.toml"
    config.parent.mkdir(parents=True)
    config.write_text("[wake]\nthreshold = 0.5\nthreshold = \n")
    result = earpiece("run", env=_env(tmp_path), check=False)
    message = _one_line_error(result)
    assert "config.toml" in message and "line 3" in message
    assert config.read_text() == "[wake]\nthreshold = 0.5\nthreshold = \n"  # the user's file is left as it was


def test_run_without_paired_earbuds_says_how_to_pair(tmp_path):
    result = earpiece("run", "--adapter", "sim:127.0.0.1:9", env=_env(tmp_path), check=False)
    assert "earpiece pair" in _one_line_error(result)
