from __future__ import annotations

import pytest

from murmur.contacts_import.errors import ImportRefused
from murmur.contacts_import.headers import map_header


def test_known_columns_match_in_any_order_case_and_spacing() -> None:
    cmap = map_header(["Last Name", " E-Mail ", "FIRSTNAME", "Consent IP", "opt-in date", "Status"])
    assert cmap.fields == {
        "last_name": 0,
        "email": 1,
        "first_name": 2,
        "consent_ip": 3,
        "consent_at": 4,
        "status": 5,
    }
    assert cmap.custom == ()


def test_first_name_spellings_all_map_to_first_name() -> None:
    for name in ("first_name", "firstname", "First Name", "first-name", "FIRST_NAME"):
        assert map_header(["email", name]).fields["first_name"] == 1


def test_unknown_columns_become_snake_case_custom_fields() -> None:
    cmap = map_header(["email", "Favourite Colour", "plan"])
    assert cmap.custom == ((1, "favourite_colour"), (2, "plan"))
    assert cmap.describe()["custom_fields"] == {
        "Favourite Colour": "favourite_colour",
        "plan": "plan",
    }


def test_a_header_without_an_email_column_is_refused_naming_the_columns() -> None:
    with pytest.raises(ImportRefused, match=r"no email column.*'name', 'phone'"):
        map_header(["name", "phone"])


def test_a_semicolon_separated_header_gets_a_hint() -> None:
    with pytest.raises(ImportRefused, match="semicolon"):
        map_header(["email;name"])


def test_two_columns_mapping_to_the_same_field_are_refused() -> None:
    with pytest.raises(ImportRefused, match=r"both map to 'email'"):
        map_header(["Email", "e-mail"])
    with pytest.raises(ImportRefused, match="both map to 'plan'"):
        map_header(["email", "Plan", "plan"])


def test_a_column_without_a_name_is_refused() -> None:
    with pytest.raises(ImportRefused, match="column 2 of the header has no name"):
        map_header(["email", " ", "x"])
