"""Domain errors. Core code raises these with actionable text; the CLI and the API map them."""

from __future__ import annotations


class TegurError(Exception):
    """Base class for every error a user can cause and fix (bad input, bad config, missing files)."""


class ConfigError(TegurError):
    """A config file or value is invalid."""


class DataError(TegurError):
    """Input data is missing, malformed or fails verification."""


class ArtifactError(TegurError):
    """A model folder is missing or is not a Tegur artifact."""
