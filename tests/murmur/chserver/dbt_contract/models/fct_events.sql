{{ config(materialized='table', engine='MergeTree()', order_by='event_id') }}

select * from {{ ref('stg_events') }}
