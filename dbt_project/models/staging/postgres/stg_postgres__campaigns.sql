with source as (
    select * from {{ source('postgres', 'raw_campaigns') }} final
),

renamed as (
    select
        -- ids
        campaign_id,
        account_id,
        template_id,
        segment_id,
        -- dimensions
        name as campaign_name,
        subject,
        from_name,
        from_email,
        sending_domain,
        status as campaign_status,
        -- timestamps
        scheduled_at,
        created_at,
        updated_at
    from source
)

select * from renamed
