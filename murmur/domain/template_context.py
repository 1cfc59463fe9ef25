"""The variables a template sees for one contact (and the sample contact of previews)."""

from __future__ import annotations

from typing import Any


def template_context(contact: dict[str, Any]) -> dict[str, Any]:
    """The variables a template sees for one contact."""
    return {
        "email": contact.get("email"),
        "first_name": contact.get("first_name") or "",
        "last_name": contact.get("last_name") or "",
        "custom_fields": contact.get("custom_fields") or {},
    }


SAMPLE_CONTACT = {
    "email": "sample@example.com",
    "first_name": "Sample",
    "last_name": "Contact",
    "custom_fields": {},
}
