"""Deterministic demo contacts: names, mailbox providers, custom fields, and their CSV export.

One `random.Random(seed)` drives everything, so the same seed and size always give the same
file, byte for byte. The CSV looks like a real export: mixed header spellings, custom columns
(plan, country, signup date), and planted mistakes so the import report has content: rows whose
address is not an address, and duplicates of earlier rows (another case, stray spaces, a newer
plan; the last row wins).
"""

from __future__ import annotations

import csv
import datetime as dt
import random
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

# (domain, weight): the consumer mailbox providers of the dbt seed `mailbox_providers`, then
# corporate domains (Microsoft's fictional companies), which land in the 'Other' provider.
PROVIDER_DOMAINS: tuple[tuple[str, float], ...] = (
    ("gmail.com", 33.0),
    ("yahoo.com", 9.0),
    ("aol.com", 2.0),
    ("outlook.com", 8.0),
    ("hotmail.com", 7.0),
    ("live.com", 2.0),
    ("icloud.com", 9.0),
    ("me.com", 3.0),
)
CORPORATE_DOMAINS: tuple[str, ...] = (
    "contoso.com",
    "fabrikam.com",
    "northwindtraders.com",
    "adventure-works.com",
    "tailspintoys.com",
    "wingtiptoys.com",
    "litwareinc.com",
    "proseware.com",
    "woodgrovebank.com",
    "lucernepublishing.com",
    "alpineskihouse.com",
    "fourthcoffee.com",
    "humongousinsurance.com",
    "treyresearch.net",
    "wideworldimporters.com",
    "relecloud.com",
)
CORPORATE_SHARE = 27.0
FIRST_NAMES: tuple[str, ...] = (
    "Olivia", "Liam", "Emma", "Noah", "Amelia", "Oliver", "Ava", "Elijah", "Sophia", "Lucas",
    "Mia", "Mateo", "Isabella", "Levi", "Charlotte", "Ethan", "Harper", "James", "Evelyn",
    "Aiden", "Luna", "Hugo", "Chloé", "Léa", "Lukas", "Mila", "Sofía", "Matteo", "Giulia",
    "Hiro", "Yuki", "Aarav", "Priya", "Ana", "João", "Fatima", "Omar", "Zoë", "Björn", "Ingrid",
    "Kwame", "Amara", "Wei", "Mei", "Santiago", "Valentina", "Noor", "Daniel", "Grace", "Ruth",
)  # fmt: skip
LAST_NAMES: tuple[str, ...] = (
    "Smith", "Johnson", "Williams", "Brown", "Jones", "Garcia", "Miller", "Davis", "Martinez",
    "Lopez", "Wilson", "Anderson", "Taylor", "Thomas", "Moore", "Martin", "Lee", "Thompson",
    "White", "Harris", "Clark", "Lewis", "Walker", "Young", "King", "Wright", "Scott", "Green",
    "Müller", "Schmidt", "Dubois", "Moreau", "Rossi", "Bianchi", "Silva", "Santos", "Tanaka",
    "Sato", "Patel", "Sharma", "Kowalski", "Nowak", "Jansen", "de Vries", "O'Brien", "Murphy",
    "Nguyen", "Kim", "Chen", "Okafor",
)  # fmt: skip
PLANS: tuple[tuple[str, float], ...] = (("free", 60.0), ("pro", 30.0), ("team", 10.0))
COUNTRIES: tuple[tuple[str, float], ...] = (
    ("US", 38.0), ("GB", 11.0), ("DE", 9.0), ("FR", 7.0), ("CA", 6.0), ("AU", 4.0), ("NL", 4.0),
    ("ES", 4.0), ("IT", 4.0), ("BR", 4.0), ("IN", 5.0), ("JP", 4.0),
)  # fmt: skip
SOURCES: tuple[str, ...] = ("signup form", "checkout", "webinar", "newsletter footer")
# Signups fall in the three years before this fixed day, so a seed always gives one file.
SIGNUP_END = dt.date(2025, 12, 31)
SIGNUP_DAYS = 3 * 365
INVALID_EVERY = 199  # one planted bad address per this many rows
DUPLICATE_EVERY = 151  # one planted duplicate per this many rows
HEADER: tuple[str, ...] = ("E-mail", "First Name", "last_name", "Plan", "Country")
HEADER += ("Signup Date", "Opt-in Source", "Opt-in Date")


@dataclass(frozen=True)
class Person:
    email: str
    first_name: str
    last_name: str
    plan: str
    country: str
    signup_date: dt.date
    source: str

    @property
    def domain(self) -> str:
        return self.email.rsplit("@", 1)[1]

    def csv_row(self) -> list[str]:
        consent = f"{self.signup_date.isoformat()}T12:00:00Z"
        return [
            self.email,
            self.first_name,
            self.last_name,
            self.plan,
            self.country,
            self.signup_date.isoformat(),
            self.source,
            consent,
        ]


def _picker(rng: random.Random, items: tuple[tuple[str, float], ...]) -> Callable[[], str]:
    names = [name for name, _ in items]
    weights = [weight for _, weight in items]
    return lambda: rng.choices(names, weights)[0]


def _ascii(name: str) -> str:
    table = str.maketrans("éèüöäóáíñçãëô", "eeuoaoaincaeo")
    return "".join(ch for ch in name.lower().translate(table) if ch.isalnum())


def generate_people(n: int, seed: int) -> list[Person]:
    """`n` distinct people (distinct addresses), the same for the same seed."""
    rng = random.Random(seed)
    domain = _picker(rng, (*PROVIDER_DOMAINS, ("corporate", CORPORATE_SHARE)))
    plan = _picker(rng, PLANS)
    country = _picker(rng, COUNTRIES)
    taken: set[str] = set()
    people = []
    for i in range(n):
        first, last = rng.choice(FIRST_NAMES), rng.choice(LAST_NAMES)
        f, s = _ascii(first), _ascii(last)
        where = domain()
        if where == "corporate":
            where = rng.choice(CORPORATE_DOMAINS)
            local = rng.choice((f"{f}.{s}", f"{f[0]}{s}", f"{f}_{s}"))
        else:
            local = rng.choice((f"{f}.{s}{i % 97}", f"{f}{s}{i % 1000}", f"{f[0]}{s}.{i % 89}"))
        email, k = f"{local}@{where}", 0
        while email in taken:
            k += 1
            email = f"{local}.{i}{'' if k == 1 else k}@{where}"
        taken.add(email)
        signup = SIGNUP_END - dt.timedelta(days=int(rng.triangular(0, SIGNUP_DAYS, 0)))
        people.append(Person(email, first, last, plan(), country(), signup, rng.choice(SOURCES)))
    return people


def _invalid(rng: random.Random, person: Person) -> str:
    local, domain = person.email.split("@", 1)
    return rng.choice(
        (
            f"{local}@@{domain}",  # doubled @
            f"{local}.{domain}",  # the @ lost
            f"{local}@{domain.rsplit('.', 1)[0]}",  # no top-level domain
            f"{local} {local}@{domain}",  # a space inside
        )
    )


@dataclass(frozen=True)
class CsvStats:
    rows: int
    invalid: int
    duplicates: int


def write_csv(path: Path, people: list[Person], seed: int) -> CsvStats:
    """The export of `people` with planted invalid and duplicate rows (deterministic)."""
    rng = random.Random(seed * 7919 + 1)
    path.parent.mkdir(parents=True, exist_ok=True)
    rows = invalid = duplicates = 0
    tmp = path.with_suffix(".tmp")
    with tmp.open("w", newline="", encoding="utf-8-sig") as fh:
        writer = csv.writer(fh)
        writer.writerow(HEADER)
        for i, person in enumerate(people):
            writer.writerow(person.csv_row())
            rows += 1
            if i % INVALID_EVERY == INVALID_EVERY - 1:
                bad = person.csv_row()
                bad[0] = _invalid(rng, person)
                writer.writerow(bad)
                rows += 1
                invalid += 1
            if i % DUPLICATE_EVERY == DUPLICATE_EVERY - 1:
                again = person.csv_row()
                again[0] = f"  {person.email.upper()} " if i % 2 else person.email.title()
                writer.writerow(again)  # same plan: the duplicate changes nothing
                rows += 1
                duplicates += 1
    tmp.replace(path)
    return CsvStats(rows, invalid, duplicates)
