from __future__ import annotations

from pathlib import Path

import polars as pl
import pytest

from murmur.contacts_import import reader
from murmur.contacts_import.errors import ImportRefused
from murmur.contacts_import.reader import iter_batches, preflight


def _file(tmp_path: Path, data: bytes) -> Path:
    path = tmp_path / "contacts.csv"
    path.write_bytes(data)
    return path


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (b"", "empty"),
        (b"\xef\xbb\xbf", "empty"),
        (b"email,name\n", "no data rows"),
        (b"email,name\n\n\n", "no data rows"),
        ("email\nann@example.com\n".encode("utf-16"), "UTF-16"),
        ("email,name\nann@example.com,Zoë\n".encode("latin-1"), "not UTF-8.*line 2"),
        (b"PK\x03\x04\x14\x00\x00\x00", "NUL bytes"),
        (b"name,phone\nann,123\n", "no email column"),
        (b'email,name\nann@example.com,"never closed\n', "odd number of double quotes"),
        (b"<html><body>email</body></html>\n", "no email column"),
    ],
)
def test_unusable_files_are_refused_with_the_reason(
    tmp_path: Path, data: bytes, reason: str
) -> None:
    with pytest.raises(ImportRefused, match=reason):
        preflight(_file(tmp_path, data))


def test_a_file_over_the_size_limit_is_refused_with_413(tmp_path: Path) -> None:
    path = _file(tmp_path, b"email\n" + b"ann@example.com\n" * 100)
    with pytest.raises(ImportRefused, match="limit") as caught:
        preflight(path, max_bytes=1000)
    assert caught.value.status_code == 413


def test_utf8_with_bom_and_crlf_line_ends_is_accepted(tmp_path: Path) -> None:
    csv = preflight(_file(tmp_path, b"\xef\xbb\xbfEmail,Name\r\nann@example.com,Zo\xc3\xab\r\n"))
    assert csv.columns.header == ("Email", "Name")
    rows = pl.concat([b.rows for b in iter_batches(csv)])
    assert rows.rows() == [("ann@example.com", "Zoë", 2)]


def test_rows_are_numbered_as_records_across_batches_with_malformed_rows_reported(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(reader, "BLOCK_BYTES", 64)  # many small batches
    body = [b"email,note\n"]
    body += [b"a%d@example.com,x\n" % i for i in range(10)]  # rows 2-11
    body += [b'q@example.com,"a\nb",extra\n', b"lonely\n"]  # rows 12-13: wrong field counts
    body += [b'c%d@example.com,"multi\nline, with comma"\n' % i for i in range(10)]  # 14-23
    csv = preflight(_file(tmp_path, b"".join(body)))
    batches = list(iter_batches(csv))
    assert len(batches) > 3
    rows = pl.concat([b.rows for b in batches])
    errors = pl.concat([b.errors for b in batches])
    assert rows["row"].to_list() == [*range(2, 12), *range(14, 24)]
    assert rows.filter(pl.col("row") == 14)["f1"].item() == "multi\nline, with comma"
    assert errors.select("row", "reason").rows() == [
        (12, "the row has 3 fields; the header has 2"),
        (13, "the row has 1 fields; the header has 2"),
    ]
