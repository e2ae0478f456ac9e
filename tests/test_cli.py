"""The hyperspec command: info, simulate, demo, --help and one-line errors."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

import hyperspec
from hyperspec.cli import main


def test_entry_point_help_everywhere(capsys):
    # the command once in a fresh interpreter (python -m hyperspec.cli); every subcommand's --help in-process, same main()
    out = subprocess.run([sys.executable, "-m", "hyperspec.cli", "--help"], capture_output=True, text=True)
    assert out.returncode == 0 and "usage: hyperspec" in out.stdout
    for args in (["info"], ["convert"], ["simulate"], ["demo"], ["decompose"], ["preprocess"], ["run"], ["report"], ["presets"]):
        with pytest.raises(SystemExit) as exc:
            main([*args, "--help"])
        assert exc.value.code == 0, args
        text = capsys.readouterr().out
        assert text.startswith(f"usage: hyperspec {args[0]}"), (args, text[:80])


def test_simulate_then_info(tmp_path, capsys):
    path = tmp_path / "k.zarr"
    assert main(["simulate", "kinetic-line", str(path), "--size", "20x8", "--n-spectral", "64", "--seed", "4"]) == 0
    assert "wrote kinetic-line" in capsys.readouterr().out
    ds = hyperspec.open(path)
    assert ds["spectra"].dims == ("t", "x", "spectral") and ds["spectra"].shape == (20, 8, 64)
    assert main(["info", str(path)]) == 0
    out = capsys.readouterr().out
    assert "dims               t=20, x=8, spectral=64" in out
    assert "Raman shift        -4500 … 3600 cm-1" in out
    assert "laser              632.8 nm" in out
    assert "complete           yes" in out
    assert "t                  0 … 3.8 s" in out


def test_user_errors_are_one_line(tmp_path, capsys):
    assert main(["info", str(tmp_path / "missing.zarr")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("hyperspec: error: ") and "does not exist" in err and "Traceback" not in err
    path = tmp_path / "m.zarr"
    assert main(["simulate", "map", str(path), "--size", "4x4", "--n-spectral", "32"]) == 0
    assert main(["simulate", "map", str(path), "--size", "4x4", "--n-spectral", "32"]) == 2
    assert "--overwrite" in capsys.readouterr().err
    assert main(["simulate", "kinetic-map", str(tmp_path / "x.zarr"), "--size", "4x4"]) == 2
    assert "FRAMESxNYxNX" in capsys.readouterr().err
    with pytest.raises(SystemExit) as exc:
        main(["simulate", "map", str(tmp_path / "y.zarr"), "--size", "4by4"])
    assert exc.value.code == 2


def test_demo_writes_stores_and_pngs(tmp_path, capsys):
    out = tmp_path / "demo"
    # 512 channels (the default is 1024): the same fit at half the cost; glass h-ERS median error 1.5 % (1.4 % at 1024)
    assert main(["demo", "--out", str(out), "--size", "12x16", "--n-spectral", "512"]) == 0
    text = capsys.readouterr().out
    assert "hyperspec: backend" in text and "total" in text and "px/s" in text and "vs truth" in text
    res = hyperspec.open(out / "results.zarr")
    for name in (
        "aspl_area",
        "lers_area",
        "hers_area",
        "aspl_peak_ev",
        "lers_temperature_k",
        "aspl_urbach_ev",
        "chi2_red",
        "status",
        "n_iter",
    ):
        assert res[name].shape == (12, 16)
    assert res["aspl_area_stderr"].attrs["units"] == "counts*cm-1" and "units" not in res["status"].attrs
    for name in ("band_maps.png", "aspl_area.png", "spectra_by_region.png", "fit_interface_pixel.png"):
        png = out / "png" / name
        assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size > 5000
    truth = hyperspec.open(out / "map.zarr", group="truth")
    glass = truth["region"].values == 2
    ok = res["status"].values == 0
    sel = glass & ok
    rel = np.abs(res["hers_area"].values[sel] - truth["hers_area"].values[sel]) / truth["hers_area"].values[sel]
    assert sel.sum() > 20 and np.median(rel) < 0.1
    # a second run refuses to clobber without --overwrite
    assert main(["demo", "--out", str(out), "--size", "12x16"]) == 2


def test_decompose_command(tmp_path, capsys):
    src = tmp_path / "m.zarr"
    assert main(["simulate", "map", str(src), "--size", "4x6", "--n-spectral", "1024", "--no-artefacts"]) == 0
    out = tmp_path / "r.zarr"
    assert main(["decompose", str(src), str(out), "--drop", "cnt_d", "cnt_g", "cnt_2d", "--png", str(tmp_path / "png")]) == 0
    text = capsys.readouterr().out
    assert "status: 24 converged" in text and "PNG files" in text
    res = hyperspec.open(out)
    truth = hyperspec.open(src, group="truth")
    assert "cnt_d_area" not in res and res["aspl_area"].shape == (4, 6)
    clean = truth["n_sbpl"].values == 0  # the preset has no SBPL terms: the ESPL absorbs them where present
    assert clean.sum() >= 15
    np.testing.assert_allclose(res["aspl_area"].values[clean], truth["aspl_area"].values[clean], rtol=0.05)
    assert (tmp_path / "png" / "lers_temperature_k.png").is_file()
    assert main(["decompose", str(src), str(out), "--preset", "cspbbr3"]) == 2
    assert "--overwrite" in capsys.readouterr().err
    assert main(["decompose", str(src), str(tmp_path / "x.zarr"), "--preset", "cspbbr3"]) == 2
    assert "unknown preset 'cspbbr3'" in capsys.readouterr().err


def test_presets_command(capsys):
    assert main(["presets"]) == 0
    text = capsys.readouterr().out
    assert "cspbbr3-633:" in text and "lers (shift): width [cm-1], temperature [K], height [counts]" in text
    assert main(["presets", "cspbbr3-633"]) == 0
    import json

    assert json.loads(capsys.readouterr().out)["terms"]["lers"]["shape"] == "lers"


def test_preprocess_command(tmp_path, capsys):
    src = tmp_path / "map.zarr"
    assert main(["simulate", "map", str(src), "--size", "12x12", "--n-spectral", "256", "--seed", "2"]) == 0
    out = tmp_path / "clean.zarr"
    argv = ["preprocess", str(src), str(out), "--spikes", "--baseline", "asls", "--param", "lam=1e5", "--param", "p=0.02"]
    assert main([*argv, "--subtract", "--notch", "40", "--png", str(tmp_path / "png")]) == 0
    res = hyperspec.open(out).compute()
    raw = hyperspec.open(src).compute()
    for name in ("spike_mask", "saturated_mask", "dead_pixel", "baseline"):
        assert name in res
    assert res["notch_mask"].values.sum() > 0
    # the baseline is pybaselines' asls with these parameters, and it was subtracted from the de-spiked spectra
    from hyperspec.preprocess.baselines import asls

    y = np.where(res["spike_mask"].values, np.nan, raw["spectra"].values)[3, 4]
    ref, _ = asls(res["spectra"].values[3, 4] + res["baseline"].values[3, 4], lam=1e5, p=0.02)
    np.testing.assert_allclose(res["baseline"].values[3, 4], ref[0], rtol=1e-4, atol=1e-2)
    assert np.isfinite(y).sum() > 200
    assert (tmp_path / "png" / "preprocess.png").stat().st_size > 10_000
    capsys.readouterr()
    assert main(["preprocess", str(src), str(tmp_path / "x.zarr"), "--baseline", "arpsl"]) == 2
    assert "Did you mean 'arpls'" in capsys.readouterr().err
    assert main(["preprocess", str(src), str(tmp_path / "x.zarr"), "--baseline", "asls", "--param", "lamda=3"]) == 2
    assert "Did you mean 'lam'" in capsys.readouterr().err
    assert main(["preprocess", str(src), str(tmp_path / "x.zarr")]) == 2
    assert "no step chosen" in capsys.readouterr().err
    assert main([*argv]) == 2  # the output exists
    assert "already exists" in capsys.readouterr().err


def test_convert_and_info_on_instrument_files(tmp_path, capsys):
    pytest.importorskip("wdf")  # renishaw-wdf
    from tests.conftest import SHARED_DATA

    src = SHARED_DATA / "rosettasciio" / "renishaw" / "renishaw_test_map2.wdf"
    assert main(["info", str(src)]) == 0
    out = capsys.readouterr().out
    assert "renishaw-wdf" in out and "y=20, x=20, spectral=1015" in out and "325.0003" in out
    store = tmp_path / "map2.zarr"
    assert main(["convert", str(src), str(store)]) == 0
    np.testing.assert_array_equal(hyperspec.open(store)["spectra"].values, hyperspec.open(src)["spectra"].values)
    assert main(["convert", str(src), str(store)]) == 2  # exists
    assert main(["convert", str(SHARED_DATA / "spectrapepper" / "spectras.txt"), str(tmp_path / "s.zarr")]) == 2
    assert "--unit" in capsys.readouterr().err
    assert main(["convert", str(SHARED_DATA / "spectrapepper" / "spectras.txt"), str(tmp_path / "s.zarr"), "--unit", "cm-1"]) == 0
