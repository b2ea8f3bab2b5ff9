"""Every fuzz target for a small fixed budget (`make fuzz` runs them longer), and the crashes fuzzing found, as
regression tests."""

from __future__ import annotations

import pytest

from tests.fuzz.runner import fuzz
from tests.fuzz.targets import TARGETS, check_model_manifest

BUDGET = {"model_manifest": 30, "control_socket": 80}  # the slower ones (a folder listing, a socket round trip)


@pytest.mark.parametrize("name", sorted(TARGETS))
def test_target_has_no_crash(name):
    outcome = fuzz(TARGETS[name], max_examples=BUDGET.get(name, 100))
    assert outcome.executions >= BUDGET.get(name, 100) // 2
    assert not outcome.crashes, outcome.crashes


@pytest.mark.parametrize("manifest", ["", "{", "[1, 2]", '{"source": 3}', "\udcff"])
def test_a_garbled_model_manifest_is_named_not_raised(manifest):
    # Found by the model_manifest target: `earpiece models list` died with JSONDecodeError / AttributeError.
    check_model_manifest(manifest.encode("utf-8", "surrogateescape").decode("utf-8", "replace"))


@pytest.mark.parametrize("text", ["[audio]\nvolume=[0]", "[audio]\nvolume = {a = 1, b = [1, 2]}",
                                  "[wake]\nmodel = [\"a\", \"b\"]"])
def test_a_setting_of_the_wrong_kind_is_reported_in_one_line(text):
    # Found by the config target: an array given for a number made a config error of several lines.
    from host.config import ConfigError, parse

    with pytest.raises(ConfigError) as raised:
        parse(text, "config.toml")
    assert "\n" not in str(raised.value), str(raised.value)
