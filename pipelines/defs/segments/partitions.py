import dagster as dg

from murmur.domain.dbt_segments import CRITERIA_PARTITIONS

# One partition per criteria segment id, added and removed by `criteria_segments_sensor`.
criteria_segment_partitions = dg.DynamicPartitionsDefinition(name=CRITERIA_PARTITIONS)
