"""What the demo account holds besides contacts: users, MJML templates, segments, campaigns.

Every object has a fixed name, so `murmur demo seed` finds it on a re-run instead of adding a
second one. The newsletter campaign is the one `murmur demo` sends.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

ACCOUNT_NAME = "Murmuration demo"
ACCOUNT_FIELDS: dict[str, Any] = {
    "plan": "team",
    "postal_address": "Murmuration Demo Ltd, 1 Starling Way, Springfield",
    "default_from_name": "Murmuration Demo",
    "default_from_email": "news@demo.murmuration.dev",
    "default_reply_to": "hello@demo.murmuration.dev",
}
# (email, role): who can log in to the dashboards; passwords come from the seed.
USERS: tuple[tuple[str, str], ...] = (
    ("admin@demo.murmuration.dev", "admin"),
    ("marketer@demo.murmuration.dev", "editor"),
    ("analyst@demo.murmuration.dev", "viewer"),
)
API_KEY_NAME = "demo seed"
DBT_SEGMENT_MODEL = "engaged_last_30_days"  # the segments work's dbt model (may not exist yet)
SITE = "https://shop.murmuration.dev"

_FOOTER = """
    <mj-section padding="8px 24px">
      <mj-column>
        <mj-text font-size="12px" color="#6b7280" align="center">
          You get this because you signed up for news from Murmuration.
          <a href="{{ unsubscribe_url }}" style="color:#6b7280">Unsubscribe</a><br>
          {{ postal_address }}
        </mj-text>
      </mj-column>
    </mj-section>"""


def _mjml(preview: str, heading: str, body: str, button: str, link: str, extra: str) -> str:
    return f"""<mjml>
  <mj-head>
    <mj-title>{heading}</mj-title>
    <mj-preview>{preview}</mj-preview>
    <mj-attributes>
      <mj-all font-family="Helvetica, Arial, sans-serif" />
      <mj-text font-size="16px" line-height="24px" color="#111827" />
    </mj-attributes>
  </mj-head>
  <mj-body background-color="#f3f4f6">
    <mj-section background-color="#1e3a8a" padding="20px 24px">
      <mj-column>
        <mj-text color="#ffffff" font-size="22px" font-weight="bold">Murmuration</mj-text>
      </mj-column>
    </mj-section>
    <mj-section background-color="#ffffff" padding="24px">
      <mj-column>
        <mj-text font-size="24px" font-weight="bold">{heading}</mj-text>
        <mj-text>Hi {{{{ first_name or 'there' }}}},</mj-text>
        <mj-text>{body}</mj-text>
        <mj-button background-color="#2563eb" href="{link}">{button}</mj-button>
        <mj-text>{extra}</mj-text>
      </mj-column>
    </mj-section>{_FOOTER}
  </mj-body>
</mjml>
"""


@dataclass(frozen=True)
class TemplateSpec:
    name: str
    subject: str
    body_html: str


TEMPLATES: tuple[TemplateSpec, ...] = (
    TemplateSpec(
        "Monthly newsletter",
        "{{ first_name or 'Hello' }}, what's new this month",
        _mjml(
            "New arrivals, a guide to flocking, and your plan's perks.",
            "What's new this month",
            "Here is what happened at Murmuration: new arrivals in the shop, a field guide to "
            "starling murmurations, and what your {{ custom_fields.plan }} plan gets you.",
            "See the new arrivals",
            f"{SITE}/new?utm_source=newsletter&utm_medium=email",
            f'Read the <a href="{SITE}/guide/murmurations?utm_source=newsletter">field '
            f'guide</a> or browse <a href="{SITE}/blog?utm_source=newsletter">the blog</a>.',
        ),
    ),
    TemplateSpec(
        "Upgrade offer",
        "20% off Pro, {{ first_name or 'friend' }}",
        _mjml(
            "Upgrade to Pro this week and save 20%.",
            "Go Pro for less",
            "You have been on the free plan since {{ custom_fields.signup_date }}. Upgrade to "
            "Pro this week and keep 20% off for a year.",
            "Upgrade now",
            f"{SITE}/pricing?plan=pro&utm_source=offer",
            f'Questions? <a href="{SITE}/help/plans?utm_source=offer">Compare the plans</a>.',
        ),
    ),
    TemplateSpec(
        "We miss you",
        "{{ first_name or 'Hi' }}, it's been a while",
        _mjml(
            "Come back for a free month.",
            "It's been a while",
            "We have not seen you in a while. Here is a free month of Pro to come back to.",
            "Claim your free month",
            f"{SITE}/comeback?utm_source=winback",
            f'Or tell us <a href="{SITE}/feedback?utm_source=winback">what we could do better</a>.',
        ),
    ),
)


@dataclass(frozen=True)
class SegmentSpec:
    name: str
    kind: str
    definition: dict[str, Any] | None = None
    dbt_model: str | None = None


EUROPE = ["GB", "DE", "FR", "NL", "ES", "IT"]
SEGMENTS: tuple[SegmentSpec, ...] = (
    SegmentSpec(
        "Newsletter subscribers",
        "criteria",
        {"all": [{"field": "custom_fields.plan", "op": "in", "value": ["free", "pro", "team"]}]},
    ),
    SegmentSpec(
        "Free plan, signed up in 2025",
        "criteria",
        {
            "all": [
                {"field": "custom_fields.plan", "op": "eq", "value": "free"},
                {"field": "custom_fields.signup_date", "op": "gte", "value": "2025-01-01"},
            ]
        },
    ),
    SegmentSpec(
        "Paying customers in Europe",
        "criteria",
        {
            "all": [
                {"field": "custom_fields.plan", "op": "in", "value": ["pro", "team"]},
                {"field": "custom_fields.country", "op": "in", "value": EUROPE},
            ]
        },
    ),
    SegmentSpec("Engaged in the last 30 days", "dbt", dbt_model=DBT_SEGMENT_MODEL),
)


@dataclass(frozen=True)
class CampaignSpec:
    name: str
    template: str
    segment: str


SEND_CAMPAIGN = "Monthly newsletter"  # what `murmur demo` schedules
CAMPAIGNS: tuple[CampaignSpec, ...] = (
    CampaignSpec(SEND_CAMPAIGN, "Monthly newsletter", "Newsletter subscribers"),
    CampaignSpec("Pro upgrade offer", "Upgrade offer", "Free plan, signed up in 2025"),
    CampaignSpec("Win back the quiet ones", "We miss you", "Engaged in the last 30 days"),
)
