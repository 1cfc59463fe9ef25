"""Import speed: the contacts status index covers only the contacts that are not subscribed.

`contacts_account_status_idx (account_id, status)` cost every inserted contact an index entry
(a third of the import's index work) and served only status filters. Subscribed contacts, the
vast majority, are found by the account's prefix of `(account_id, email)` or the primary key
with a filter; the statuses worth an index are the rare ones. The partial index
`contacts_account_unsubscribed_idx (account_id, status, contact_id) where status <> 'subscribed'`
serves `GET /contacts?status=bounced` (keyset by contact_id) and takes no entry for a
subscribed contact, so an import of new, subscribed contacts writes two index entries per row
instead of three.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-02
"""

from __future__ import annotations

from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | None = None
depends_on: str | None = None

UPGRADE = [
    "create index contacts_account_unsubscribed_idx on contacts (account_id, status, contact_id)"
    " where status <> 'subscribed'",
    "drop index contacts_account_status_idx",
]
DOWNGRADE = [
    "create index contacts_account_status_idx on contacts (account_id, status)",
    "drop index contacts_account_unsubscribed_idx",
]


def upgrade() -> None:
    for statement in UPGRADE:
        op.execute(statement)


def downgrade() -> None:
    for statement in DOWNGRADE:
        op.execute(statement)
