"""The sender's mailbox-provider mapping is the deliverability mart's dbt seed, row for row."""

from __future__ import annotations

import csv
from pathlib import Path

from murmur.domain.mailbox_providers import (
    DISPLAY_NAMES,
    SEED_ROWS,
    provider_of_address,
    provider_of_domain,
)

SEED = Path(__file__).resolve().parents[3] / "dbt_project" / "seeds" / "mailbox_providers.csv"


def test_the_python_mapping_and_the_dbt_seed_agree_row_for_row() -> None:
    with SEED.open(newline="") as f:
        seed = [(row["domain"], row["mailbox_provider"]) for row in csv.DictReader(f)]
    assert sorted(seed) == sorted(SEED_ROWS)
    assert {name for _, name in seed} <= set(DISPLAY_NAMES.values())


def test_addresses_map_to_provider_keys_and_unknown_domains_are_other() -> None:
    assert provider_of_address("Someone@GMail.com") == "gmail"
    assert provider_of_address("a@googlemail.com") == "gmail"
    assert provider_of_address("a@aol.com") == "yahoo"
    assert provider_of_address("a@hotmail.co.uk") == "outlook"
    assert provider_of_address("a@me.com") == "icloud"
    assert provider_of_address("a@example.org") == "other"
    assert provider_of_address("not-an-address") == "other"
    assert provider_of_domain(None) == "other"
