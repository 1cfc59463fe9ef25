"""Event ingestion: the webhook + tracking receiver and the Kafka → ClickHouse consumer."""
