"""Tegur: moderation for Indonesian comments and LIVE chat."""

from __future__ import annotations

__version__ = "0.1.0"
