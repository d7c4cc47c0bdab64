"""What every MQTT connection of the project sets the same way: credentials and TLS."""

from __future__ import annotations

import paho.mqtt.client as paho

from coldchain.config import MqttEndpoint

__all__ = ["authenticate"]


def authenticate(client: paho.Client, endpoint: MqttEndpoint) -> None:
    """Credentials and TLS of `endpoint` on a paho client, the same for every service.

    With mqtts:// the broker's certificate and host name are verified, against a private CA
    when `endpoint.ca_file` names one, else against the system's CAs.
    """
    if endpoint.username:
        client.username_pw_set(endpoint.username, endpoint.password)
    if endpoint.tls:
        client.tls_set(ca_certs=str(endpoint.ca_file) if endpoint.ca_file else None)
