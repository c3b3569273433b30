"""Narrow, actionable exceptions raised by ``synth``.

Every message names what was wrong (file, column, key path, value) and how to fix it.
"""

from __future__ import annotations


class SynthError(Exception):
    """Base class of every error raised on purpose by ``synth``."""


class ConfigError(SynthError, ValueError):
    """A configuration value is missing, unknown or out of range."""


class InputError(SynthError):
    """An input path is missing, empty or unreadable."""


class SchemaMismatchError(InputError):
    """An input file's header or columns do not match what its adapter expects."""


class InvalidDataError(SynthError, ValueError):
    """Data has a shape or content that the operation cannot accept."""


class SetupError(SynthError):
    """The runtime is not installed as expected (missing jars, wrong Java)."""


class NotFittedError(SynthError):
    """A model or encoder was used before ``fit``."""
