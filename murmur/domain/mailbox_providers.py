"""Recipient domain → mailbox provider: the dbt seed `mailbox_providers`, readable from Python.

The deliverability marts classify recipients with `dbt_project/seeds/mailbox_providers.csv`; the
sender's per-provider rate limits must classify them the same way, so this is a copy of that seed
(`tests/murmur/domain/test_mailbox_providers.py` fails when the two differ). Domains not listed
are "Other", as in the marts.
"""

from __future__ import annotations

from typing import Literal

# The mart's display names (the seed's `mailbox_provider` column) and the sender's short keys.
ProviderKey = Literal["gmail", "yahoo", "outlook", "icloud", "other"]
PROVIDER_KEYS: tuple[ProviderKey, ...] = ("gmail", "yahoo", "outlook", "icloud", "other")
DISPLAY_NAMES: dict[ProviderKey, str] = {
    "gmail": "Gmail",
    "yahoo": "Yahoo",
    "outlook": "Outlook/Hotmail",
    "icloud": "Apple iCloud",
    "other": "Other",
}
_KEY_OF_NAME = {name: key for key, name in DISPLAY_NAMES.items()}

SEED_ROWS: tuple[tuple[str, str], ...] = (
    ("gmail.com", "Gmail"),
    ("googlemail.com", "Gmail"),
    ("yahoo.com", "Yahoo"),
    ("yahoo.co.uk", "Yahoo"),
    ("yahoo.fr", "Yahoo"),
    ("yahoo.de", "Yahoo"),
    ("yahoo.co.jp", "Yahoo"),
    ("ymail.com", "Yahoo"),
    ("rocketmail.com", "Yahoo"),
    ("aol.com", "Yahoo"),
    ("outlook.com", "Outlook/Hotmail"),
    ("hotmail.com", "Outlook/Hotmail"),
    ("hotmail.co.uk", "Outlook/Hotmail"),
    ("hotmail.fr", "Outlook/Hotmail"),
    ("live.com", "Outlook/Hotmail"),
    ("msn.com", "Outlook/Hotmail"),
    ("outlook.fr", "Outlook/Hotmail"),
    ("icloud.com", "Apple iCloud"),
    ("me.com", "Apple iCloud"),
    ("mac.com", "Apple iCloud"),
)
_BY_DOMAIN: dict[str, ProviderKey] = {domain: _KEY_OF_NAME[name] for domain, name in SEED_ROWS}


def provider_of_domain(domain: str | None) -> ProviderKey:
    """The provider key of a recipient domain (`other` when unknown or missing)."""
    if not domain:
        return "other"
    return _BY_DOMAIN.get(domain.strip().lower().rstrip("."), "other")


def provider_of_address(address: str | None) -> ProviderKey:
    """The provider key of a recipient address."""
    if not address or "@" not in address:
        return "other"
    return provider_of_domain(address.rsplit("@", 1)[1].rstrip(">"))


def display_name(key: ProviderKey) -> str:
    """The name the marts use (`mailbox_provider` column) for a provider key."""
    return DISPLAY_NAMES[key]
