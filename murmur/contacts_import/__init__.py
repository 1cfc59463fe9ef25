"""Contact import from CSV (issue #4): header mapping, validation, one-transaction upsert, jobs.

Entry points: `reader.preflight` (refuse unusable files), `jobs.queue_job` + `jobs.execute_job`
(run as a job with progress), `store.iter_error_report` (the per-row error report as CSV).
"""
