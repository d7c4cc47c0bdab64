"""A webhook's URL may carry its token, a catalog URL its password: neither reaches an error
that is logged or stored (the outbox keeps the last error of each notification)."""

from __future__ import annotations

import pytest

from alerting.channels.webhook import WebhookChannel
from alerting.errors import DeliveryFailed
from coldchain.catalog.outbox import Notification
from coldchain.catalog.store import create_catalog_engine
from coldchain.errors import ConfigError
from tests.support.secrets_registry import register

_TOKEN = "hook-token-4f1c9a"
_PASSWORD = "catalog-pw-77d2e1"


async def test_a_failed_webhook_names_its_destination_without_the_token() -> None:
    register(_TOKEN)
    channel = WebhookChannel(None, timeout_s=2)
    hook = Notification(
        id=1,
        alert_id="A-1",
        channel="webhook",
        destination=f"http://127.0.0.1:9/hook?token={_TOKEN}",  # discard port: refused
        payload="{}",
        attempts=0,
        dedupe_key=None,
    )
    try:
        with pytest.raises(DeliveryFailed) as failed:
            await channel.send(hook)
    finally:
        await channel.close()
    assert "http://127.0.0.1:9/hook?token=***" in str(failed.value)
    assert _TOKEN not in str(failed.value)
    assert failed.value.__cause__ is None  # httpx's own text quotes the URL


def test_a_bad_catalog_url_is_refused_without_its_password() -> None:
    register(_PASSWORD)
    with pytest.raises(ConfigError) as refused:
        create_catalog_engine(f"postgresql://qa:{_PASSWORD}@db:notaport/coldchain")
    assert "catalog_url" in str(refused.value)
    assert _PASSWORD not in str(refused.value)
