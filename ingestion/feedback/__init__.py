"""The feedback consumer: bounces, complaints and unsubscribes → Postgres suppressions."""
