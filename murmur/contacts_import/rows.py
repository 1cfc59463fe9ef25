"""Validate one batch of CSV rows (all columns as strings) into contact rows and row errors.

Every check is vectorized with polars; values it cannot decide go to a per-distinct-value Python
fallback (email_validator, `datetime.fromisoformat`, `ipaddress`). A row with any bad field is
rejected whole and every bad field of it is reported.
"""

from __future__ import annotations

import ipaddress
import json
from collections.abc import Callable
from datetime import UTC, datetime

import polars as pl

from murmur.contacts_import.emails import normalize_emails
from murmur.contacts_import.errors import MAX_VALUE_CHARS
from murmur.contacts_import.headers import ColumnMap

STATUSES: tuple[str, ...] = ("subscribed", "unsubscribed", "bounced", "complained")
MAX_TEXT_CHARS = 1000
ROW = "row"
# Columns of a validated batch, in COPY order.
CONTACT_COLUMNS: tuple[str, ...] = (
    ROW,
    "email",
    "first_name",
    "last_name",
    "status",
    "consent_source",
    "consent_at",
    "consent_ip",
    "custom_fields",  # a JSON object: the custom columns that have a value
)
ERROR_SCHEMA: dict[str, type[pl.DataType]] = {
    ROW: pl.Int64,
    "column": pl.String,
    "reason": pl.String,
    "value": pl.String,
}
_IPV4_OCTET = r"(?:25[0-5]|2[0-4][0-9]|1[0-9]{2}|[1-9]?[0-9])"
_IPV4 = rf"^(?:{_IPV4_OCTET}\.){{3}}{_IPV4_OCTET}$"
_TS_FORMAT = "%Y-%m-%dT%H:%M:%S%.f%#z"
_TS_OUT = "%Y-%m-%dT%H:%M:%S%.6f+00:00"


def _nulls(name: str, n: int) -> pl.Series:
    return pl.repeat(None, n, dtype=pl.String, eager=True).alias(name)


def empty_errors() -> pl.DataFrame:
    return pl.DataFrame(schema=ERROR_SCHEMA)


def _clean(col: pl.Series) -> pl.Series:
    """Trimmed text; empty cells become null ("no value")."""
    s = col.str.strip_chars()
    return pl.select(pl.when(s.str.len_bytes() > 0).then(s)).to_series().alias(col.name)


def _fallback(
    values: pl.Series, undecided: pl.Series, check: Callable[[str], str | None]
) -> tuple[pl.Series, pl.Series]:
    """Run `check` (value → canonical or None if invalid) on the undecided rows, per value."""
    idx = undecided.arg_true()
    out = _nulls(values.name, len(values))
    bad = pl.repeat(False, len(values), eager=True)
    if len(idx):
        cache: dict[str, str | None] = {}
        results = []
        for v in values.gather(idx).to_list():
            if v not in cache:
                cache[v] = check(v)
            results.append(cache[v])
        out = out.scatter(idx, pl.Series(results, dtype=pl.String))
        bad = bad.scatter(idx, pl.Series([r is None for r in results]))
    return out, bad


def _iso_timestamp(value: str) -> str | None:
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        return None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.astimezone(UTC).isoformat()


def _ip_address(value: str) -> str | None:
    if "%" in value:
        return None
    try:
        return str(ipaddress.ip_address(value))
    except ValueError:
        return None


def parse_timestamps(col: pl.Series) -> tuple[pl.Series, pl.Series]:
    """(UTC ISO strings or null, bad mask): ISO 8601 dates/datetimes; naive means UTC."""
    present = col.is_not_null()
    fixed = col.str.replace(r"^(\d{4}-\d{2}-\d{2}) ", "${1}T")
    fast = fixed.str.to_datetime(_TS_FORMAT, strict=False, time_unit="us", time_zone="UTC")
    fast_out = fast.dt.to_string(_TS_OUT)
    slow_out, slow_bad = _fallback(col, present & fast.is_null(), _iso_timestamp)
    out = pl.select(pl.coalesce(fast_out, slow_out)).to_series().alias(col.name)
    return out, slow_bad


def parse_ips(col: pl.Series) -> tuple[pl.Series, pl.Series]:
    """(canonical IP strings or null, bad mask): IPv4 dotted quads and IPv6 addresses."""
    fast = col.str.contains(_IPV4).fill_null(False)
    slow_out, slow_bad = _fallback(col, col.is_not_null() & ~fast, _ip_address)
    out = pl.select(pl.when(fast).then(col).otherwise(slow_out)).to_series().alias(col.name)
    return out, slow_bad


def _error_frame(
    rows: pl.Series, mask: pl.Series, column: str, reason: pl.Series | str, raw: pl.Series
) -> pl.DataFrame:
    """One error per row where `mask` is true (built for those rows only: errors are rare)."""
    if not mask.any():
        return empty_errors()
    bad_rows = rows.filter(mask)
    n = len(bad_rows)
    reasons = (
        reason.filter(mask) if isinstance(reason, pl.Series) else pl.repeat(reason, n, eager=True)
    )
    return pl.DataFrame(
        {
            ROW: bad_rows,
            "column": pl.repeat(column, n, eager=True),
            "reason": reasons,
            "value": raw.filter(mask).fill_null("").str.slice(0, MAX_VALUE_CHARS),
        },
        schema=ERROR_SCHEMA,
    )


def custom_fields_json(custom: list[tuple[str, pl.Series]], n: int) -> pl.Series:
    """Per row, a JSON object of the custom fields that have a value (null cells left out).

    The same object as `jsonb_strip_nulls(jsonb_build_object(key, value, ...))` on text values,
    built here so that Postgres parses it during the COPY instead of building it in the load.
    """
    if not custom:
        return pl.repeat("{}", n, dtype=pl.String, eager=True).alias("custom_fields")
    parts = []
    for key, values in custom:
        encoded = pl.DataFrame([values.alias("v")]).select(pl.struct("v").struct.json_encode())
        value = encoded.to_series().str.strip_prefix('{"v":').str.strip_suffix("}")
        parts.append(pl.when(values.is_not_null()).then(pl.lit(json.dumps(key) + ":") + value))
    body = pl.concat_str(parts, separator=",", ignore_nulls=True)
    return pl.select(pl.lit("{") + body + pl.lit("}")).to_series().alias("custom_fields")


def validate_batch(raw: pl.DataFrame, cmap: ColumnMap) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Split a batch into the contact rows to load and the errors, one per bad field.

    The batch has `row` and one string column per CSV column, named `f<i>`; the rows to load have
    CONTACT_COLUMNS; the errors have ERROR_SCHEMA.
    """
    n = raw.height
    rows = raw.get_column(ROW)
    header = cmap.header
    errors: list[pl.DataFrame] = []
    bad = pl.repeat(False, n, eager=True)
    out: dict[str, pl.Series] = {ROW: rows}

    def source(field: str) -> pl.Series | None:
        i = cmap.fields.get(field)
        return None if i is None else raw.get_column(f"f{i}")

    def fail(field: str, mask: pl.Series, reason: pl.Series | str, value: pl.Series) -> None:
        nonlocal bad
        errors.append(_error_frame(rows, mask, header[cmap.fields[field]], reason, value))
        bad = bad | mask

    email_raw = source("email")
    if email_raw is None:  # headers.py refuses a file without an email column before this
        raise ValueError("the file has no email column")
    emails = normalize_emails(email_raw)
    out["email"] = emails.get_column("email")
    email_bad = out["email"].is_null()
    fail("email", email_bad, emails.get_column("email_error"), email_raw)

    for field in ("first_name", "last_name", "consent_source"):
        col = source(field)
        if col is None:
            out[field] = _nulls(field, n)
            continue
        out[field] = _clean(col).alias(field)
        too_long = (out[field].str.len_chars() > MAX_TEXT_CHARS).fill_null(False)
        fail(field, too_long, f"longer than {MAX_TEXT_CHARS} characters", col)

    col = source("status")
    if col is None:
        out["status"] = _nulls("status", n)
    else:
        status = _clean(col).str.to_lowercase().alias("status")
        unknown = (status.is_not_null() & ~status.is_in(STATUSES)).fill_null(False)
        fail("status", unknown, f"status must be one of {', '.join(STATUSES)} (or empty)", col)
        out["status"] = status

    for field, parse, reason in (
        (
            "consent_at",
            parse_timestamps,
            "not an ISO 8601 date or date-time (2024-05-31T12:00:00Z)",
        ),
        ("consent_ip", parse_ips, "not an IPv4 or IPv6 address"),
    ):
        col = source(field)
        if col is None:
            out[field] = _nulls(field, n)
            continue
        parsed, invalid = parse(_clean(col))
        fail(field, invalid, reason, col)
        out[field] = parsed.alias(field)

    custom = [(key, _clean(raw.get_column(f"f{i}"))) for i, key in cmap.custom]
    out["custom_fields"] = custom_fields_json(custom, n)
    good = pl.DataFrame([out[c] for c in CONTACT_COLUMNS]).filter(~bad)
    errs = pl.concat(errors) if errors else empty_errors()
    return good, errs
