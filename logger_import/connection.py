"""The import station's broker connection: the import account, not a site's gateway.

A logger imported at the destination publishes its readings under its origin site
(design.md §10), so with a gateway's account an import station would need the password of
every origin site's gateway. `coldchain broker config` creates `coldchain-import`, which
may write logger readings of any site and nothing else (`coldchain.broker_auth`). An import
is not a gateway: it announces no gateway status and leaves no last will (the account may
not write them). A PUBACK the broker refuses (MQTT 5 reason "not authorized") fails the
import, so nothing is recorded in the catalog for readings the broker dropped.
"""

from __future__ import annotations

from coldchain.broker_auth import IMPORT_ACCOUNT, IMPORT_SECRET
from coldchain.config import MqttEndpoint, Settings
from coldchain.mqtt import MqttPublisher
from coldchain.security.secrets import read_secret_file, secret_path

__all__ = ["ImportConnection", "import_endpoint"]


def import_endpoint(settings: Settings) -> MqttEndpoint:
    """The broker as the import account: a user named in `COLDCHAIN_MQTT_URL` wins (with
    its password or `COLDCHAIN_MQTT_PASSWORD_FILE`); otherwise `coldchain-import` with the
    password file, else `{data_dir}/secrets/mqtt-import.secret` when there is one (a broker
    without authentication needs none).

    Raises:
        ConfigError: a secret file that is unreadable or readable by others.
    """
    endpoint = settings.mqtt
    if endpoint.username is not None:
        return endpoint
    endpoint.username = IMPORT_ACCOUNT
    if endpoint.password is None:
        secret = secret_path(settings.data_dir, IMPORT_SECRET)
        if secret.exists():
            endpoint.password = read_secret_file(secret)
    return endpoint


class ImportConnection(MqttPublisher):
    """`MqttPublisher` for a logger import: no gateway status, no will, and refused
    messages fail `flush` instead of counting as delivered."""

    def __init__(self, endpoint: MqttEndpoint, site: str, *, client_id: str) -> None:
        super().__init__(endpoint, site=site, gateway=IMPORT_ACCOUNT, client_id=client_id)
        self._client.will_clear()

    async def publish(self, topic: str, payload: bytes, *, retain: bool = False) -> None:
        if topic == self.status_topic:  # connect and close announce a gateway's state
            return
        await super().publish(topic, payload, retain=retain)

    async def flush(self, timeout_s: float = 30.0) -> None:
        """Wait for every PUBACK.

        Raises:
            MqttPublishFailed: the broker refused some messages (and dropped them).
            TimeoutError: not every message was acknowledged in time.
        """
        await super().flush(timeout_s)
        self.check_delivered()
