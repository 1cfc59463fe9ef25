with source as (
    select * from {{ source('postgres', 'raw_emails') }} final
),

renamed as (
    select
        -- ids
        email_record_id,
        account_id,
        campaign_id,
        contact_id,
        -- dimensions
        status as ledger_status,
        esp,
        esp_message_id,
        has_error,
        -- timestamps
        queued_at,
        sent_at,
        _synced_at as synced_at
    from source
)

select * from renamed
