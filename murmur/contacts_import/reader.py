"""Read an uploaded CSV: refuse unusable files up front, then stream it in numbered batches.

Row numbers are CSV records counted from the header (row 1), as a spreadsheet shows them: a
quoted value with line breaks stays one row; blank lines are not counted.

Work is bounded before anything is parsed: the header is found in the first MAX_HEADER_BYTES
and refused there when it is longer or has more than MAX_COLUMNS columns; the whole-file scan
refuses any record longer than MAX_RECORD_BYTES (the parser reads BLOCK_BYTES at a time, and a
record must fit in a block).
"""

from __future__ import annotations

import codecs
import csv as pycsv
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import polars as pl
import pyarrow as pa
import pyarrow.csv as pacsv

from murmur.contacts_import.errors import ImportFailed, ImportRefused, clip
from murmur.contacts_import.headers import ColumnMap, map_header
from murmur.contacts_import.rows import ERROR_SCHEMA, ROW

DEFAULT_MAX_BYTES = 512 * 1024 * 1024
MAX_COLUMNS = 500
MAX_HEADER_BYTES = 128 * 1024
MAX_RECORD_BYTES = 1024 * 1024
BLOCK_BYTES = 4 * 1024 * 1024  # at least 2 x MAX_RECORD_BYTES
_SCAN_BYTES = 8 * 1024 * 1024
_BOMS = {
    codecs.BOM_UTF32_LE: "UTF-32",
    codecs.BOM_UTF32_BE: "UTF-32",
    codecs.BOM_UTF16_LE: "UTF-16",
    codecs.BOM_UTF16_BE: "UTF-16",
}
_SAVE_AS = "save it as 'CSV UTF-8' and upload again"
_NONE = np.zeros(0, dtype=np.intp)


@dataclass(frozen=True)
class CsvFile:
    """A file that passed the up-front checks."""

    path: Path
    size: int
    columns: ColumnMap
    estimated_rows: int  # data lines; exact unless values contain line breaks


def _mib(n: int) -> str:
    return f"{n / (1024 * 1024):.1f} MiB"


def _check_header(path: Path) -> None:
    """Refuse a header that is too long or too wide, reading at most MAX_HEADER_BYTES."""
    with path.open("rb") as fh:
        prefix = fh.read(MAX_HEADER_BYTES + 1)
    prefix = prefix.removeprefix(codecs.BOM_UTF8)
    start = len(prefix) - len(prefix.lstrip(b"\r\n"))  # the parser skips blank lines
    end = _record_end(prefix, start)
    if end is None:
        if len(prefix) > MAX_HEADER_BYTES:
            raise ImportRefused(
                f"the header (first line) is longer than {MAX_HEADER_BYTES // 1024} KiB, the "
                f"limit; a header has at most {MAX_COLUMNS} column names"
            )
        end = len(prefix)
    text = prefix[start:end].decode("utf-8", errors="replace")
    try:
        header = next(pycsv.reader([text]), [])
    except pycsv.Error as exc:
        raise ImportRefused(f"the header is not readable CSV: {exc}") from None
    if len(header) > MAX_COLUMNS:
        raise ImportRefused(
            f"the file has {len(header):,} columns; the limit is {MAX_COLUMNS} columns"
        )


def _record_end(data: bytes, start: int) -> int | None:
    """Where the record starting at `start` ends (a line break outside quotes), if in `data`."""
    quoted = False
    for i in range(start, len(data)):
        byte = data[i]
        if byte == 0x22:
            quoted = not quoted
        elif byte in (0x0A, 0x0D) and not quoted:
            return i
    return None


class _Records:
    """Track record boundaries (line breaks outside quotes) across chunks: the longest record."""

    def __init__(self) -> None:
        self.quotes = 0  # double quotes so far
        self.last_end = -1  # file offset of the last record-ending line break
        self.longest = 0
        self.longest_at = 0  # file offset where the longest record starts

    def feed(self, chunk: bytes, offset: int) -> None:
        data = np.frombuffer(chunk, dtype=np.uint8)
        # bytes.count is far cheaper than a numpy pass: skip the passes a chunk does not need
        quotes = np.flatnonzero(data == 0x22) if b'"' in chunk else _NONE
        is_break = data == 0x0A
        if b"\r" in chunk:
            is_break |= data == 0x0D
        breaks = np.flatnonzero(is_break)
        # a break ends a record when an even number of quotes precede it in the file
        before = np.searchsorted(quotes, breaks) + (self.quotes & 1)
        ends = breaks[(before & 1) == 0] + offset
        self.quotes += len(quotes)
        self._measure(np.concatenate(([self.last_end], ends)))
        if len(ends):
            self.last_end = int(ends[-1])

    def finish(self, size: int) -> None:
        self._measure(np.array([self.last_end, size]))

    def _measure(self, ends: np.ndarray) -> None:
        if len(ends) < 2:
            return
        lengths = np.diff(ends) - 1
        i = int(np.argmax(lengths))
        if lengths[i] > self.longest:
            self.longest, self.longest_at = int(lengths[i]), int(ends[i]) + 1


def _line_of(path: Path, offset: int) -> int:
    lines = 1
    with path.open("rb") as fh:
        while offset > 0 and (chunk := fh.read(min(_SCAN_BYTES, offset))):
            lines += chunk.count(b"\n")
            offset -= len(chunk)
    return lines


def _scan(path: Path) -> tuple[int, int]:
    """Check encoding, quoting and record sizes of the whole file; return (line breaks, last byte).

    Memory stays bounded (one chunk at a time) whatever the file holds.
    """
    decoder = codecs.getincrementaldecoder("utf-8")("strict")
    lines = offset = 0
    last = 0
    records = _Records()
    with path.open("rb") as fh:
        while chunk := fh.read(_SCAN_BYTES):
            try:
                decoder.decode(chunk)
            except UnicodeDecodeError as exc:
                pos = max(exc.start, 0)
                line = lines + chunk[:pos].count(b"\n") + 1
                byte = chunk[pos : pos + 1].hex().upper() or "?"
                raise ImportRefused(
                    f"the file is not UTF-8 text (byte 0x{byte} on line {line}, file offset "
                    f"{offset + pos}); other encodings such as Latin-1 or Windows-1252 are not "
                    f"supported: {_SAVE_AS}"
                ) from None
            nul = chunk.find(b"\x00")
            if nul >= 0:
                line = lines + chunk[:nul].count(b"\n") + 1
                raise ImportRefused(
                    f"the file contains NUL bytes (line {line}):"
                    " it is binary, not CSV text (a spreadsheet such as .xlsx? export it as CSV)"
                )
            lines += chunk.count(b"\n")
            records.feed(chunk, offset)
            offset += len(chunk)
            last = chunk[-1]
        try:
            decoder.decode(b"", final=True)
        except UnicodeDecodeError:
            raise ImportRefused(f"the file ends in the middle of a UTF-8 character: {_SAVE_AS}")
    if records.quotes % 2:
        raise ImportRefused(
            "the file has an odd number of double quotes: a quoted value is never closed, so "
            "where rows end cannot be known"
        )
    records.finish(offset)
    if records.longest > MAX_RECORD_BYTES:
        raise ImportRefused(
            f"the row starting on line {_line_of(path, records.longest_at):,} is "
            f"{_mib(records.longest)}; the maximum record size is {_mib(MAX_RECORD_BYTES)}"
        )
    return lines, last


def _open(path: Path, on_invalid: Callable[[pacsv.InvalidRow], str]) -> pacsv.CSVStreamingReader:
    """A streaming reader yielding every record (the header first) as string columns f0, f1, ..."""
    return pacsv.open_csv(
        path,
        read_options=pacsv.ReadOptions(
            use_threads=False,  # serial parsing numbers the rows handed to `on_invalid`
            block_size=BLOCK_BYTES,
            autogenerate_column_names=True,
        ),
        parse_options=pacsv.ParseOptions(newlines_in_values=True, invalid_row_handler=on_invalid),
        convert_options=pacsv.ConvertOptions(
            column_types={f"f{i}": pa.string() for i in range(MAX_COLUMNS + 1)},
            strings_can_be_null=False,
            quoted_strings_can_be_null=False,
        ),
    )


def preflight(path: Path, max_bytes: int = DEFAULT_MAX_BYTES) -> CsvFile:
    """Check the whole file before anything is written; raise ImportRefused saying why not."""
    size = path.stat().st_size
    if size > max_bytes:
        raise ImportRefused(
            f"the file is {_mib(size)}; the limit is {_mib(max_bytes)}: split it", 413
        )
    with path.open("rb") as fh:
        head = fh.read(4)
    for bom, name in _BOMS.items():
        if head.startswith(bom):
            raise ImportRefused(f"the file is {name} encoded: {_SAVE_AS}")
    if size == 0 or head == codecs.BOM_UTF8:
        raise ImportRefused("the file is empty")
    _check_header(path)
    lines, last = _scan(path)
    malformed = 0

    def count_malformed(row: pacsv.InvalidRow) -> str:
        nonlocal malformed
        malformed += 1
        return "skip"

    try:
        reader = _open(path, count_malformed)
        first = reader.read_next_batch()
        if first.num_columns > MAX_COLUMNS:
            raise ImportRefused(f"the file has more than {MAX_COLUMNS} columns")
        header = [str(v) for v in first.slice(0, 1).to_pylist()[0].values()]
        columns = map_header(header)
        # rows with the wrong number of fields count: the import reports each of them
        has_rows = first.num_rows > 1 or malformed > 0
        while not has_rows:
            has_rows = reader.read_next_batch().num_rows > 0 or malformed > 0
    except StopIteration:
        has_rows = False
    except pa.ArrowInvalid as exc:
        raise ImportRefused(f"the file is not a readable CSV file: {exc}") from None
    if not has_rows:
        raise ImportRefused("the file has a header but no data rows")
    estimated = max(lines + (0 if last == ord("\n") else 1) - 1, 1)
    return CsvFile(path, size, columns, estimated)


@dataclass
class Batch:
    rows: pl.DataFrame  # `row` + f0…fN, all strings
    errors: pl.DataFrame  # malformed records (wrong number of fields), ERROR_SCHEMA


def _numbers(first: int, count: int, skipped: list[int], p: int) -> tuple[list[int], int]:
    """The `count` record numbers from `first` on that are not in `skipped[p:]` (sorted)."""
    end = first + count
    while True:
        gaps = 0
        while p + gaps < len(skipped) and skipped[p + gaps] < end:
            gaps += 1
        if end - first - gaps == count:
            break
        end = first + count + gaps
    holes = set(skipped[p : p + gaps])
    return [i for i in range(first, end) if i not in holes], p + gaps


def iter_batches(csv: CsvFile) -> Iterator[Batch]:
    """Stream the data rows with their row numbers.

    Records with the wrong number of fields become errors (reported, not loaded).
    """
    skipped: list[int] = []
    bad_rows: list[tuple[int, str, str]] = []

    def on_invalid(row: pacsv.InvalidRow) -> str:
        if row.number is None:  # only known with serial parsing, which _open asks for
            return "error"
        reason = f"the row has {row.actual_columns} fields; the header has {row.expected_columns}"
        skipped.append(row.number)
        bad_rows.append((row.number, reason, clip(row.text)))
        return "skip"

    reader = _open(csv.path, on_invalid)
    next_number = 1  # the header is record 1
    p = reported = 0
    try:
        for batch in reader:
            numbers, p = _numbers(next_number, batch.num_rows, skipped, p)
            frame = pl.from_arrow(batch)
            if not isinstance(frame, pl.DataFrame):  # a record batch always converts to a frame
                raise TypeError(f"expected a DataFrame from a record batch, got {type(frame)}")
            frame = frame.with_columns(pl.Series(ROW, numbers, dtype=pl.Int64))
            if next_number == 1:
                frame = frame.slice(1)  # the header
            next_number = numbers[-1] + 1 if numbers else next_number
            new = bad_rows[reported:]
            reported = len(bad_rows)
            errors = pl.DataFrame(
                {
                    ROW: [r[0] for r in new],
                    "column": [""] * len(new),
                    "reason": [r[1] for r in new],
                    "value": [r[2] for r in new],
                },
                schema=ERROR_SCHEMA,
            )
            yield Batch(frame, errors)
    except pa.ArrowInvalid as exc:
        if "straddl" in str(exc):  # a record larger than a block (the file changed since)
            raise ImportFailed(
                f"the CSV could not be parsed: a row is larger than the maximum record size "
                f"({_mib(MAX_RECORD_BYTES)})"
            ) from None
        raise ImportFailed(f"the CSV could not be parsed: {exc}") from None
