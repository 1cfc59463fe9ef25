with source as (
    select * from {{ source('postgres', 'raw_accounts') }} final
),

renamed as (
    select
        -- ids
        account_id,
        -- dimensions
        name as account_name,
        plan as account_plan,
        default_sending_domain,
        -- timestamps
        created_at
    from source
)

select * from renamed
