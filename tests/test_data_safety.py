"""Outputs never destroy inputs; a user's ``_pre.zarr`` is never deleted; stale results are not accepted (issue 19)."""

from __future__ import annotations

import hashlib
import os
import shutil
from pathlib import Path

import numpy as np
import pytest

import hyperspec
from hyperspec._errors import StoreExistsError
from hyperspec._paths import check_output_paths, input_identity
from hyperspec.cli import main
from hyperspec.pipeline import load_recipe, recipe_hash, run_recipe


def _tree_digest(path: Path) -> str:
    """Every file's relative name and bytes under ``path`` (a store is untouched iff this is unchanged)."""
    h = hashlib.sha256()
    for f in sorted(p for p in path.rglob("*") if p.is_file()):
        h.update(f.relative_to(path).as_posix().encode())
        h.update(f.read_bytes())
    return h.hexdigest()


def _map(path: Path, seed: int = 0, shape=(2, 3)) -> Path:
    return hyperspec.synthetic.write("map", path, shape, n_spectral=64, seed=seed, progress=False)


@pytest.fixture
def store(tmp_path):
    return _map(tmp_path / "map.zarr")


# ---------------------------------------------------------------- the one check


@pytest.mark.parametrize(
    ("output", "relation"),
    [
        ("map.zarr", "is the input"),
        ("./x/../map.zarr", "is the input"),
        ("{abs}/map.zarr", "is the input"),
        ("link.zarr", "is the input"),  # a symlink to the input
        ("map.zarr/sub.zarr", "lies inside the input"),
        ("link.zarr/spectra/out.csv", "lies inside the input"),
        (".", "contains the input"),
        ("..", "contains the input"),
    ],
)
def test_an_output_that_is_in_or_around_the_input_is_refused(tmp_path, monkeypatch, output, relation):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "map.zarr").mkdir()
    (tmp_path / "link.zarr").symlink_to(tmp_path / "map.zarr")
    (tmp_path / "x").mkdir()
    out = output.format(abs=tmp_path)
    with pytest.raises(StoreExistsError, match=relation) as info:
        check_output_paths(out, ["map.zarr"])
    msg = str(info.value)
    assert out in msg and "map.zarr" in msg and "\n" not in msg


@pytest.mark.parametrize("output", ["map.zarr2", "map.zar", "other/map.zarr", "map_out.zarr"])
def test_paths_that_only_share_a_prefix_are_allowed(tmp_path, monkeypatch, output):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "map.zarr").mkdir()
    check_output_paths(output, ["map.zarr", None])  # no error


# ---------------------------------------------------------------- CLI commands and save


def _cli_refuses(argv, store, capsys):
    before = _tree_digest(store)
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("hyperspec: error:") and len(err.splitlines()) == 1
    assert _tree_digest(store) == before  # nothing was deleted or written
    return err


@pytest.mark.parametrize(
    "argv",
    [
        ["convert", "{s}", "{s}", "--overwrite"],
        ["convert", "{s}", "{d}/x/../map.zarr", "--overwrite"],
        ["convert", "{s}", "{s}/inner.zarr"],
        ["decompose", "{s}", "{s}", "--overwrite", "--backend", "numpy"],
        ["preprocess", "{s}", "{s}", "--spikes", "--overwrite"],
        ["preprocess", "{d}/link.zarr", "{s}", "--spikes", "--overwrite"],
        ["export", "{s}", "--csv", "{s}/bands.csv"],
        ["export", "{s}", "--tiff", "{s}"],
    ],
)
def test_cli_refuses_an_output_that_destroys_the_input(store, capsys, argv):
    (store.parent / "x").mkdir()
    (store.parent / "link.zarr").symlink_to(store)
    argv = [a.format(s=store, d=store.parent) for a in argv]
    err = _cli_refuses(argv, store, capsys)
    assert "refusing" in err and "map.zarr" in err
    spectra = hyperspec.open(store)["spectra"].values
    assert np.isfinite(spectra).all() and spectra.max() > 0


def test_save_refuses_overwriting_the_store_it_still_reads(store):
    lazy = hyperspec.open(store)
    before = _tree_digest(store)
    with pytest.raises(StoreExistsError, match="is the input"):
        hyperspec.save(lazy, store, overwrite=True, progress=False)
    with pytest.raises(StoreExistsError, match="lies inside the input"):
        hyperspec.save(lazy, store / "copy.zarr", progress=False)
    assert _tree_digest(store) == before
    # a lazy result of it (the decomposition's inputs are still read from the store) is refused too
    derived = lazy.assign(spectra=lazy["spectra"] * 2)
    with pytest.raises(StoreExistsError):
        hyperspec.save(derived, store, overwrite=True, progress=False)
    # loaded into memory first, replacing it is safe and allowed
    loaded = lazy.compute()
    hyperspec.save(loaded, store, overwrite=True, progress=False)
    np.testing.assert_array_equal(hyperspec.open(store)["spectra"].values, loaded["spectra"].values)
    # another path is fine
    hyperspec.save(lazy, store.with_name("copy.zarr"), progress=False)


# ---------------------------------------------------------------- recipes


def _toml(path: Path, inp: str, out: str, steps=("remove_spikes",)) -> Path:
    body = f'[input]\npath = "{inp}"\n' + "".join(f'[[preprocess]]\nstep = "{s}"\n' for s in steps) + f'[output]\npath = "{out}"\n'
    path.write_text(body)
    return path


def test_a_recipe_whose_output_is_its_input_is_refused(store, capsys):
    toml = _toml(store.parent / "r.toml", "map.zarr", "./map.zarr")
    before = _tree_digest(store)
    with pytest.raises(StoreExistsError, match="is the input"):
        run_recipe(toml, backend="numpy", overwrite=True, progress=False)
    with pytest.raises(StoreExistsError, match="is the input"):
        run_recipe({"input": {"path": str(store)}, "output": {"path": str(store)}}, backend="numpy", overwrite=True, progress=False)
    with pytest.raises(StoreExistsError, match=r"\[output\] png .*lies inside the input"):
        rec = {"input": {"path": str(store)}, "output": {"path": str(store.with_name("res.zarr")), "png": str(store / "png")}}
        run_recipe(rec, backend="numpy", progress=False)
    assert not store.with_name("res.zarr").exists()
    ok = _toml(store.parent / "ok.toml", "map.zarr", "res.zarr")
    _cli_refuses(["run", str(ok), "--output", str(store), "--overwrite", "--backend", "numpy"], store, capsys)
    assert _tree_digest(store) == before


def test_a_whole_map_intermediate_over_the_input_is_refused(tmp_path):
    inp = _map(tmp_path / "d_pre.zarr")  # the user's input has the name the intermediate would take
    before = _tree_digest(inp)
    with pytest.raises(StoreExistsError, match="intermediate"):
        run_recipe(
            _toml(tmp_path / "r.toml", "d_pre.zarr", "d.zarr", ("denoise", "remove_spikes")),
            backend="numpy",
            overwrite=True,
            progress=False,
        )
    assert _tree_digest(inp) == before and not (tmp_path / "d.zarr").exists()


def test_a_users_pre_store_is_never_deleted_without_overwrite(tmp_path):
    _map(tmp_path / "a.zarr", seed=1)
    users = _map(tmp_path / "d_pre.zarr", seed=2)  # the user's own store, in the way
    before = _tree_digest(users)
    toml = _toml(tmp_path / "r.toml", "a.zarr", "d.zarr", ("denoise", "remove_spikes"))
    with pytest.raises(StoreExistsError, match=r"d_pre\.zarr is in the way.*--overwrite"):
        run_recipe(toml, backend="numpy", progress=False)
    assert _tree_digest(users) == before and not (tmp_path / "d.zarr").exists()
    # a plain directory or file there is refused the same way (and never deleted)
    os.rename(users, tmp_path / "mine.zarr")
    (tmp_path / "d_pre.zarr").write_text("notes")
    with pytest.raises(StoreExistsError, match="in the way"):
        run_recipe(toml, backend="numpy", progress=False)
    assert (tmp_path / "d_pre.zarr").read_text() == "notes"
    # --overwrite replaces a store
    (tmp_path / "d_pre.zarr").unlink()
    os.rename(tmp_path / "mine.zarr", users)
    run_recipe(toml, backend="numpy", overwrite=True, progress=False)
    den = hyperspec.open(users)
    assert den.attrs["pca_n_components"] > 0 and den.attrs["hyperspec_intermediate_for"] == str((tmp_path / "d.zarr").resolve())


def test_our_own_pre_store_is_replaced_or_reused_without_overwrite(tmp_path):
    _map(tmp_path / "a.zarr", seed=1)
    toml = _toml(tmp_path / "r.toml", "a.zarr", "d.zarr", ("denoise", "remove_spikes"))
    run_recipe(toml, backend="numpy", progress=False)
    pre = tmp_path / "d_pre.zarr"
    first = hyperspec.open(pre)["spectra"].values
    # the results deleted, the same recipe again: the intermediate is ours and reused as it is
    shutil.rmtree(tmp_path / "d.zarr")
    run_recipe(toml, backend="numpy", progress=False)
    np.testing.assert_array_equal(hyperspec.open(pre)["spectra"].values, first)
    # other whole-map settings: ours, so it is replaced (the output itself still needs --overwrite)
    toml.write_text(toml.read_text().replace('step = "denoise"\n', 'step = "denoise"\nn_components = 2\n'))
    shutil.rmtree(tmp_path / "d.zarr")
    run_recipe(toml, backend="numpy", progress=False)
    assert hyperspec.open(pre).attrs["pca_n_components"] == 2
    # a copy of it beside another output names d.zarr, not e.zarr: not ours for e, refused
    shutil.copytree(pre, tmp_path / "e_pre.zarr")
    before = _tree_digest(tmp_path / "e_pre.zarr")
    other = _toml(tmp_path / "o.toml", "a.zarr", "e.zarr", ("denoise", "remove_spikes"))
    with pytest.raises(StoreExistsError, match="in the way"):
        run_recipe(other, backend="numpy", progress=False)
    assert _tree_digest(tmp_path / "e_pre.zarr") == before


# ---------------------------------------------------------------- stale results


def test_another_input_with_the_same_name_is_not_taken_for_done(tmp_path, capsys):
    a, b = _map(tmp_path / "a" / "map.zarr", seed=1), _map(tmp_path / "b" / "map.zarr", seed=2)
    toml = _toml(tmp_path / "r.toml", "a/map.zarr", "out.zarr")
    run_recipe(toml, backend="numpy", progress=False)
    rec = load_recipe(toml)
    assert recipe_hash(rec) == recipe_hash(load_recipe(toml))  # deterministic for the same input
    assert recipe_hash(rec) != recipe_hash({**rec, "input": {"path": str(b)}})
    with pytest.raises(StoreExistsError, match="another .*input"):
        run_recipe(toml, input=str(b), backend="numpy", progress=False)
    assert main(["run", str(toml), "--input", str(b), "--backend", "numpy"]) == 2
    assert "nothing to do" not in capsys.readouterr().err
    # the same input again: complete, nothing to do
    run_recipe(toml, backend="numpy", progress=True, stream=(log := _Log()))
    assert "nothing to do" in log.text
    # a rewritten with other data at the same path: its results are stale, refused
    hyperspec.save(hyperspec.open(b).compute(), a, overwrite=True, progress=False)
    with pytest.raises(StoreExistsError, match="different recipe"):
        run_recipe(toml, backend="numpy", progress=False)
    # --overwrite recomputes it from the new data
    res = hyperspec.open(run_recipe(toml, backend="numpy", overwrite=True, progress=False))
    ref = hyperspec.preprocess.remove_spikes(hyperspec.open(b).compute())
    np.testing.assert_array_equal(res["n_spikes"].values, ref["spike_mask"].values.sum(-1))


class _Log:
    def __init__(self):
        self.text = ""

    def write(self, s):
        self.text += s

    def flush(self):
        pass


def test_input_identity_of_a_file_sees_content_not_only_size_and_time(tmp_path):
    f = tmp_path / "m.txt"
    f.write_bytes(b"a" * 3_000_000)
    st = f.stat()
    first = input_identity(f)
    for offset in (10, 3_000_000 - 10):  # inside the first and the last MiB
        data = bytearray(f.read_bytes())
        data[offset] = ord("b")
        f.write_bytes(bytes(data))
        os.utime(f, ns=(st.st_atime_ns, st.st_mtime_ns))  # same size, same time
        assert input_identity(f)["content"] != first["content"]
        f.write_bytes(b"a" * 3_000_000)
        os.utime(f, ns=(st.st_atime_ns, st.st_mtime_ns))
        assert input_identity(f) == first
    assert input_identity(tmp_path / "nope.zarr") == {"path": str((tmp_path / "nope.zarr").resolve()), "kind": "missing"}
    link = tmp_path / "link.txt"
    link.symlink_to(f)
    assert input_identity(link) == first  # a symlink is its target


def test_input_identity_of_a_store_follows_its_chunks(store):
    first = input_identity(store)
    assert first["kind"] == "store" and first == input_identity(store)
    chunk = next(p for p in (store / "spectra").rglob("*") if p.is_file() and p.name != "zarr.json")
    st = chunk.stat()
    os.utime(chunk, ns=(st.st_atime_ns, st.st_mtime_ns + 1_000_000_000))
    assert input_identity(store) != first
