"""Postgres: engine factory, schema (tables.py) and Alembic migrations."""
