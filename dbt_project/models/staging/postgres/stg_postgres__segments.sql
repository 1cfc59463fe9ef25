with source as (
    select * from {{ source('postgres', 'raw_segments') }} final
),

renamed as (
    select
        -- ids
        segment_id,
        account_id,
        -- dimensions
        name as segment_name,
        kind as segment_kind,
        definition as segment_definition,
        dbt_model,
        -- timestamps
        created_at,
        updated_at
    from source
)

select * from renamed
