"""Request and response bodies of `/segments`, and the criteria language they document.

A `criteria` segment's `definition` is a group of items; an item is a condition, a negation,
an event condition, an engagement condition, a membership condition or a nested group:

    {"all": [ITEM, ...]}   every item must hold (an empty list matches every contact)
    {"any": [ITEM, ...]}   at least one item must hold (an empty list matches no contact)
    {"not": ITEM}          the item does not hold (exactly the complement)
    {"field": FIELD, "op": OP, "value": VALUE}
    {"event": "opened" | "clicked" | "received" | "bounced", ...options}
    {"engagement": BUCKET or [BUCKET, ...]}
    {"member_of": SEGMENT_ID}

- `field`: a contact column (`email`, `first_name`, `last_name`, `status`, `consent_source`,
  `consent_at`, `consent_ip`, `created_at`, `updated_at`) or `custom_fields.<key>`.
- `op` and its `value`: `eq`, `neq` (a string, number or boolean); `in`, `not_in` (a list of
  1 to 1000 of those); `contains` (a non-empty string: case-insensitive substring); `gt`,
  `gte`, `lt`, `lte` (a number, or a string such as an ISO 8601 date); `exists` (`true` or
  `false`, default `true`: the field is set and not null). Timestamp fields take ISO 8601.
- event options: `campaign_id` (default: any campaign); `within_days` (1 to 36500, counted
  back from the refresh) or `between: [FROM, TO)` (ISO 8601); `min_count` (at least N distinct
  emails, default 1); `link_contains` (clicked only: the link contains the text,
  case-insensitive); `unopened: true` (received only: emails never opened); `bounce_type`
  (bounced only: `hard`, `soft`, `undetermined`). "received" is a delivery; "opened" counts
  machine opens too.
- `engagement`: the recency bucket of the `contact_engagement` mart: `engaged_7d`,
  `engaged_30d`, `engaged_90d`, `dormant`, `never` (a contact the mart has not seen is `never`).
- `member_of`: an active segment of the account, as of its last refresh; references may not
  loop.
- No other keys; groups and negations nest at most 10 deep, 500 items in all.

Example: "opened in the last 30 days, plan pro, never bounced":
`{"all": [{"event": "opened", "within_days": 30},
{"field": "custom_fields.plan", "op": "eq", "value": "pro"}, {"not": {"event": "bounced"}}]}`.
A definition that breaks the schema is refused with 422 whose `loc` leads to the bad element,
e.g. `["body", "definition", "all", 0, "op"]`. A definition is checked whenever it is written
(on create, or a PATCH of `definition` or `kind`). Contact attributes are as of the last
replication to ClickHouse; events as of the last refresh of the marts.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from murmur.api import crud
from murmur.api.types import JsonObject, Name, ShortText

Kind = Literal["criteria", "dbt"]
Status = Literal["active", "retired"]
DbtModel = Annotated[str, StringConstraints(pattern=r"^[A-Za-z_][A-Za-z0-9_]{0,199}$")]


class SegmentIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: Name
    kind: Kind = "criteria"
    definition: JsonObject | None = None
    dbt_model: DbtModel | None = None
    description: ShortText | None = None
    owner: ShortText | None = None


class SegmentPatch(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: Name | None = None
    kind: Kind | None = None
    definition: JsonObject | None = None
    dbt_model: DbtModel | None = None
    description: ShortText | None = None
    owner: ShortText | None = None
    status: Status | None = None


class SegmentOut(BaseModel):
    segment_id: int
    account_id: uuid.UUID
    name: str
    kind: str
    status: str
    description: str | None
    owner: str | None
    definition: dict[str, Any] | None
    dbt_model: str | None
    size: int | None = Field(description="members at the last refresh (null: never computed)")
    last_computed_at: datetime | None
    created_at: datetime
    updated_at: datetime


class SegmentPage(crud.Page):
    items: list[SegmentOut]  # type: ignore[assignment]


class Member(BaseModel):
    contact_id: int
    email: str | None = Field(description="null when the contact no longer exists")


class MemberPage(BaseModel):
    """One page of members in contact id order: pass `next_after` as `after`."""

    segment_id: int
    at: datetime | None = Field(description="the instant asked for (null: current members)")
    items: list[Member]
    limit: int
    next_after: int | None


class SegmentSql(BaseModel):
    kind: str
    sql: str = Field(description="ClickHouse SELECT of contact_id; {name:Type} are parameters")
    parameters: dict[str, Any]
    tables: list[str]
    dbt_model: str | None
    sql_path: str | None = Field(description="the dbt model's file (dbt segments)")


class PreviewIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    definition: JsonObject
    sample: int = Field(20, ge=0, le=100, description="how many member ids to return")


class PreviewOut(BaseModel):
    size: int
    sample: list[Member] = Field(description="the members with the lowest contact ids")
