{{ config(
    materialized='incremental',
    incremental_strategy='delete+insert',
    unique_key='event_id',
    order_by='event_id'
) }}

select * from {{ ref('stg_events') }}
{% if is_incremental() %}
where occurred_at >= toDateTime('2026-02-01 00:00:00')
{% endif %}
