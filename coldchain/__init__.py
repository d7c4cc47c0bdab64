"""Shared domain of the cold-chain pipeline: models, wire format, store clients, maths."""

__version__ = "0.1.0"
