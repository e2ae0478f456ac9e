"""CF metadata of results (issue 16): the fit-quality variables carry ``units = "1"`` (dimensionless) as CF asks."""

from __future__ import annotations

import hyperspec
from hyperspec.pipeline import run_recipe


def test_fit_quality_variables_are_dimensionless_in_both_paths(tmp_path):
    ds = hyperspec.synthetic.simulate("map", (3, 4), n_spectral=256, seed=3)[0].compute()
    direct = hyperspec.decompose(ds, "cspbbr3-633", backend="numpy")
    store = tmp_path / "m.zarr"
    hyperspec.save(ds, store, progress=False)
    recipe = tmp_path / "r.toml"
    recipe.write_text(f'[input]\npath = "{store}"\n[decompose]\npreset = "cspbbr3-633"\n[output]\npath = "o.zarr"\n')
    run_recipe(recipe, progress=False, backend="numpy")
    stored = hyperspec.open(tmp_path / "o.zarr")
    for results in (direct, stored):
        for name in ("chi2_red", "n_iter"):
            assert results[name].attrs["units"] == "1", name
            assert results[name].attrs["long_name"]
        # every band value and its standard error says its unit and what it is
        for name in ("aspl_area", "aspl_area_stderr", "lers_temperature_k"):
            assert results[name].attrs.get("units") and results[name].attrs.get("long_name"), name
