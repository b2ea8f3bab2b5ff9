"""Settings: defaults, a valid file, and one-line errors naming the key or line for broken ones."""

from __future__ import annotations

import json

import pytest

from host import config, paths
from host.cli import main


def write_config(text: str):
    file = paths.config_file()
    file.parent.mkdir(parents=True, exist_ok=True)
    file.write_text(text)
    return file


def test_missing_file_means_defaults():
    settings = config.load()
    assert settings == config.Config()
    assert settings.wake.model == "hey_jarvis" and settings.asr.language == "en"
    assert settings.privacy.store_transcripts is False


def test_a_valid_file_overrides_only_what_it_names():
    write_config('[wake]\nthreshold = 0.7\nmodel = "alexa"\n\n[audio]\nvolume = 40\n')
    settings = config.load()
    assert settings.wake.threshold == 0.7 and settings.wake.model == "alexa" and settings.audio.volume == 40
    assert settings.wake.refractory_s == config.WakeSettings().refractory_s


def test_integers_are_accepted_where_numbers_are_expected():
    assert config.parse("[endpoint]\nhangover_s = 1\n").endpoint.hangover_s == 1.0


@pytest.mark.parametrize("text, message", [
    ("[wake]\nthreshhold = 0.3\n", "unknown setting wake.threshhold (did you mean wake.threshold?)"),
    ("[wak]\nthreshold = 0.3\n", "unknown section [wak] (did you mean wake?)"),
    ('[wake]\nthreshold = "high"\n', 'wake.threshold must be a number (default 0.5), got "high"'),
    ("[wake]\nthreshold = 1.5\n", "wake.threshold must be at most 1.0"),
    ('[asr]\nengine = "google"\n', "asr.engine must be one of auto"),
    ("[privacy]\nstore_transcripts = 1\n", "privacy.store_transcripts must be true or false"),
    ("wake = 3\n", "'wake' must be a section"),
    ("[wake]\nthreshold = 0.5\n\n[audio\nvolume = 3\n", "line 4"),
])
def test_broken_files_are_refused_with_one_line_naming_the_problem(text, message):
    with pytest.raises(config.ConfigError) as caught:
        config.parse(text, "config.toml")
    assert message in str(caught.value)
    assert "\n" not in str(caught.value)


def test_render_documents_every_setting_and_parses_back():
    text = config.render_toml(config.Config())
    assert "# score (0..1) above which the wake word counts as heard (default 0.5)" in text
    assert config.parse(text) == config.Config()


def test_cli_config_path_and_show(capsys):
    assert main(["config", "path", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out == {"path": str(paths.config_file()), "exists": False}
    write_config("[audio]\nvolume = 33\n")
    assert main(["config", "show", "--json"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 1
    shown = json.loads(lines[0])
    assert shown["exists"] is True and shown["config"]["audio"]["volume"] == 33
    assert main(["config", "show"]) == 0
    assert "volume = 33" in capsys.readouterr().out


def test_cli_config_show_with_a_broken_file_is_one_line_error(capsys):
    write_config("[wake]\nthreshhold = 0.3\n")
    assert main(["config", "show"]) == 1
    captured = capsys.readouterr()
    assert captured.out == ""
    [line] = captured.err.splitlines()
    assert line.startswith("earpiece: error: ") and "did you mean wake.threshold?" in line
