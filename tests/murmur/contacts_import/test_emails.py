from __future__ import annotations

import random

import polars as pl
import pytest

from murmur.contacts_import.emails import fast_path_mask, normalize_emails
from murmur.email_address import InvalidEmail, normalize_email

TRICKY = [
    "Ann.Lee@Example.COM",
    "  padded@example.com  ",
    "\tTAB@EXAMPLE.ORG\t",
    "UPPER.CASE+Tag@Sub.Domain.Example.IO",
    '"quoted local"@example.com',
    '"a@b"@example.com',
    "user@bücher.de",
    "user@xn--bcher-kva.de",
    "δοκιμή@παράδειγμα.δοκιμή",
    "üñî@example.com",
    "trailing.dot.@example.com",
    ".leading.dot@example.com",
    "two..dots@example.com",
    "user@example.com.",
    "user@example..com",
    "user@-example.com",
    "user@example-.com",
    "user@ab--cd.com",
    "user@localhost",
    "user@example.local",
    "user@example.test",
    "user@sub.example.invalid",
    "user@example",
    "user@example.c",
    "user@123.com",
    "user@example.123",
    "user@[127.0.0.1]",
    "Ann <ann@example.com>",
    "a b@example.com",
    "@example.com",
    "user@",
    "",
    "   ",
    "a@b@example.com",
    "x" * 64 + "@example.com",
    "x" * 65 + "@example.com",
    "user@" + "a" * 63 + ".com",
    "user@" + "a" * 64 + ".com",
    "u@" + ".".join(["a" * 60] * 4) + ".com",
    "!#$%&'*+/=?^_`{|}~-@example.com",
    "user\u200b@example.com",
    "user@example.com\n",
    "user@ex_ample.com",
    "INFO@Example.com",
    "user@EXAMPLE.CoM",
    "user@example.xn--p1ai",
]

_ALPHABET = "abcXYZ019.-_+@ \t\"'!#~äß."


def _random_addresses(n: int, seed: int = 4) -> list[str]:
    rng = random.Random(seed)
    out = []
    for _ in range(n):
        local = "".join(rng.choice(_ALPHABET) for _ in range(rng.randint(0, 12)))
        labels = [
            "".join(rng.choice("abcXYZ019-.") for _ in range(rng.randint(0, 8)))
            for _ in range(rng.randint(1, 3))
        ]
        tld = rng.choice(["com", "IO", "de", "test", "c0m", "x", "local", ""])
        out.append(f"{local}@{'.'.join(labels)}.{tld}" if rng.random() < 0.9 else local)
    return out


def _expected(value: str) -> str | None:
    try:
        return normalize_email(value)
    except InvalidEmail:
        return None


@pytest.mark.parametrize("sample", ["tricky", "random"])
def test_fast_path_accepts_only_addresses_normalize_email_accepts_identically(sample: str) -> None:
    values = TRICKY if sample == "tricky" else _random_addresses(5000)
    mask = fast_path_mask(pl.Series(values, dtype=pl.String)).to_list()
    accepted = [v for v, fast in zip(values, mask, strict=True) if fast]
    assert accepted, "the sample must exercise the fast path"
    for value in accepted:
        assert normalize_email(value) == value.strip(" \t").lower(), value


@pytest.mark.parametrize("sample", ["tricky", "random"])
def test_vectorized_results_equal_normalize_email_on_every_value(sample: str) -> None:
    values = TRICKY if sample == "tricky" else _random_addresses(5000)
    result = normalize_emails(pl.Series(values, dtype=pl.String))
    for value, email, error in zip(values, result["email"], result["email_error"], strict=True):
        assert email == _expected(value), value
        assert (error is None) == (email is not None), value


def test_the_fast_path_leaves_unicode_quoted_and_idn_addresses_to_email_validator() -> None:
    undecided = [
        '"quoted local"@example.com',
        "user@bücher.de",
        "user@xn--bcher-kva.de",
        "üñî@example.com",
        "user@example.test",
    ]
    assert not any(fast_path_mask(pl.Series(undecided)).to_list())
    assert normalize_emails(pl.Series(["user@xn--bcher-kva.de"]))["email"][0] == "user@bücher.de"


def test_missing_and_blank_emails_say_the_email_is_empty() -> None:
    result = normalize_emails(pl.Series([None, "", "  "], dtype=pl.String))
    assert result["email_error"].to_list() == ["email is empty"] * 3
