"""Domain rules on top of the schema: accounts and keys, consent, suppression, GDPR, campaigns.

Functions take a SQLAlchemy `Connection` and the caller owns the transaction.
"""
