{#-
  A SQL segment: every contact whose last human open or click is at most 30 days old (machine
  opens do not count). A segment model returns exactly `account_id, contact_id` (its contract in
  _segments__models.yml); Dagster writes the rows of the segment's account to segment_membership.
-#}
with engagement as (
    select * from {{ ref('contact_engagement') }}
),

final as (
    select
        account_id,
        contact_id
    from engagement
    where days_since_engaged is not null and days_since_engaged <= 30
)

select * from final
