import dagster as dg

from murmur.settings import get_settings

CAMPAIGN = "campaign"
SHARD = "shard"

# One partition per campaign id, added by `due_campaigns_sensor` (or by hand in the UI).
campaign_partitions = dg.DynamicPartitionsDefinition(name=CAMPAIGN)


def send_shards() -> int:
    """MURMUR_SEND_SHARDS, read when the code location loads (never at import)."""
    return get_settings().send_shards


def send_partitions(shards: int) -> dg.MultiPartitionsDefinition:
    """Campaign × shard ("0".."shards-1"): each shard claims `mod(email_record_id, shards)`."""
    return dg.MultiPartitionsDefinition(
        {
            CAMPAIGN: campaign_partitions,
            SHARD: dg.StaticPartitionsDefinition([str(i) for i in range(shards)]),
        }
    )


def shard_key(campaign_id: int, shard: int) -> dg.MultiPartitionKey:
    return dg.MultiPartitionKey({CAMPAIGN: str(campaign_id), SHARD: str(shard)})
