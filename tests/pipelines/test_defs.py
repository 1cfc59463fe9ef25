import dagster as dg

from pipelines.definitions import defs


def test_definitions_load_and_expose_the_roundtrip_asset() -> None:
    keys = {key.to_user_string() for key in defs.resolve_asset_graph().get_all_asset_keys()}
    assert "service_roundtrip" in keys
    assert isinstance(defs, dg.Definitions)
