"""Analytics core: Postgres → ClickHouse replication, GDPR erasure there, the dbt profile."""
