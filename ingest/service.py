"""Placeholder until the ingest service lands."""

from coldchain.config import Settings


async def run_ingest(settings: Settings) -> None:
    raise NotImplementedError
