"""``hyperspec kinetics``, ``hyperspec analyses`` and ``hyperspec curves``."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
import zarr

import hyperspec
from hyperspec.cli import main
from hyperspec.fit.curves import curve_models
from hyperspec.pipeline import analyses as A

BANDS = ("aspl_area", "lers_area", "hers_area")


@pytest.fixture(scope="module")
def kinetic_store(tmp_path_factory):
    """True band areas of a kinetic line with 2 % Gaussian noise and their stderr, as a results store (seed 3)."""
    _, truth = hyperspec.synthetic.kinetic_line(60, 4, n_spectral=32, seed=3)
    rng = np.random.default_rng(7)
    res = truth[list(BANDS)].compute()
    for b in BANDS:
        v = res[b].values
        sigma = 0.02 * np.abs(v).mean()
        res[b] = (res[b].dims, v + rng.normal(0.0, sigma, v.shape), res[b].attrs)
        res[f"{b}_stderr"] = (res[b].dims, np.full(v.shape, sigma))
    res.attrs = {}
    path = tmp_path_factory.mktemp("kin") / "res.zarr"
    hyperspec.save(res, path, progress=False)
    return path


def test_kinetics_runs_the_standard_set_with_progress_and_a_summary(kinetic_store, tmp_path, capsys):
    assert main(["kinetics", str(kinetic_store), "--csv", str(tmp_path / "csv"), "--backend", "numpy"]) == 0
    captured = capsys.readouterr()
    plan = A.kinetics_plan(hyperspec.open(kinetic_store))
    assert [e["step"] for e in plan].count("cross_correlation") == 3
    n = len(plan)
    assert n == 3 * 3 + 3  # autocorrelation, periods and onset per band, one cross-correlation per pair
    progress = [line for line in captured.err.splitlines() if line.startswith("kinetics: ")]
    assert len(progress) == n and progress[-1].startswith(f"kinetics: {n}/{n} (100%)") and "px/s" in progress[-1]
    assert f"wrote {n} groups into {kinetic_store}" in captured.out
    groups = set(zarr.open_group(str(kinetic_store), mode="r").attrs["hyperspec_groups"])
    assert {A.analysis_group(e) for e in plan} <= groups
    # the summary's median l-ERS period is the generator's 1.5 s, and it agrees with the stored group
    line = next(s for s in captured.out.splitlines() if s.startswith("periods lers_area: period_s "))
    median = float(line.split("period_s ")[1].split(" ")[0])
    assert median == pytest.approx(1.5, rel=0.02)
    per = hyperspec.open(kinetic_store, group="kinetics/periods_lers_area").compute()
    ok = per["status"] == 0
    first, err = per["period_s"].isel(peak=0).where(ok), per["period_s_stderr"].isel(peak=0).where(ok)
    n_px = int(np.isfinite(first).sum())
    assert line.startswith(f"periods lers_area: period_s {float(first.median()):.3g} ± {float(err.median()):.2g} ({n_px} px)")
    assert any(s.startswith("onset hers_area: onset_s ") for s in captured.out.splitlines())
    assert any(s.startswith("cross_correlation aspl_area lers_area: lag_s ") for s in captured.out.splitlines())
    # onset got the band's stderr (the plan adds it where the store has one)
    assert {"step": "onset", "band": "hers_area", "stderr": "hers_area_stderr"} in plan
    # every result as a long CSV, the same numbers as the group
    table = pd.read_csv(tmp_path / "csv" / "periods_lers_area.csv")
    assert {"x", "peak", "period_s", "period_s_stderr"} <= set(table.columns)
    expected = per["period_s"].transpose("x", "peak").values.ravel()
    np.testing.assert_allclose(table["period_s"].to_numpy(), expected, rtol=1e-12, equal_nan=True)


def test_kinetics_draws_the_pictures(kinetic_store, tmp_path, capsys):
    png = tmp_path / "png"
    assert main(["kinetics", str(kinetic_store), "--bands", "lers_area", "--png", str(png)]) == 0
    out = capsys.readouterr().out
    names = {"kymograph.png", "autocorrelation_lers_area.png", "trace_lers_area.png"}
    assert names == {p.name for p in png.iterdir()}
    assert all((png / n).stat().st_size > 5_000 for n in names)
    assert all(f"wrote {png / n}" in out for n in names)


def test_kinetics_power_series_fits_power_laws(tmp_path, capsys):
    _, truth = hyperspec.synthetic.power_series([0.5, 1.0, 2.0, 4.0, 8.0], (2, 3), n_spectral=32, seed=0)
    res = truth[["aspl_area"]].compute()
    res.attrs = {}
    hyperspec.save(res, tmp_path / "p.zarr", progress=False)
    assert main(["kinetics", str(tmp_path / "p.zarr")]) == 0
    out = capsys.readouterr().out
    assert "power_law aspl_area: k " in out
    fit = hyperspec.open(tmp_path / "p.zarr", group="kinetics/power_law_aspl_area")
    # noiseless areas: k is the generator's exponent (1 in the crystal … 2 in the glass)
    np.testing.assert_allclose(fit["k"].values, truth["aspl_exponent"].isel(power=0).values, atol=1e-6)


def test_kinetics_errors_are_one_line(kinetic_store, tmp_path, capsys):
    assert main(["kinetics", str(kinetic_store), "--bands", "lers_are"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("hyperspec: error: hyperspec kinetics: no variable 'lers_are'") and "Did you mean 'lers_area'?" in err
    assert len(err.strip().splitlines()) == 1
    flat = hyperspec.open(kinetic_store).isel(t=0).compute()
    flat.attrs = {}
    hyperspec.save(flat, tmp_path / "flat.zarr", progress=False)
    assert main(["kinetics", str(tmp_path / "flat.zarr")]) == 2
    assert "it needs a 't' (s) or 'power' (mW) dim" in capsys.readouterr().err
    assert main(["kinetics", str(tmp_path / "nowhere.zarr")]) == 2
    assert "nowhere.zarr" in capsys.readouterr().err


def test_analyses_and_curves_commands(capsys):
    assert main(["analyses", "--markdown"]) == 0
    assert capsys.readouterr().out == A.markdown_table()
    assert main(["analyses", "--json"]) == 0
    assert json.loads(capsys.readouterr().out) == json.loads(json.dumps(A.describe_analyses()))
    assert main(["analyses"]) == 0
    assert "  periods (results -> dataset): band, dim?, max_periods?" in capsys.readouterr().out
    assert main(["curves"]) == 0
    out = capsys.readouterr().out
    models = curve_models()
    assert all(f"  {name}: {m.equation}" in out for name, m in models.items())
    assert main(["curves", "--markdown"]) == 0
    rows = capsys.readouterr().out.splitlines()
    assert rows[0] == "| model | parameters (units) | equation |" and len(rows) == len(models) + 2
    assert "| `exp_decay` | `amplitude` (signal), `tau` (" in "\n".join(rows)


def test_the_standard_set_fits_each_onset_with_the_blinking_periods_it_found(tmp_path):
    """A bare hinge on a blinking trace is biased; ``hyperspec kinetics`` hands each band's periods to its onset fit."""
    _, truth = hyperspec.synthetic.kinetic_line(150, 4, n_spectral=32, seed=5, drift_um_per_s=(0.0, 0.0), drift_jitter_um=0.0)
    rng = np.random.default_rng(11)
    res = truth[["aspl_area"]].compute()
    v = res["aspl_area"].values
    res["aspl_area"] = (res["aspl_area"].dims, v + rng.normal(0.0, 0.02 * np.abs(v).mean(), v.shape), res["aspl_area"].attrs)
    res.attrs = {}
    store = tmp_path / "res.zarr"
    hyperspec.save(res, store, progress=False)
    A.run_kinetics(store, bands=["aspl_area"], backend="numpy", progress=False)
    per = hyperspec.open(store, group="kinetics/periods_aspl_area").compute()
    found = A._common_periods(per["period_s"])
    assert sorted(found) == pytest.approx([1.5, 1.9], rel=0.01)
    on = hyperspec.open(store, group="kinetics/onset_aspl_area").compute()
    assert "'periods': [" in on.attrs["analysis_params"]  # the group records the periods the fit used
    onset_s = on["onset_s"].values
    assert np.all(np.abs(onset_s - 7.0) < 0.2), onset_s  # within one 0.2 s frame of the generator's 7 s
    # the same entry run as written (no periods) is what the hand-off avoids: a bare hinge
    bare = hyperspec.kinetics.onset(res["aspl_area"])
    assert np.nanmax(np.abs(bare["onset_s"].values - 7.0)) > np.max(np.abs(onset_s - 7.0))
