with source as (
    select * from {{ source('postgres', 'raw_contacts') }} final
),

renamed as (
    select
        -- ids
        contact_id,
        account_id,
        -- dimensions (the address itself stays in the restricted raw_contact_pii)
        email_sha256,
        email_domain,
        status as contact_status,
        custom_fields,
        consent_source,
        -- timestamps
        consent_at,
        created_at,
        updated_at
    from source
)

select * from renamed
