{{ config(
    materialized='incremental',
    incremental_strategy='insert_overwrite',
    partition_by='toYYYYMM(occurred_at)',
    order_by='event_id'
) }}

select * from {{ ref('stg_events') }}
{% if is_incremental() %}
where occurred_at >= toDateTime('2026-03-01 00:00:00')
{% endif %}
