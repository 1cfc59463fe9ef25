"""Kafka → ClickHouse consumer (and the feedback consumer's run loop), in arroyo's shape.

config → strategies: decode → validate → batch (size and time) → enrich → sink (ClickHouse
insert, or the Postgres feedback loop) → commit offsets last. Poison messages go to the DLQ;
a sink that cannot take a batch raises `MessageRejected` and the processor pauses and retries.
"""
