{#- One row per event_id whatever the state of the merges: the latest ingested copy wins. -#}
with events as (
    select * from {{ ref('stg_ingestion__email_events') }}
),

deduplicated as (
    select *
    from events
    order by event_id, ingested_at desc
    limit 1 by event_id
)

select * from deduplicated
