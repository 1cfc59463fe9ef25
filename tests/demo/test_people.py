"""The demo's generated contacts and CSV: deterministic, a realistic provider mix, planted rows."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

from murmur.demo.people import (
    CORPORATE_DOMAINS,
    DUPLICATE_EVERY,
    INVALID_EVERY,
    generate_people,
    write_csv,
)


def test_the_same_seed_gives_the_same_file_byte_for_byte(tmp_path: Path) -> None:
    a, b, c = tmp_path / "a.csv", tmp_path / "b.csv", tmp_path / "c.csv"
    write_csv(a, generate_people(500, seed=3), seed=3)
    write_csv(b, generate_people(500, seed=3), seed=3)
    write_csv(c, generate_people(500, seed=4), seed=4)
    assert a.read_bytes() == b.read_bytes()
    assert a.read_bytes() != c.read_bytes()


def test_people_have_distinct_addresses_and_a_mix_of_mailbox_providers() -> None:
    people = generate_people(3000, seed=7)
    assert len({p.email for p in people}) == 3000
    domains = Counter(p.domain for p in people)
    consumers = ("gmail.com", "yahoo.com", "outlook.com", "hotmail.com", "icloud.com", "me.com")
    for consumer in consumers:
        assert domains[consumer] > 0, consumer
    assert 0.2 < sum(domains[d] for d in CORPORATE_DOMAINS) / 3000 < 0.35
    assert 0.25 < domains["gmail.com"] / 3000 < 0.4
    assert {p.plan for p in people} == {"free", "pro", "team"}
    assert len({p.country for p in people}) >= 10


def test_the_csv_plants_invalid_and_duplicate_rows(tmp_path: Path) -> None:
    people = generate_people(1000, seed=7)
    stats = write_csv(tmp_path / "x.csv", people, seed=7)
    assert stats.invalid == 1000 // INVALID_EVERY
    assert stats.duplicates == 1000 // DUPLICATE_EVERY
    assert stats.rows == 1000 + stats.invalid + stats.duplicates
    lines = (tmp_path / "x.csv").read_text(encoding="utf-8-sig").splitlines()
    assert lines[0].startswith("E-mail,First Name,last_name,Plan,Country,Signup Date")
    assert len(lines) == stats.rows + 1
