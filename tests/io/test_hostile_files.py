"""Hostile instrument files (issue 19): HDF5 external storage and virtual datasets, decompression
bombs in ``.npz`` and MATLAB v5 files, and a closed output pipe. The files are built here, at run time."""

from __future__ import annotations

import json
import struct
import subprocess
import sys
import textwrap
import zipfile
import zlib
from pathlib import Path

import numpy as np
import pytest

import hyperspec
from hyperspec._errors import ReaderError
from hyperspec.cli import main

h5py = pytest.importorskip("h5py")

SECRET = b"root:x:0:0:root:/root:/bin/bash\nsecret-token-1234567\n" * 8


def _secret(tmp_path: Path) -> Path:
    p = tmp_path / "passwd"
    p.write_bytes(SECRET)
    return p


def _nexus(path: Path, spectra_kwargs: dict, axis_kwargs: dict | None = None, userblock: int = 0) -> Path:
    with h5py.File(path, "w", userblock_size=userblock) as f:
        g = f.create_group("entry/data")
        g.attrs["NX_class"] = "NXdata"
        g.attrs["signal"] = "spectra"
        g.attrs["axes"] = ["shift"]
        g.create_dataset("spectra", **spectra_kwargs)
        g.create_dataset("shift", **(axis_kwargs or {"data": np.linspace(100.0, 200.0, 8)})).attrs["units"] = "cm-1"
    return path


# --- 1. HDF5 external storage and virtual datasets -------------------------------------------------


def test_nexus_clean_file_still_reads(tmp_path):
    """Control: the same layout with the data inside the file reads, values intact."""
    data = np.arange(6 * 8, dtype=np.float32).reshape(6, 8)
    ds = hyperspec.open(_nexus(tmp_path / "ok.nxs", {"data": data}))
    np.testing.assert_array_equal(ds["spectra"].values, data)


def test_external_storage_spectra_refused(tmp_path):
    secret = _secret(tmp_path)
    n = len(SECRET) // 8
    path = _nexus(tmp_path / "ext.nxs", {"shape": (n,), "dtype": "u1", "external": [(str(secret), 0, n)]},
                  {"data": np.arange(n, dtype=float)})  # fmt: skip
    with pytest.raises(ReaderError) as err:
        hyperspec.open(path)
    msg = str(err.value)
    assert "ext.nxs" in msg and "/entry/data/spectra" in msg and "external storage" in msg and str(secret) in msg


def test_external_storage_axis_refused_and_convert_writes_nothing(tmp_path, capsys):
    """The axis (not only the spectra) may point outside; ``convert`` refuses without creating a store."""
    secret = _secret(tmp_path)
    path = _nexus(tmp_path / "axis.h5", {"data": np.ones((3, 8), np.float32)},
                  {"shape": (8,), "dtype": "<f8", "external": [(str(secret), 0, 64)]})  # fmt: skip
    out = tmp_path / "out.zarr"
    assert main(["convert", str(path), str(out)]) == 2
    err = capsys.readouterr().err
    assert "/entry/data/shift" in err and "external storage" in err and "Traceback" not in err
    assert not out.exists()


def test_virtual_dataset_refused(tmp_path):
    src = tmp_path / "src.h5"
    with h5py.File(src, "w") as f:
        f.create_dataset("a", data=np.ones((4, 8)))
    layout = h5py.VirtualLayout(shape=(4, 8), dtype="f8")
    layout[:] = h5py.VirtualSource(str(src), "a", shape=(4, 8))
    path = tmp_path / "virt.h5"
    with h5py.File(path, "w") as f:
        f.create_virtual_dataset("spectra", layout)
        f.create_dataset("shift", data=np.linspace(100.0, 200.0, 8)).attrs["units"] = "cm-1"
    for kwargs in ({}, {"dataset": "/spectra", "axis": "/shift"}):
        with pytest.raises(ReaderError, match=r"virt\.h5.*/spectra is an HDF5 virtual dataset"):
            hyperspec.open(path, **kwargs)


def test_external_link_not_followed(tmp_path):
    other = tmp_path / "other.h5"
    with h5py.File(other, "w") as f:
        f.create_dataset("s", data=np.ones((4, 8)))
    path = tmp_path / "link.h5"
    with h5py.File(path, "w") as f:
        f["spectra"] = h5py.ExternalLink(str(other), "/s")
        f.create_dataset("shift", data=np.linspace(100.0, 200.0, 8))
    with pytest.raises(ReaderError, match="no numeric dataset '/spectra'"):
        hyperspec.open(path, dataset="/spectra", axis="/shift", unit="cm-1")


def test_matlab_v73_external_storage_refused(tmp_path):
    """MATLAB v7.3 is HDF5 with a 512-byte user block: it goes through the same check."""
    secret = _secret(tmp_path)
    path = _nexus(tmp_path / "v73.mat", {"shape": (8, 4), "dtype": "u1", "external": [(str(secret), 0, 32)]}, userblock=512)
    with path.open("r+b") as fh:
        fh.write(b"MATLAB 7.3 MAT-file, Platform: GLNXA64, Created on: Mon Jan  1 00:00:00 2024 HDF5 schema 1.00 .")
    with pytest.raises(ReaderError, match=r"v73\.mat.*/entry/data/spectra uses HDF5 external storage"):
        hyperspec.open(path)


# --- 2. decompression bombs -------------------------------------------------------------------------


def _peak_rss(code: str, limit: int) -> dict:
    """Run ``code`` in a fresh interpreter with ``MAX_INFLATED_BYTES = limit``; its JSON line plus peak RSS (MB)."""
    prog = textwrap.dedent(f"""
        import json, resource, hyperspec, hyperspec.io.numpy_ as npz
        from hyperspec._errors import ReaderError
        npz.MAX_INFLATED_BYTES = {limit}
        try:
            {code}
            result = {{"error": None}}
        except Exception as exc:  # anything, so that the peak RSS is reported either way
            result = {{"error": str(exc) if isinstance(exc, ReaderError) else repr(exc)}}
        try:  # VmHWM: this process's own peak (ru_maxrss would also count the parent's RSS at fork)
            with open("/proc/self/status") as fh:
                kb = next(int(line.split()[1]) for line in fh if line.startswith("VmHWM:"))
        except (OSError, StopIteration):
            kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        result["rss_mb"] = kb / 1024
        print(json.dumps(result))
    """)
    run = subprocess.run([sys.executable, "-c", prog], capture_output=True, text=True, timeout=60, check=False)
    assert run.returncode == 0, run.stderr[-2000:]
    return json.loads(run.stdout.strip().splitlines()[-1])


ZEROS = bytes(16 * 2**20)


def _npz_bomb(path: Path, n_float32: int, header_shape=None) -> Path:
    """A compressed .npz whose 'spectra' is ``n_float32`` zeros (streamed: never in memory here)."""
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=1) as zf:
        with zf.open("spectra.npy", "w", force_zip64=True) as fh:
            header = {"descr": "<f4", "fortran_order": False, "shape": header_shape or (n_float32,)}
            np.lib.format.write_array_header_1_0(fh, header)
            left = n_float32 * 4
            while left > 0:
                fh.write(ZEROS[: min(left, len(ZEROS))])
                left -= len(ZEROS)
        with zf.open("shift.npy", "w") as fh:
            np.lib.format.write_array(fh, np.linspace(100.0, 200.0, 1000))
    return path


def test_npz_bomb_refused_with_low_memory(tmp_path):
    """640 MB of zeros in a 3 MB archive: refused from the declared sizes, peak RSS stays low."""
    path = _npz_bomb(tmp_path / "bomb.npz", 160 * 2**20)
    assert path.stat().st_size < 8 * 2**20
    res = _peak_rss(f"hyperspec.open({str(path)!r})", 64 * 2**20)
    assert res["rss_mb"] < 500, res  # before the fix: the whole 640 MB was inflated

    assert res["error"] and "bomb.npz" in res["error"] and "spectra.npy" in res["error"]
    assert str(160 * 2**20 * 4) in res["error"] and str(64 * 2**20) in res["error"]


def test_npz_forged_header_refused(tmp_path):
    """A header declaring 1e9 float32 (4 GB) over 4 kB of data: refused before any allocation."""
    path = _npz_bomb(tmp_path / "forged.npz", 1024, header_shape=(10**9,))
    with pytest.raises(ReaderError, match=r"forged\.npz: the member spectra\.npy declares \(1000000000,\) float32"):
        hyperspec.open(path)


@pytest.mark.parametrize("limit", [2**20, 2**20 + 64, 8 * 2**20])
def test_npz_declared_size_against_limit(tmp_path, monkeypatch, limit):
    """Honest compressed members: refused exactly when the declared size exceeds the limit."""
    import hyperspec.io.numpy_ as npz

    monkeypatch.setattr(npz, "MAX_INFLATED_BYTES", limit)
    rng = np.random.default_rng(limit)
    spectra = rng.normal(size=(8, 8, 4096)).astype(np.float32)  # 1 MiB + header
    path = tmp_path / "m.npz"
    np.savez_compressed(path, spectra=spectra, shift=np.linspace(100.0, 900.0, 4096))
    if spectra.nbytes + 128 > limit:
        with pytest.raises(ReaderError, match=f"spectra.npy (declares|is) .* more than the {limit}-byte limit"):
            hyperspec.open(path)
    else:
        np.testing.assert_array_equal(hyperspec.open(path)["spectra"].values, spectra)


@pytest.mark.parametrize("order", ["C", "F"])
def test_npz_uncompressed_spectra_memory_mapped(tmp_path, monkeypatch, order):
    """Uncompressed large spectra are memory-mapped (lazy), values equal to the array; no inflate limit."""
    import hyperspec.io.numpy_ as npz

    monkeypatch.setattr(npz, "LAZY_BYTES", 1000)
    monkeypatch.setattr(npz, "MAX_INFLATED_BYTES", 2**20)  # does not apply to stored members
    spectra = np.asarray(np.random.default_rng(3).normal(size=(5, 7, 9000)), dtype=np.float32, order=order)
    path = tmp_path / "big.npz"
    np.savez(path, spectra=spectra, shift=np.linspace(100.0, 900.0, 9000))
    ds = hyperspec.open(path)
    assert hasattr(ds["spectra"].data, "dask")
    np.testing.assert_array_equal(ds["spectra"].values, spectra)


def test_npz_object_member_refused(tmp_path):
    path = tmp_path / "obj.npz"
    np.savez(path, spectra=np.ones((2, 8)), shift=np.arange(8.0), junk=np.array([{"a": 1}], dtype=object))
    with pytest.raises(ReaderError, match="junk.npy holds Python objects"):
        hyperspec.open(path)


def _mat_bomb(path: Path, n_float32: int, declared: int | None = None, dims: int | None = None) -> Path:
    """A MATLAB v5 file with one compressed single-precision variable 'data' of ``n_float32`` zeros."""
    body = struct.pack("<II", 6, 8) + struct.pack("<II", 7, 0)  # array flags: mxSINGLE_CLASS
    body += struct.pack("<IIii", 5, 8, dims or n_float32, 1)  # dims
    body += struct.pack("<I", (4 << 16) | 1) + b"data"  # the name, small element format
    nbytes = len(body) + 8 + n_float32 * 4
    comp = zlib.compressobj(1)
    chunks = [comp.compress(struct.pack("<II", 14, declared or nbytes) + body + struct.pack("<II", 7, n_float32 * 4))]
    left = n_float32 * 4
    while left > 0:
        chunks.append(comp.compress(ZEROS[: min(left, len(ZEROS))]))
        left -= len(ZEROS)
    chunks.append(comp.flush())
    blob = b"".join(chunks)
    header = b"MATLAB 5.0 MAT-file, Platform: GLNXA64, Created on: Mon Jan  1 00:00:00 2024".ljust(116) + bytes(8)
    path.write_bytes(header + struct.pack("<H", 0x0100) + b"IM" + struct.pack("<II", 15, len(blob)) + blob)
    return path


def test_mat_bomb_refused_with_low_memory(tmp_path):
    path = _mat_bomb(tmp_path / "bomb.mat", 160 * 2**20)
    assert path.stat().st_size < 8 * 2**20
    res = _peak_rss(f"hyperspec.open({str(path)!r})", 64 * 2**20)
    assert res["rss_mb"] < 500, res  # before the fix: the whole 640 MB was inflated

    assert res["error"] and "bomb.mat" in res["error"] and "'data'" in res["error"] and str(64 * 2**20) in res["error"]
    assert "declares" in res["error"] and str(160 * 2**20 * 4) in res["error"]


def test_mat_forged_small_header_refused_while_inflating(tmp_path):
    """The element (and its dims) claim 64 bytes but inflates to 96 MB: stopped while counting, before loadmat."""
    path = _mat_bomb(tmp_path / "forged.mat", 24 * 2**20, declared=64, dims=16)
    res = _peak_rss(f"hyperspec.open({str(path)!r})", 16 * 2**20)
    assert res["error"] and "forged.mat" in res["error"] and "inflates to more than" in res["error"], res
    assert res["rss_mb"] < 200, res  # before the fix: 250 MB


@pytest.mark.parametrize(("ny", "nx", "seed"), [(3, 4, 0), (5, 2, 1)])
def test_mat_compressed_dataset_still_reads(tmp_path, ny, nx, seed):
    """Control: a small compressed DataSet export reads, pixels in MATLAB column order."""
    from scipy.io import savemat

    rng = np.random.default_rng(seed)
    cube = rng.normal(size=(ny, nx, 50))
    axis = np.linspace(500.0, 1800.0, 50)
    data = cube.transpose(1, 0, 2).reshape(ny * nx, 50)
    axisscale = np.empty((2, 1), dtype=object)
    axisscale[0, 0], axisscale[1, 0] = np.zeros((0, 0)), axis
    image_axes = np.empty((2, 1), dtype=object)
    image_axes[0, 0], image_axes[1, 0] = np.arange(ny) * 0.5, np.arange(nx) * 0.5
    obj = {"data": data, "imagesize": np.array([ny, nx]), "axisscale": axisscale, "imageaxisscale": image_axes, "name": "m"}
    path = tmp_path / "ok.mat"
    savemat(path, {"m": obj}, do_compression=True)
    ds = hyperspec.open(path, unit="cm-1")
    np.testing.assert_allclose(ds["spectra"].values, cube, rtol=1e-6)


# --- 3. a closed output pipe -----------------------------------------------------------------------


@pytest.mark.parametrize("command", ["formats", "info"])
def test_closed_pipe_exits_quietly(tmp_path, command):
    argv = [command]
    if command == "info":
        path = tmp_path / "m.npz"
        np.savez(path, spectra=np.ones((4, 5, 20), np.float32), shift=np.linspace(100.0, 200.0, 20))
        argv.append(str(path))
    prog = f"import sys; from hyperspec.cli import main; sys.exit(main({argv!r}))"
    proc = subprocess.Popen([sys.executable, "-c", prog], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    proc.stdout.close()  # the reader is gone before the first line is written
    _, err = proc.communicate(timeout=60)
    assert b"Traceback" not in err and b"BrokenPipeError" not in err and b"Exception ignored" not in err, err.decode()
    assert proc.returncode == 141


def test_delmic_external_storage_refused(tmp_path):
    """A Delmic-looking HDF5 (read by rosettasciio) goes through the same check."""
    secret = _secret(tmp_path)
    path = tmp_path / "sparc.h5"
    with h5py.File(path, "w") as f:
        g = f.create_group("Acquisition0/ImageData")
        g.create_dataset("Image", shape=(8, 1, 1, 2, 2), dtype="u1", external=[(str(secret), 0, 32)])
    with pytest.raises(ReaderError, match=r"sparc\.h5: the dataset /Acquisition0/ImageData/Image uses HDF5 external storage"):
        hyperspec.open(path)


@pytest.mark.parametrize(("axis_shape", "matlab"), [((8,), False), ((1, 8), False), ((8, 1), True), ((8,), True)])
def test_generic_hdf5_finds_a_one_dimensional_axis(tmp_path, axis_shape, matlab):
    """The axis is the one 1-D (or 1 × n) dataset as long as the channels (was: 1-D axes never matched)."""
    rng = np.random.default_rng(len(axis_shape))
    cube = rng.normal(size=(3, 4, 8)).astype(np.float32)
    axis = np.linspace(500.0, 600.0, 8)
    path = tmp_path / ("v73.mat" if matlab else "plain.h5")
    with h5py.File(path, "w", userblock_size=512 if matlab else 0) as f:
        f.create_dataset("spectra", data=cube.reshape(12, 8).T if matlab else cube)
        f.create_dataset("wavelength", data=axis.reshape(axis_shape))
        f.create_dataset("other", data=np.arange(5.0))
    if matlab:
        with path.open("r+b") as fh:
            fh.write(b"MATLAB 7.3 MAT-file, Platform: GLNXA64, HDF5 schema 1.00 .")
    ds = hyperspec.open(path)
    np.testing.assert_allclose(ds["wavelength"].values if "wavelength" in ds.coords else ds["spectral"].values, axis)
    np.testing.assert_array_equal(ds["spectra"].values.reshape(-1, 8), cube.reshape(12, 8))


def test_generic_hdf5_two_axis_candidates_is_an_error(tmp_path):
    path = tmp_path / "two.h5"
    with h5py.File(path, "w") as f:
        f.create_dataset("spectra", data=np.ones((3, 8)))
        f.create_dataset("a", data=np.arange(8.0))
        f.create_dataset("b", data=np.arange(8.0) + 1)
    with pytest.raises(ReaderError, match=r"\(2 candidates\)\. Pass dataset= and axis="):
        hyperspec.open(path)
