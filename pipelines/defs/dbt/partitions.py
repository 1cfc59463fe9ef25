import dagster as dg

# Days of email events; the first day is the platform's first possible send.
EMAIL_EVENTS_START = "2025-01-01"
daily_partitions = dg.DailyPartitionsDefinition(start_date=EMAIL_EVENTS_START, timezone="UTC")
