select * from {{ ref('fct_events') }} where occurred_at > now()
