{#- No FINAL here: `events` may be a table or a view over one; the intermediate layer dedupes. -#}
with source as (
    select * from {{ source('ingestion', 'events') }}
),

renamed as (
    select
        -- ids
        event_id,
        email_record_id,
        -- an unmatched event has no account: NULL, an empty string or the zero UUID
        toUUIDOrNull(
            nullIf(nullIf(toString(account_id), ''), '00000000-0000-0000-0000-000000000000')
        ) as account_id,
        campaign_id,
        contact_id,
        -- dimensions
        toString(type) as event_type,
        nullIf(bounce_type, '') as bounce_type,
        toString(provider) as provider,
        provider_message_id,
        esp,
        lower(recipient_domain) as recipient_domain,
        url,
        toBool(machine_open) as is_machine_open,
        -- timestamps (UTC)
        toDateTime64(timestamp, 3, 'UTC') as event_at,
        toDateTime64(ingested_at, 3, 'UTC') as ingested_at
    from source
)

select * from renamed
