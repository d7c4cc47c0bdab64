"""Exceptions of the simulators, split by what the caller must do.

ColdchainError                      (coldchain.errors)
├── ConfigError                     bad fleet file or `simulation:` key: refuse to start
└── SimulatorError
    └── PublishError                the broker refused us or went away for good: stop
"""

from __future__ import annotations

from coldchain.errors import ColdchainError

__all__ = ["PublishError", "SimulatorError"]


class SimulatorError(ColdchainError):
    """Root of the errors the simulators raise on purpose (besides `ConfigError`)."""


class PublishError(SimulatorError):
    """The broker refused the connection or a publish; the run cannot go on."""
