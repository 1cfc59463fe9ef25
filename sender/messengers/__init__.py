"""Messengers deliver rendered messages: `smtp` (a relay or the local sink)."""
