{{
    config(
        materialized='incremental',
        incremental_strategy='delete+insert',
        unique_key='event_date',
        order_by='(event_type, event_date, event_id)',
        partition_by='toYYYYMM(event_date)',
        tags=['daily'],
    )
}}
{#-
  Delete+insert by day: a run rebuilds every day of its window. A partitioned (daily) run passes
  the window as vars min_date/max_date ([min, max)); otherwise an incremental run rebuilds from
  the last day already built. IP addresses, user agents and diagnostics (which may quote an
  address) stay out of the marts.
-#}
{%- set window -%}
    {%- if var('min_date') and var('max_date') -%}
    toDate(event_at) >= toDate('{{ var("min_date") }}')
        and toDate(event_at) < toDate('{{ var("max_date") }}')
    {%- elif is_incremental() -%}
    toDate(event_at) >= (select coalesce(max(event_date), toDate(0)) from {{ this }})
    {%- endif -%}
{%- endset %}
-- depends_on: {{ ref('stg_ingestion__email_events') }}
with
{% if window %}
copies as (
    -- every copy of every event with a copy in the window: the latest ingested copy wins
    -- (as in int_email_events__deduplicated) even when it lies outside the window
    select * from {{ ref('stg_ingestion__email_events') }}
    where event_id in (
        select event_id from {{ ref('stg_ingestion__email_events') }} where {{ window }}
    )
),

windowed as (
    select *
    from (
        select * from copies
        order by event_id, ingested_at desc
        limit 1 by event_id
    )
    where {{ window }}
),

ledger as (
    -- the sends of the window's events (read again rather than deduplicated again)
    select * from {{ ref('stg_postgres__emails') }}
    where email_record_id in (
        select email_record_id from {{ ref('stg_ingestion__email_events') }} where {{ window }}
    )
),
{% else %}
windowed as (
    select * from {{ ref('int_email_events__deduplicated') }}
),

ledger as (
    select * from {{ ref('stg_postgres__emails') }}
),
{% endif %}

final as (
    select
        -- ids
        windowed.event_id as event_id,
        windowed.email_record_id as email_record_id,
        coalesce(ledger.account_id, windowed.account_id) as account_id,
        coalesce(ledger.campaign_id, windowed.campaign_id) as campaign_id,
        coalesce(ledger.contact_id, windowed.contact_id) as contact_id,
        -- dimensions
        windowed.event_type as event_type,
        windowed.bounce_type as bounce_type,
        windowed.provider as provider,
        coalesce(ledger.esp, windowed.esp) as esp,
        windowed.recipient_domain as recipient_domain,
        windowed.url as url,
        windowed.is_machine_open as is_machine_open,
        ledger.email_record_id is not null as is_matched,
        -- timestamps
        toDate(windowed.event_at) as event_date,
        windowed.event_at as event_at,
        windowed.ingested_at as ingested_at
    from windowed
    left join ledger on ledger.email_record_id = windowed.email_record_id
)

select * from final
