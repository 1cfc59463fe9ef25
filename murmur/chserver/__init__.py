"""Local ClickHouse server: chdb (ClickHouse in-process) behind ClickHouse's HTTP interface.

Run it with ``python -m murmur.chserver --data-dir DIR --port N``; embed it with
`murmur.chserver.server.serve`. clickhouse-connect and dbt-clickhouse talk to it unchanged.
"""
