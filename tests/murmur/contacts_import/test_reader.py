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


def test_a_header_with_300k_columns_is_refused_on_the_header_line(tmp_path: Path) -> None:
    # Regression: a 2.6 MB file with 300k columns was parsed whole (39 s, 2.6 GB) before the
    # 500-column refusal; now the header is judged from a bounded prefix.
    names = b",".join(b"c%d" % i for i in range(300_000))
    path = _file(tmp_path, b"email," + names + b"\nann@example.com\n")
    with pytest.raises(ImportRefused, match=r"header \(first line\) is longer than 128 KiB"):
        preflight(path)


def test_a_short_header_with_too_many_columns_names_the_limit(tmp_path: Path) -> None:
    # Regression: 501 columns passed the old check (it counted at most 501 typed columns).
    header = b"email," + b",".join(b"c%d" % i for i in range(500))
    path = _file(tmp_path, header + b"\nann@example.com" + b"," * 500 + b"\n")
    with pytest.raises(ImportRefused, match="the file has 501 columns; the limit is 500 columns"):
        preflight(path)


def test_a_quoted_header_with_line_breaks_is_one_record(tmp_path: Path) -> None:
    csv = preflight(_file(tmp_path, b'\r\n"E\nmail",x\nann@example.com,1\n'))
    assert csv.columns.header == ("E\nmail", "x")


@pytest.mark.parametrize("leading_rows", [0, 1000])
def test_a_record_over_the_maximum_size_is_refused_naming_the_limit(
    tmp_path: Path, leading_rows: int
) -> None:
    # Regression: a first record of >= 9 MB raised a pyarrow block-size error (HTTP 500, a CLI
    # traceback); a later one failed the job half-way with the parser's message.
    big = b'ann@example.com,"' + b"x\n" * (9 * 512 * 1024) + b'"\n'
    path = _file(tmp_path, b"email,note\n" + b"bob@example.com,y\n" * leading_rows + big)
    with pytest.raises(ImportRefused) as caught:
        preflight(path)
    line = 2 + leading_rows
    assert caught.value.reason == (
        f"the row starting on line {line:,} is 9.0 MiB; the maximum record size is 1.0 MiB"
    )
    assert caught.value.status_code == 422


def test_record_sizes_are_measured_across_scan_chunks_and_ignore_quoted_line_breaks(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(reader, "_SCAN_BYTES", 7)  # records straddle many chunks
    monkeypatch.setattr(reader, "MAX_RECORD_BYTES", 40)
    ok = b'email,note\r\nann@example.com,"a\nb\r\nc"\n\nbob@example.com,"' + b"y" * 20 + b'"\n'
    assert preflight(_file(tmp_path, ok)).columns.header == ("email", "note")
    too_long = ok + b'cy@example.com,"' + b"z\n" * 15 + b'"'  # 47 bytes, no final line break
    with pytest.raises(ImportRefused, match=r"line 7 is 0\.0 MiB; the maximum record size"):
        preflight(_file(tmp_path, too_long))


def test_a_file_whose_rows_all_have_the_wrong_field_count_reports_each_row(
    tmp_path: Path,
) -> None:
    # Regression: such a file was refused as "the file has a header but no data rows".
    path = _file(tmp_path, b"email,name\nann@example.com\nbob@example.com,Bob,extra\n")
    batches = list(iter_batches(preflight(path)))
    assert sum(b.rows.height for b in batches) == 0
    errors = pl.concat([b.errors for b in batches])
    assert errors.select("row", "column", "reason", "value").rows() == [
        (2, "", "the row has 1 fields; the header has 2", "ann@example.com"),
        (3, "", "the row has 3 fields; the header has 2", "bob@example.com,Bob,extra"),
    ]
