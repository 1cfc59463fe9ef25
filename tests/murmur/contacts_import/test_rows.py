from __future__ import annotations

import polars as pl

from murmur.contacts_import.headers import map_header
from murmur.contacts_import.rows import parse_ips, parse_timestamps, validate_batch


def _batch(header: list[str], *rows: list[str]) -> pl.DataFrame:
    data: dict[str, list[object]] = {"row": list(range(2, len(rows) + 2))}
    for i in range(len(header)):
        data[f"f{i}"] = [r[i] for r in rows]
    return pl.DataFrame(
        data, schema={"row": pl.Int64, **{f"f{i}": pl.String for i in range(len(header))}}
    )


def test_good_rows_are_normalized_and_empty_cells_become_null() -> None:
    header = ["E-mail", "First Name", "Last Name", "Status", "Plan"]
    good, errors = validate_batch(
        _batch(header, [" Ann@Example.COM ", " Ann ", "", "Unsubscribed", "pro"]),
        map_header(header),
    )
    assert errors.height == 0
    assert good.row(0, named=True) == {
        "row": 2,
        "email": "ann@example.com",
        "first_name": "Ann",
        "last_name": None,
        "status": "unsubscribed",
        "consent_source": None,
        "consent_at": None,
        "consent_ip": None,
        "custom_fields": '{"plan":"pro"}',
    }


def test_a_row_with_any_bad_field_is_rejected_and_each_bad_field_reported() -> None:
    header = ["email", "status", "consent_at", "consent_ip"]
    good, errors = validate_batch(
        _batch(
            header,
            ["ok@example.com", "subscribed", "2024-05-31T12:00:00Z", "192.0.2.1"],
            ["not-an-email", "maybe", "31/05/2024", "300.1.2.3"],
            ["", "", "", ""],
        ),
        map_header(header),
    )
    assert good["row"].to_list() == [2]
    assert sorted(errors.select("row", "column").rows()) == [
        (3, "consent_at"),
        (3, "consent_ip"),
        (3, "email"),
        (3, "status"),
        (4, "email"),
    ]
    assert errors.filter(pl.col("column") == "status")["value"].item() == "maybe"


def test_timestamps_accept_iso_dates_and_offsets_and_store_utc() -> None:
    values = pl.Series(
        [
            "2024-05-31T12:00:00Z",
            "2024-05-31 14:00:00+02:00",
            "2024-05-31",
            "2024-05-31T12:00",
            "2024-02-30T00:00:00Z",
            "yesterday",
            None,
        ]
    )
    out, bad = parse_timestamps(values)
    assert out.to_list()[:4] == [
        "2024-05-31T12:00:00.000000+00:00",
        "2024-05-31T12:00:00.000000+00:00",
        "2024-05-31T00:00:00+00:00",
        "2024-05-31T12:00:00+00:00",
    ]
    assert bad.to_list() == [False, False, False, False, True, True, False]


def test_ip_addresses_accept_v4_and_v6_and_reject_the_rest() -> None:
    out, bad = parse_ips(pl.Series(["192.0.2.1", "2001:DB8::1", "010.1.1.1", "fe80::1%eth0", None]))
    assert out.to_list()[:2] == ["192.0.2.1", "2001:db8::1"]
    assert bad.to_list() == [False, False, True, True, False]
