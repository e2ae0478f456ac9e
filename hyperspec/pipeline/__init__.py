"""Recipes (TOML) → chunks of pixels through the steps → a resumable Zarr output; clusters via ``hyperspec.cluster``."""

from hyperspec.pipeline.analyses import get_analysis, register_analysis, run_kinetics
from hyperspec.pipeline.outputs import region_statistics, write_report
from hyperspec.pipeline.recipe import DEFAULT_RECIPE, STEPS, load_recipe, recipe_hash, validate_recipe
from hyperspec.pipeline.run import RunProgress, plan_chunks, run_recipe

__all__ = [
    "run_recipe",
    "RunProgress",
    "load_recipe",
    "validate_recipe",
    "recipe_hash",
    "plan_chunks",
    "write_report",
    "region_statistics",
    "STEPS",
    "register_analysis",
    "get_analysis",
    "run_kinetics",
    "DEFAULT_RECIPE",
]
