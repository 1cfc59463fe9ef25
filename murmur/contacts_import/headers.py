"""Header mapping: which CSV column feeds which contact field.

Names match case-, space-, hyphen- and underscore-insensitively ("First Name", "first_name",
"FirstName" are one field). Unknown columns become `custom_fields` keys in snake_case.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from murmur.contacts_import.errors import ImportRefused

FIELDS: tuple[str, ...] = (
    "email",
    "first_name",
    "last_name",
    "status",
    "consent_source",
    "consent_at",
    "consent_ip",
)

_ALIASES: dict[str, tuple[str, ...]] = {
    "email": ("email", "emailaddress", "e-mail", "mail"),
    "first_name": ("firstname", "givenname", "forename"),
    "last_name": ("lastname", "surname", "familyname"),
    "status": ("status", "subscriptionstatus"),
    "consent_source": ("consentsource", "optinsource"),
    "consent_at": ("consentat", "consentdate", "consenttime", "optinat", "optindate", "optintime"),
    "consent_ip": ("consentip", "optinip", "ip", "ipaddress"),
}
_FIELD_BY_KEY: dict[str, str] = {
    re.sub(r"[\s_\-]+", "", alias): field for field, names in _ALIASES.items() for alias in names
}
MAX_CUSTOM_KEY = 100


def squash(name: str) -> str:
    """The comparison key of a header: lower-case, without spaces, hyphens and underscores."""
    return re.sub(r"[\s_\-]+", "", name.strip().lower())


def custom_key(name: str) -> str:
    """The `custom_fields` key of an unknown column, in snake_case ("Favourite Colour")."""
    return re.sub(r"[\s\-]+", "_", name.strip().lower()).strip("_")


@dataclass(frozen=True)
class ColumnMap:
    """Where each contact field comes from. Indexes are positions in the CSV header."""

    header: tuple[str, ...]
    fields: dict[str, int]
    custom: tuple[tuple[int, str], ...]

    @property
    def custom_keys(self) -> list[str]:
        return [key for _, key in self.custom]

    def describe(self) -> dict[str, object]:
        """A JSON-able summary for the job and the audit log (column names only, no data)."""
        return {
            "fields": {field: self.header[i] for field, i in self.fields.items()},
            "custom_fields": {self.header[i]: key for i, key in self.custom},
        }


def map_header(header: list[str] | tuple[str, ...]) -> ColumnMap:
    """Map a CSV header row to contact fields, or refuse the file saying why."""
    names = tuple(h.strip() for h in header)
    fields: dict[str, int] = {}
    custom: list[tuple[int, str]] = []
    seen: dict[str, int] = {}
    for i, name in enumerate(names):
        if not name:
            raise ImportRefused(
                f"column {i + 1} of the header has no name; name it or delete the column"
            )
        field = _FIELD_BY_KEY.get(squash(name))
        key = field or custom_key(name)
        if not key:
            raise ImportRefused(f"column {i + 1} ({name!r}) has no usable name")
        if len(key) > MAX_CUSTOM_KEY:
            raise ImportRefused(f"column {i + 1} name is longer than {MAX_CUSTOM_KEY} characters")
        if key in seen:
            first = names[seen[key]]
            raise ImportRefused(
                f"columns {seen[key] + 1} ({first!r}) and {i + 1} ({name!r}) both map to "
                f"{key!r}; keep one of them"
            )
        seen[key] = i
        if field:
            fields[field] = i
        else:
            custom.append((i, key))
    if "email" not in fields:
        found = ", ".join(repr(n) for n in names[:12])
        hint = ""
        if len(names) == 1 and (";" in names[0] or "\t" in names[0]):
            hint = " (the file looks semicolon- or tab-separated; only comma-separated CSV works)"
        raise ImportRefused(f"no email column: the header has {found}{hint}")
    return ColumnMap(names, fields, tuple(custom))
