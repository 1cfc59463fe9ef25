with source as (
    select * from {{ source('postgres', 'raw_suppressions') }} final
),

renamed as (
    select
        -- ids
        suppression_id,
        account_id,
        -- dimensions
        email_sha256,
        email_domain,
        reason as suppression_reason,
        source as suppression_source,
        -- timestamps
        created_at
    from source
)

select * from renamed
