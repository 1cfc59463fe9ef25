"""Dagster entry point (`workspace.yaml` loads this module)."""

import dagster as dg
from dagster.components import load_defs

import pipelines.defs

defs: dg.Definitions = load_defs(pipelines.defs)
