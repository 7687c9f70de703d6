"""Kafka transport: change messages in; results, import progress and dead letters out."""

from idsync.adapters.kafka.codec import ImportEnd, decode, user_message_key
from idsync.adapters.kafka.transport import KafkaTransport

__all__ = ["ImportEnd", "KafkaTransport", "decode", "user_message_key"]
