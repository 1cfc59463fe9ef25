"""Dagster entry point (`workspace.yaml` loads this module); definitions live in `defs/`."""

from pathlib import Path

import dagster as dg

defs: dg.Definitions = dg.load_from_defs_folder(path_within_project=Path(__file__).resolve().parent)
