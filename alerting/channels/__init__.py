"""Notification channels behind one interface: `Channel.send(notification)`."""

from alerting.channels.base import Channel
from alerting.channels.email import EmailChannel
from alerting.channels.mqtt import MqttChannel
from alerting.channels.webhook import WebhookChannel, sign

__all__ = ["Channel", "EmailChannel", "MqttChannel", "WebhookChannel", "sign"]
