select
    event_id,
    account_id,
    kind,
    occurred_at
from {{ ref('raw_events') }}
