{{
    config(
        materialized='incremental',
        incremental_strategy='append',
        engine='MergeTree()',
        order_by='email_record_id',
        pre_hook="{{ outcomes_refresh_pre() }}",
        post_hook="{{ refresh_keys_post('email_record_id', count_first=false) }}",
    )
}}
{#-
  Per send (email record): what happened to it, from its events.
  - first-touch times are the earliest event of each kind;
  - a machine open (Apple Mail Privacy Protection, proxies) counts as an open but not as a human
    open;
  - a hard bounce wins over everything: the send is bounced (type hard) even after soft bounces or
    a delivery; soft bounces make it bounced (type soft) only when no delivery followed.
  Incremental by send (macros/refresh_keys.sql): a refresh rebuilds the sends named by a copy of
  an event ingested since the last build (outcomes_refresh_pre), from every copy of their events,
  so the latest ingested copy wins exactly as in int_email_events__deduplicated.
-#}
-- depends_on: {{ ref('stg_ingestion__email_events') }}
with
{% if is_incremental() %}
refreshed as (
    select email_record_id from {{ refresh_keys_relation() }}
),

copies as (
    -- every copy of every event of the refreshed sends: the copies naming them, and every copy
    -- of the events whose copies name different sends (a newer copy may name another send);
    -- a copy both name is read twice, and deduplicated below like any other
    select * from {{ ref('stg_ingestion__email_events') }}
    where email_record_id in (select email_record_id from refreshed)
    union all
    select * from {{ ref('stg_ingestion__email_events') }}
    where event_id in (select event_id from {{ moved_events_relation() }})
),

events as (
    select *
    from (
        select * from copies
        order by event_id, ingested_at desc
        limit 1 by event_id
    )
    where email_record_id in (select email_record_id from refreshed)
),
{% else %}
events as (
    select * from {{ ref('int_email_events__deduplicated') }}
    where email_record_id is not null
),
{% endif %}

touches as (
    select
        email_record_id,
        any(contact_id) as contact_id,
        any(recipient_domain) as event_recipient_domain,
        minIfOrNull(event_at, event_type = 'send') as first_send_event_at,
        minIfOrNull(event_at, event_type = 'delivery') as first_delivered_at,
        minIfOrNull(event_at, event_type = 'open') as first_opened_at,
        minIfOrNull(event_at, event_type = 'open' and not is_machine_open) as first_human_opened_at,
        maxIfOrNull(event_at, event_type = 'open') as last_opened_at,
        maxIfOrNull(event_at, event_type = 'open' and not is_machine_open) as last_human_opened_at,
        minIfOrNull(event_at, event_type = 'click') as first_clicked_at,
        maxIfOrNull(event_at, event_type = 'click') as last_clicked_at,
        minIfOrNull(event_at, event_type = 'bounce' and bounce_type = 'hard') as hard_bounced_at,
        minIfOrNull(
            event_at, event_type = 'bounce' and coalesce(bounce_type, 'undetermined') != 'hard'
        ) as first_soft_bounced_at,
        minIfOrNull(event_at, event_type = 'complaint') as first_complained_at,
        minIfOrNull(event_at, event_type = 'unsubscribe') as first_unsubscribed_at,
        countIf(event_type = 'open') as open_count,
        countIf(event_type = 'open' and is_machine_open) as machine_open_count,
        countIf(event_type = 'click') as click_count,
        countIf(event_type = 'bounce' and coalesce(bounce_type, 'undetermined') != 'hard')
            as soft_bounce_count,
        count() as event_count,
        max(ingested_at) as last_ingested_at
    from events
    group by email_record_id
),

final as (
    select
        -- ids (never null: the events without a send are left out above)
        assumeNotNull(email_record_id) as email_record_id,
        contact_id,
        -- dimensions
        event_recipient_domain,
        case
            when hard_bounced_at is not null then 'hard'
            when first_soft_bounced_at is not null and first_delivered_at is null then 'soft'
        end as bounce_type,
        -- flags
        hard_bounced_at is not null as is_hard_bounced,
        first_delivered_at is not null and hard_bounced_at is null as is_delivered,
        hard_bounced_at is not null
            or (first_soft_bounced_at is not null and first_delivered_at is null) as is_bounced,
        first_opened_at is not null as is_opened,
        first_human_opened_at is not null as is_human_opened,
        first_clicked_at is not null as is_clicked,
        first_complained_at is not null as is_complained,
        first_unsubscribed_at is not null as is_unsubscribed,
        -- measures
        open_count,
        machine_open_count,
        click_count,
        soft_bounce_count,
        event_count,
        -- timestamps
        first_send_event_at,
        first_delivered_at,
        case
            when hard_bounced_at is not null then hard_bounced_at
            when first_delivered_at is null then first_soft_bounced_at
        end as bounced_at,
        first_soft_bounced_at,
        first_opened_at,
        first_human_opened_at,
        last_opened_at,
        last_human_opened_at,
        first_clicked_at,
        last_clicked_at,
        first_complained_at,
        first_unsubscribed_at,
        last_ingested_at,
        {{ run_stamp() }} as built_at
    from touches
)

select * from final
