{#-
  Per send (email record): what happened to it, from its events.
  - first-touch times are the earliest event of each kind;
  - a machine open (Apple Mail Privacy Protection, proxies) counts as an open but not as a human
    open;
  - a hard bounce wins over everything: the send is bounced (type hard) even after soft bounces or
    a delivery; soft bounces make it bounced (type soft) only when no delivery followed.
-#}
with events as (
    select * from {{ ref('int_email_events__deduplicated') }}
    where email_record_id is not null
),

touches as (
    select
        email_record_id,
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
            as soft_bounce_count
    from events
    group by email_record_id
),

final as (
    select
        -- ids
        email_record_id,
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
        first_unsubscribed_at
    from touches
)

select * from final
