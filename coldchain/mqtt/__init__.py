"""MQTT on the asyncio loop over paho-mqtt 2.x: the subscriber that acks only what the
application made durable (ingest, the detector) and the publisher a gateway uses (the
simulators, the USB logger import). paho's socket is driven by the event loop in both."""

from __future__ import annotations

from coldchain.mqtt.connection import authenticate
from coldchain.mqtt.publisher import MqttPublisher
from coldchain.mqtt.subscriber import Delivery, MqttSubscriber

__all__ = ["Delivery", "MqttPublisher", "MqttSubscriber", "authenticate"]
