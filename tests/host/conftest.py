"""Fixtures for the host unit tests."""

from tests.quiet.protocol_path import import_protocol_without_tests_on_path

import_protocol_without_tests_on_path()  # until tests/micropython/ stops shadowing `micropython` (see there)
