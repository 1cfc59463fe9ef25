"""The webhook and tracking HTTP receiver: ESP events and our own tracking hits → Kafka."""
