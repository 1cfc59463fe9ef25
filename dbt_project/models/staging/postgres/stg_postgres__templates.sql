with source as (
    select * from {{ source('postgres', 'raw_templates') }} final
),

renamed as (
    select
        -- ids
        template_id,
        account_id,
        -- dimensions
        name as template_name,
        subject as template_subject,
        version as template_version,
        -- timestamps
        created_at,
        updated_at
    from source
)

select * from renamed
