"""The ``hyperspec`` command: ``info``, ``simulate``, ``decompose``, ``preprocess``, ``steps``, ``run``, ``report``, ``demo`` and more.

Errors caused by the user (bad paths, units, sizes, existing outputs …) print one line
``hyperspec: error: …`` and exit with status 2; no traceback.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import tomllib

__all__ = ["main"]


def _parse_size(text: str) -> tuple[int, ...]:
    try:
        parts = tuple(int(p) for p in text.lower().replace("×", "x").split("x"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"size {text!r} must look like 64x64 (or FRAMESxNX, FRAMESxNYxNX)") from None
    if not parts or any(p < 1 for p in parts):
        raise argparse.ArgumentTypeError(f"size {text!r}: every number must be ≥ 1")
    return parts


def _fmt_bytes(n: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if n < 1024 or unit == "TiB":
            return f"{n:.1f} {unit}" if unit != "B" else f"{int(n)} B"
        n /= 1024
    return f"{n:.1f} TiB"


def _refuse_existing(out: Path, overwrite: bool, what: str) -> None:
    from hyperspec._errors import StoreExistsError  # noqa: PLC0415

    if out.exists() and not overwrite:
        raise StoreExistsError(f"{out} already exists; pass --overwrite to replace {what}, or choose another output.")


def _start(path, args, what: str):
    """The output path (refused when it exists, unless --overwrite) and the announced backend of a command."""
    import hyperspec  # noqa: PLC0415

    out = Path(path)
    _refuse_existing(out, args.overwrite, what)
    backend = hyperspec.resolve_backend(args.backend)
    print(backend.notice)
    return out, backend


def _file_info(path: Path, options: dict) -> int:
    import hyperspec  # noqa: PLC0415
    from hyperspec.io.registry import find_reader  # noqa: PLC0415

    if find_reader(path).name == "nt-mdt":  # a container: list its frames first
        from hyperspec.io.mdt import mdt_frames  # noqa: PLC0415

        for f in mdt_frames(path):
            extra = f" '{f['title']}' " + "×".join(str(d["max"] - d["min"] + 1) for d in f["dimensions"]) if "title" in f else ""
            print(f"frame {f['index']:<3} {f['type']}{extra} ({_fmt_bytes(f['size'])}, {f['date']})")
        from hyperspec._errors import ReaderError  # noqa: PLC0415

        try:
            hyperspec.open(path, **options)
        except ReaderError:
            print("no spectral frame: images and curves are listed above; hyperspec reads MDA frames with a spectral axis.")
            return 0
    ds = hyperspec.open(path, **options)
    rows = [("path", str(path)), ("format", f"{ds.attrs.get('reader')} ({ds.attrs.get('instrument', '')})".replace(" ()", ""))]
    rows.append(("dims", ", ".join(f"{k}={v}" for k, v in ds["spectra"].sizes.items())))
    for coord, label, unit in (("shift", "Raman shift", "cm-1"), ("wavelength", "wavelength", "nm"), ("energy", "energy", "eV")):
        if coord in ds.coords:
            v = ds[coord].values
            rows.append((label, f"{v.min():.6g} … {v.max():.6g} {unit}"))
    rows.append(("laser", f"{ds.attrs['laser_nm']} nm" if "laser_nm" in ds.attrs else "unknown: pass --laser-nm to convert"))
    rows.append(("axis unit as read", ds.attrs.get("spectral_unit", "")))
    if "wavelength" in ds.coords or "laser_nm" in ds.attrs:
        from hyperspec.model import laser_medium, wavelength_medium  # noqa: PLC0415

        medium = f"wavelengths in {wavelength_medium(ds)}" + (f", laser in {laser_medium(ds)}" if "laser_nm" in ds.attrs else "")
        rows.append(("medium", medium + " (energy and shift from vacuum wavelengths)"))
    for dim in ("x", "y", "z", "t"):
        if dim in ds.coords and ds[dim].size > 1:
            rows.append((dim, f"{ds[dim].values.min():.6g} … {ds[dim].values.max():.6g} {ds[dim].attrs.get('units', '')}"))
    meta = ds.attrs.get("metadata", {})
    if meta:
        rows.append(("file metadata", ", ".join(list(meta)[:12]) + (" …" if len(meta) > 12 else "")))
    width = max(len(k) for k, _ in rows)
    for key, value in rows:
        print(f"{key:<{width}}  {value}")
    return 0


def _root_attrs(path) -> dict:
    """The root attributes of a Zarr v3 store (its ``zarr.json``), or {} when unreadable."""
    import json  # noqa: PLC0415

    try:
        return dict(json.loads((Path(path) / "zarr.json").read_text()).get("attributes") or {})
    except (OSError, ValueError, AttributeError):
        return {}


def _reader_options(args) -> dict:
    """Reader options from the command line (only those given)."""
    names = {"unit": "unit", "axis": "axis", "dataset": "dataset", "frame": "frame", "medium": "medium"}
    options = {key: getattr(args, attr) for attr, key in names.items() if getattr(args, attr, None) is not None}
    return options | ({"force": True} if getattr(args, "force", False) else {})


def _add_reader_options(p) -> None:
    p.add_argument("--unit", choices=["nm", "cm-1", "cm-1-abs", "eV"], help="spectral unit of a file that does not say")
    p.add_argument("--force", action="store_true", help="with --unit: relabel the axis of a file that records another unit")
    p.add_argument("--axis", help="spectral axis: a .npy/.txt file (for .npy input) or a dataset path (HDF5)")
    p.add_argument("--dataset", help="HDF5: the dataset holding the spectra")
    p.add_argument("--frame", type=int, help="NT-MDT .mdt: the frame to read")
    p.add_argument(
        "--medium",
        choices=["air", "vacuum"],
        help="the medium the file's axis and laser were measured in, where the reader's default does not fit "
        "(default: air for wavelengths, vacuum for wavenumbers and energies); energy and shift follow",
    )


def _add_progress_options(p) -> None:
    """``--progress`` and ``--quiet``, on every command that runs long (``main`` applies them)."""
    p.add_argument(
        "--progress",
        choices=["bar", "plain", "none"],
        default=None,
        help="progress display: an updating bar, sparse lines (logs) or none (default: bar on a terminal, else plain)",
    )
    p.add_argument("-q", "--quiet", action="store_true", help="no progress and no messages: errors only")


def cmd_convert(args) -> int:
    """The ``hyperspec convert`` command (``hyperspec convert --help`` lists its options).

    Parameters
    ----------
    args : argparse.Namespace
        The parsed command line.

    Returns
    -------
    int
        The exit status (0; user errors raise and ``main`` turns them into status 2).

    Examples
    --------
    >>> build_parser().parse_args(["convert", "in.wdf", "out.zarr"]).func is cmd_convert
    True
    """
    import hyperspec  # noqa: PLC0415
    from hyperspec._paths import check_output_paths  # noqa: PLC0415
    from hyperspec.pipeline.lock import RunLock  # noqa: PLC0415

    out = Path(args.output)
    check_output_paths(out, [args.input], what="output store")  # before anything is deleted
    _refuse_existing(out, args.overwrite, "the output store")
    ds = hyperspec.open(args.input, laser_nm=args.laser_nm, **_reader_options(args))
    with RunLock(out):  # another convert/decompose/run writing the same store: refused, naming it (no --overwrite race)
        path = hyperspec.save(ds, out, overwrite=args.overwrite, label="convert")
    print(f"wrote {path} ({', '.join(f'{k}={v}' for k, v in ds['spectra'].sizes.items())}; reader {ds.attrs.get('reader')})")
    return 0


def cmd_info(args) -> int:
    """The ``hyperspec info`` command (``hyperspec info --help`` lists its options).

    Parameters
    ----------
    args : argparse.Namespace
        The parsed command line.

    Returns
    -------
    int
        The exit status (0; user errors raise and ``main`` turns them into status 2).

    Examples
    --------
    >>> build_parser().parse_args(["info", "m.zarr"]).func is cmd_info
    True
    """
    from hyperspec.io.zarr_ import is_store, store_info  # noqa: PLC0415

    if Path(args.path).is_file() and not is_store(args.path):
        return _file_info(Path(args.path), _reader_options(args))
    info = store_info(args.path)
    rows = [
        ("path", info["path"]),
        ("schema", f"{info['schema']} (written by {info['written_by']})"),
        ("complete", "yes" if info["complete"] else "NO - writing was interrupted; re-run the command that wrote it"),
        ("dims", ", ".join(f"{k}={v}" for k, v in info["dims"].items())),
    ]
    for name, var in info["variables"].items():
        chunks = f", chunks {var['chunks']}" if var["chunks"] else ""
        rows.append(
            (name if len(info["variables"]) < 8 or name == "spectra" else None, f"{var['dtype']} on ({', '.join(var['dims'])}){chunks}")
        )
    if len(info["variables"]) >= 8:  # results: one line per band in model order, then fit quality (± = with its _stderr)
        from hyperspec.io.export import result_group_lines  # noqa: PLC0415

        rows = [r for r in rows if r[0] is not None]
        dims = {n: v["dims"] for n, v in info["variables"].items() if n != "spectra"}
        rows.append(("variables", f"{len(dims)} by band in model order (± = with its _stderr)"))
        rows += [(f"  {group}", text) for group, text in result_group_lines(dims, _root_attrs(args.path).get("model"))]
    for coord, label in (("shift", "Raman shift"), ("wavelength", "wavelength"), ("energy", "energy")):
        if coord in info:
            lo, hi, unit = info[coord]
            rows.append((label, f"{lo:.6g} … {hi:.6g} {unit}"))
    rows.append(("laser", f"{info['laser_nm']} nm" if info["laser_nm"] is not None else "unknown (no Raman shift axis)"))
    if info.get("spectral_unit"):
        rows.append(("axis unit as read", info["spectral_unit"]))
    for dim in ("x", "y", "t", "power"):
        if f"{dim}_range" in info:
            lo, hi, unit = info[f"{dim}_range"]
            rows.append((dim, f"{lo:.6g} … {hi:.6g} {unit}"))
    if info["groups"]:
        rows.append(("groups", ", ".join(info["groups"])))
    if info["history"]:
        rows.append(("history", " → ".join(info["history"])))
    rows.append(("on disk", f"{_fmt_bytes(info['bytes_on_disk'])} (compression ratio {info['compression_ratio']:.2f})"))
    width = max(len(k) for k, _ in rows)
    for key, value in rows:
        print(f"{key:<{width}}  {value}")
    return 0


def cmd_simulate(args) -> int:
    """The ``hyperspec simulate`` command (``hyperspec simulate --help`` lists its options).

    Parameters
    ----------
    args : argparse.Namespace
        The parsed command line.

    Returns
    -------
    int
        The exit status (0; user errors raise and ``main`` turns them into status 2).

    Examples
    --------
    >>> build_parser().parse_args(["simulate", "map", "m.zarr"]).func is cmd_simulate
    True
    """
    from hyperspec import synthetic  # noqa: PLC0415

    t0 = time.perf_counter()
    overrides = {}
    if args.emccd_gain is not None:
        overrides["emccd_gain"] = args.emccd_gain
    if args.brightness is not None:
        overrides["brightness"] = args.brightness
    path = synthetic.write(
        args.kind,
        args.out,
        tuple(args.size) if args.size else None,
        overwrite=args.overwrite,
        n_spectral=args.n_spectral,
        seed=args.seed,
        noise=not args.no_noise,
        artefacts=not args.no_artefacts,
        **overrides,
    )
    print(f"wrote {args.kind} to {path} in {time.perf_counter() - t0:.1f} s (ground truth in group 'truth'); see: hyperspec info {path}")
    return 0


def _preset_params(pairs) -> dict:
    """``--set KEY=VALUE`` pairs as preset parameters: numbers, comma lists of numbers (``positions``), ``none``, text.

    Examples
    --------
    >>> _preset_params(["positions=1001.4,1031.8", "shape=voigt", "n=5", "baseline=none"])
    {'positions': [1001.4, 1031.8], 'shape': 'voigt', 'n': 5, 'baseline': None}
    """
    import hyperspec  # noqa: PLC0415

    out = {}
    for pair in pairs or []:
        key, sep, text = str(pair).partition("=")
        if not sep or not key.strip():
            raise hyperspec.HyperspecError(f"--set takes KEY=VALUE (e.g. --set positions=1001.4,1031.8); got {pair!r}.")
        key, text = key.strip(), text.strip()

        def number(t):
            try:
                return int(t)
            except ValueError:
                return float(t)

        try:
            if text.lower() in ("none", "null"):
                value = None
            elif "," in text or (key == "positions" and text != "auto"):
                value = [float(t) for t in text.split(",") if t.strip()]
            else:
                value = number(text)
        except ValueError:
            value = text
        out[key] = value
    return out


def cmd_decompose(args) -> int:
    """The ``hyperspec decompose`` command (``hyperspec decompose --help`` lists its options).

    Parameters
    ----------
    args : argparse.Namespace
        The parsed command line.

    Returns
    -------
    int
        The exit status (0; user errors raise and ``main`` turns them into status 2).

    Examples
    --------
    >>> build_parser().parse_args(["decompose", "m.zarr", "r.zarr"]).func is cmd_decompose
    True
    """
    import numpy as np  # noqa: PLC0415

    import hyperspec  # noqa: PLC0415
    from hyperspec import report  # noqa: PLC0415
    from hyperspec._paths import check_output_paths  # noqa: PLC0415
    from hyperspec.fit.decompose import STATUS_MEANINGS  # noqa: PLC0415
    from hyperspec.fit.results import at_bound_summary  # noqa: PLC0415
    from hyperspec.pipeline.lock import RunLock  # noqa: PLC0415

    check_output_paths(args.output, [args.input], what="output store")  # before anything is deleted
    out, backend = _start(args.output, args, "it")
    ds = hyperspec.open(args.input)
    overrides = {"drop": args.drop} if args.drop else {}
    if args.model and args.preset:
        raise hyperspec.HyperspecError("decompose takes --preset or --model, not both.")
    model = hyperspec.load_model(args.model) if args.model else None  # a bad file fails here, before any work
    preset = args.preset or "cspbbr3-633"
    kw = {"backend": backend.name, "batch_size": args.batch_size, "max_iter": args.max_iter, **overrides}
    kw.update(_preset_params(getattr(args, "set", None)))  # a parametrised preset's parameters (peaks, pl-band)
    results = hyperspec.decompose(ds, preset, model=model, **kw)
    if "autostart_summary" in results.attrs:
        print(results.attrs["autostart_summary"])
    lead = [d for d in ds["spectra"].dims if d != "spectral"]
    n_pix = int(np.prod([ds.sizes[d] for d in lead]))
    t0 = time.perf_counter()
    with RunLock(out), hyperspec.single_threaded_blas():  # the store's lock, as `run` takes it; chunks are the parallel unit
        hyperspec.save(results, out, overwrite=args.overwrite, label="decompose")  # computes chunk by chunk, with progress
    written = hyperspec.open(out)
    codes, counts = np.unique(written["status"].values, return_counts=True)
    print(f"wrote {out}: {len(results.data_vars)} variables on ({', '.join(lead)}); {n_pix:,} pixels in {time.perf_counter() - t0:.1f} s")
    print("status: " + ", ".join(f"{int(c)} {STATUS_MEANINGS.get(int(k), k)}" for k, c in zip(codes, counts, strict=True)))
    if bounds := at_bound_summary(written):  # which parameter sits on its bound (the at_bound variable)
        print(bounds)
    if args.png:
        paths = report.write_figures(written, args.png)  # every band of the model: maps, profiles (line scans) or kymographs
        print(f"pictures: {len(paths)} PNG files in {args.png}")
    return 0


def cmd_export(args) -> int:
    """The ``hyperspec export`` command (``hyperspec export --help`` lists its options).

    Parameters
    ----------
    args : argparse.Namespace
        The parsed command line.

    Returns
    -------
    int
        The exit status (0; user errors raise and ``main`` turns them into status 2).

    Examples
    --------
    >>> build_parser().parse_args(["export", "r.zarr"]).func is cmd_export
    True
    """
    import hyperspec  # noqa: PLC0415
    from hyperspec.io import export  # noqa: PLC0415

    if not (args.tiff or args.csv or args.hspy or args.spectra_csv or args.netcdf or args.ome_zarr):
        raise SystemExit(
            "hyperspec export: name at least one output: --tiff DIR, --csv FILE, --spectra-csv FILE, --hspy FILE, --netcdf FILE "
            "or --ome-zarr DIR."
        )
    from hyperspec._paths import check_output_paths  # noqa: PLC0415

    for target in (args.tiff, args.csv, args.spectra_csv, args.hspy, args.netcdf, args.ome_zarr):
        if target:
            check_output_paths(target, [args.store], what="export output")  # before anything is written
    if args.netcdf:
        _refuse_existing(Path(args.netcdf), args.overwrite, "the netCDF file")
    if args.ome_zarr:
        _refuse_existing(Path(args.ome_zarr), args.overwrite, "the OME-Zarr image")
    if args.hspy:
        from hyperspec.io.export import refuse_unwritable_hyperspy_file  # noqa: PLC0415

        refuse_unwritable_hyperspy_file(args.hspy)  # .zspy on Zarr 3: said before the map is read
    ds = hyperspec.open(args.store, **_reader_options(args))
    names = args.variables.split(",") if args.variables else None
    if args.tiff:
        paths = export.write_tiff(ds, args.tiff, names)
        print(f"wrote {len(paths)} TIFF band maps into {args.tiff}")
    if args.csv:
        print(f"wrote {export.write_csv(ds, args.csv, names)}")
    if args.spectra_csv:
        print(f"wrote {export.write_spectra_csv(ds, args.spectra_csv)}")
    if args.hspy:
        _refuse_existing(Path(args.hspy), args.overwrite, "the HyperSpy file")
        signal = export.to_hyperspy(ds)
        signal.save(args.hspy, overwrite=args.overwrite)
        print(f"wrote {args.hspy} (HyperSpy {type(signal).__name__}, signal_type {signal.metadata.Signal.signal_type!r}; "
              "from_hyperspy(hs.load(...)) gives the map back)")  # fmt: skip
    if args.netcdf:
        from hyperspec.io.netcdf import write_netcdf  # noqa: PLC0415

        print(f"wrote {write_netcdf(ds, args.netcdf, overwrite=args.overwrite)} (netCDF-4, CF attrs)")
    if args.ome_zarr:
        from hyperspec.io.ome_zarr import write_ome_zarr  # noqa: PLC0415

        out = write_ome_zarr(ds, args.ome_zarr, variables=names, overwrite=args.overwrite)
        print(f"wrote {out} (OME-Zarr image of the band maps)")
    return 0


def cmd_profile(args) -> int:
    """The ``hyperspec profile`` command (``hyperspec profile --help`` lists its options).

    Parameters
    ----------
    args : argparse.Namespace
        The parsed command line.

    Returns
    -------
    int
        The exit status (0; user errors raise and ``main`` turns them into status 2).

    Examples
    --------
    >>> build_parser().parse_args(["profile", "r.zarr", "aspl_area", "--start", "0", "0", "--end", "1", "1"]).func is cmd_profile
    True
    """
    from hyperspec.pipeline.outputs import run_analyses  # noqa: PLC0415

    a = {"kind": "line_profile", "variable": args.variable, "start": args.start, "end": args.end, "width": args.width}
    for path in run_analyses(args.store, [a], Path(args.out)):
        print(f"wrote {path}")
    return 0


def cmd_filter(args) -> int:
    """The ``hyperspec filter`` command (``hyperspec filter --help`` lists its options).

    Parameters
    ----------
    args : argparse.Namespace
        The parsed command line.

    Returns
    -------
    int
        The exit status (0; user errors raise and ``main`` turns them into status 2).

    Examples
    --------
    >>> build_parser().parse_args(["filter", "r.zarr", "aspl_area"]).func is cmd_filter
    True
    """
    from hyperspec.pipeline.outputs import run_analyses  # noqa: PLC0415

    a = {"kind": "filter_map", "variable": args.variable, "filter": args.kind, "size": args.size}
    for path in run_analyses(args.store, [a], Path(args.out)):
        print(f"wrote {path}")
    return 0


def cmd_formats(args) -> int:
    """The ``hyperspec formats`` command (``hyperspec formats --help`` lists its options).

    Parameters
    ----------
    args : argparse.Namespace
        The parsed command line.

    Returns
    -------
    int
        The exit status (0; user errors raise and ``main`` turns them into status 2).

    Examples
    --------
    >>> build_parser().parse_args(["formats"]).func is cmd_formats
    True
    """
    from hyperspec.io.registry import readers  # noqa: PLC0415

    print(f"{'reader':<15} {'extensions':<32} {'lazy':<5} {'needs':<13} reads")
    for r in sorted(readers(), key=lambda r: r.name):
        print(f"{r.name:<15} {', '.join(r.extensions):<32} {'yes' if r.lazy else 'no':<5} {r.requires or '-':<13} {r.description}")
    print("plus hyperspec Zarr stores (directories). Readers marked 'needs' use an optional package "
          '(pip install "hyperspec-maps[formats]").')  # fmt: skip
    return 0


def cmd_presets(args) -> int:
    """The ``hyperspec presets`` command (``hyperspec presets --help`` lists its options).

    Parameters
    ----------
    args : argparse.Namespace
        The parsed command line.

    Returns
    -------
    int
        The exit status (0; user errors raise and ``main`` turns them into status 2).

    Examples
    --------
    >>> build_parser().parse_args(["presets"]).func is cmd_presets
    True
    """
    from hyperspec.bands.components import COMPONENTS  # noqa: PLC0415
    from hyperspec.bands.presets import BUILDERS, PRESETS, get_preset, preset_names  # noqa: PLC0415

    params = _preset_params(getattr(args, "set", None))
    show = getattr(args, "show", None)
    if show:
        from hyperspec.fit.model_spec import model_to_toml  # noqa: PLC0415

        data = None
        if getattr(args, "data", None):
            import hyperspec  # noqa: PLC0415

            data = hyperspec.open(args.data)
        preset = get_preset(show, data=data, **params)
        found = preset.pop("autostart", None)
        header = f"hyperspec preset {show!r} as a model file: edit, then decompose --model FILE (or model = FILE in a recipe)"
        if found is not None:
            header += f"\nfound on {args.data}: {found.summary()}"
            print(found.summary(), file=sys.stderr)
        print(model_to_toml(preset, header=header), end="")
        return 0
    if args.name:
        import json  # noqa: PLC0415

        preset = get_preset(args.name, **params)
        preset.pop("autostart", None)
        print(json.dumps(preset, indent=2))
        return 0
    print("presets (hyperspec presets --show NAME prints one as a model file to copy and edit; NAME alone as JSON):")
    for name in preset_names():
        if name in BUILDERS:
            what = BUILDERS[name][0].__doc__.strip().rstrip(".")
            print(f"  {name}: parametrised ({what}); parameters {', '.join(BUILDERS[name][1])} (--set KEY=VALUE)")
        else:
            print(f"  {name}: {PRESETS[name]['description']}")
    print("components (shapes a model term can use):")
    for comp in COMPONENTS.values():
        params = ", ".join(f"{p.name} [{p.unit}]" if p.unit else p.name for p in comp.params)
        print(f"  {comp.name} ({comp.axis}): {params} - {comp.description}")
    return 0


def cmd_steps(args) -> int:
    """The ``hyperspec steps`` command (``hyperspec steps --help`` lists its options).

    Parameters
    ----------
    args : argparse.Namespace
        The parsed command line.

    Returns
    -------
    int
        The exit status (0; user errors raise and ``main`` turns them into status 2).

    Examples
    --------
    >>> build_parser().parse_args(["steps"]).func is cmd_steps
    True
    """
    import json  # noqa: PLC0415

    from hyperspec.pipeline.steps import describe_steps, markdown_table  # noqa: PLC0415

    if args.markdown:
        print(markdown_table(), end="")
    elif args.json:
        print(json.dumps(describe_steps(), indent=2))
    else:
        for s in describe_steps():
            params = ", ".join(f"{p['name']}{'' if p['required'] else '?'}" for p in s["params"])
            print(f"  {s['name']} ({'whole map' if s['scope'] == 'map' else 'per chunk'}): {params} - {s['doc']}")
    return 0


def cmd_analyses(args) -> int:
    """The ``hyperspec analyses`` command (``hyperspec analyses --help`` lists its options).

    Parameters
    ----------
    args : argparse.Namespace
        The parsed command line.

    Returns
    -------
    int
        The exit status (0; user errors raise and ``main`` turns them into status 2).

    Examples
    --------
    >>> build_parser().parse_args(["analyses", "--markdown"]).func is cmd_analyses
    True
    """
    import json  # noqa: PLC0415

    from hyperspec.pipeline.analyses import describe_analyses, markdown_table  # noqa: PLC0415

    if args.markdown:
        print(markdown_table(), end="")
    elif args.json:
        print(json.dumps(describe_analyses(), indent=2))
    else:
        for a in describe_analyses():
            params = ", ".join(f"{p['name']}{'' if p['required'] else '?'}" for p in a["params"])
            print(f"  {a['name']} ({'spectra' if a['input'] == 'map' else 'results'} -> {a['output']}): {params} - {a['doc']}")
    return 0


def cmd_kinetics(args) -> int:
    """The ``hyperspec kinetics`` command (``hyperspec kinetics --help`` lists its options).

    Parameters
    ----------
    args : argparse.Namespace
        The parsed command line.

    Returns
    -------
    int
        The exit status (0; user errors raise and ``main`` turns them into status 2).

    Examples
    --------
    >>> build_parser().parse_args(["kinetics", "r.zarr", "--bands", "aspl_area,lers_area"]).bands
    'aspl_area,lers_area'
    """
    from hyperspec.pipeline.analyses import run_kinetics  # noqa: PLC0415

    bands = [b.strip() for b in args.bands.split(",") if b.strip()] if args.bands else None
    from hyperspec._progress import get_mode  # noqa: PLC0415

    written, summary = run_kinetics(args.store, bands=bands, map_store=args.map, png_dir=args.png, csv_dir=args.csv, backend=args.backend,
                                    progress=get_mode() != "none")  # fmt: skip
    groups = [p for p in written if Path(args.store) in p.parents]
    files = [p for p in written if p not in groups]
    print(f"wrote {len(groups)} groups into {args.store} (kinetics/...; hyperspec.open(store, group=...))")
    for path in files:
        print(f"wrote {path}")
    if summary:
        print(summary)
    return 0


def cmd_curves(args) -> int:
    """The ``hyperspec curves`` command (``hyperspec curves --help`` lists its options).

    Parameters
    ----------
    args : argparse.Namespace
        The parsed command line.

    Returns
    -------
    int
        The exit status (0; user errors raise and ``main`` turns them into status 2).

    Examples
    --------
    >>> build_parser().parse_args(["curves", "--markdown"]).func is cmd_curves
    True
    """
    from hyperspec.fit.curves import curve_models  # noqa: PLC0415

    models = curve_models()
    if args.markdown:
        print("| model | parameters (units) | equation |")
        print("|---|---|---|")
        for m in models.values():
            params = ", ".join(f"`{p}` ({m.units[p]})" if m.units.get(p) else f"`{p}`" for p in m.params)
            print(f"| `{m.name}` | {params} | {m.equation.replace('|', chr(92) + '|')} |")
        return 0
    print('curve models (fit_curves, [[analysis]] step = "fit_curves" model = "..."):')
    for m in models.values():
        params = ", ".join(f"{p} [{m.units[p]}]" if m.units.get(p) else p for p in m.params)
        print(f"  {m.name}: {m.equation}  ({params}; x in {m.x_units or 'any unit'})")
    return 0


def _param(text: str):
    key, sep, value = text.partition("=")
    if not sep or not key:
        raise argparse.ArgumentTypeError(f"--param {text!r} must look like name=value, e.g. lam=1e5")
    low = value.strip().lower()
    if low in ("true", "false"):
        return key.strip(), low == "true"
    try:
        number = float(value)
    except ValueError:
        return key.strip(), value
    return key.strip(), int(number) if number.is_integer() and "." not in value and "e" not in low else number


def _preprocess_flags(args) -> list:
    """The steps ``hyperspec preprocess`` was asked for, in its order: ``(step, label)`` builders of the map at that point.

    Each flag maps onto one registered pipeline step (``hyperspec.pipeline.steps``); ``--silicon``
    and ``--neon`` first measure what the step needs (the Si line's offset, the lamp's lines).
    """
    import numpy as np  # noqa: PLC0415

    import hyperspec  # noqa: PLC0415
    from hyperspec import preprocess  # noqa: PLC0415
    from hyperspec.pipeline.steps import lamp_calibration  # noqa: PLC0415

    def silicon(ds):
        line = preprocess.find_line(ds.compute() if args.silicon == "self" else hyperspec.open(args.silicon).compute())
        offset = float(np.nanmedian(line["offset"].values))
        print(f"silicon line at {float(np.nanmedian(line['center'].values)):.2f} cm-1: axis offset {offset:+.2f} cm-1")
        return {"step": "calibrate_shift", "offset": offset}, f"calibrate_shift({offset:+.3f})"

    def neon(ds):
        laser = ds.attrs.get("laser_nm")
        step = {"step": "calibrate_wavelength", "lamp": args.neon, **({"lamp_laser_nm": float(laser)} if laser is not None else {})}
        cal = lamp_calibration({k: v for k, v in step.items() if k != "step"})  # computed once: the step reuses it
        print(f"lamp: {cal.attrs['n_lines']} lines, residual {cal.attrs['rms_nm']:.4f} nm RMS ({cal.attrs['rms_cm']:.3f} cm-1)")
        return step, "apply_wavelength_calibration"

    def denoise(ds):
        return {"step": "denoise", "n_components": "auto" if args.denoise == "auto" else int(args.denoise)}, "denoise"

    baseline = {"step": "baseline", "method": args.baseline, "subtract": args.subtract, **dict(args.param or [])}
    flags = [
        (args.spikes, lambda ds: ({"step": "remove_spikes", "threshold": args.spike_threshold}, "remove_spikes")),
        (args.drift, lambda ds: ({"step": "register_drift"}, "register_drift")),
        (args.silicon, silicon),
        (not args.silicon and args.offset is not None,
         lambda ds: ({"step": "calibrate_shift", "offset": args.offset}, f"calibrate_shift({args.offset:+.3f})")),
        (args.neon, neon),
        (args.notch is not None, lambda ds: ({"step": "mask_notch", "half_width": args.notch}, "mask_notch")),
        (args.crop, lambda ds: ({"step": "crop", "lo": args.crop[0], "hi": args.crop[1]}, "crop")),
        (args.baseline, lambda ds: (baseline, f"baseline({args.baseline})")),
        (args.denoise, denoise),
    ]  # fmt: skip
    return [build for chosen, build in flags if chosen]


def cmd_preprocess(args) -> int:
    """The ``hyperspec preprocess`` command (``hyperspec preprocess --help`` lists its options).

    Parameters
    ----------
    args : argparse.Namespace
        The parsed command line.

    Returns
    -------
    int
        The exit status (0; user errors raise and ``main`` turns them into status 2).

    Examples
    --------
    >>> build_parser().parse_args(["preprocess", "m.zarr", "c.zarr", "--spikes"]).func is cmd_preprocess
    True
    """
    import numpy as np  # noqa: PLC0415

    import hyperspec  # noqa: PLC0415
    from hyperspec import report  # noqa: PLC0415
    from hyperspec._paths import check_output_paths  # noqa: PLC0415
    from hyperspec.pipeline.steps import apply_step, validate_step  # noqa: PLC0415

    out = Path(args.output)
    check_output_paths(out, [args.input], what="output store")  # before anything is deleted
    _refuse_existing(out, args.overwrite, "the output store")
    builders = _preprocess_flags(args)
    if not builders:
        raise ValueError("no step chosen; add e.g. --spikes, --baseline asls, --denoise auto (see hyperspec preprocess --help).")
    ds = hyperspec.open(args.input)
    before = ds
    steps = []
    for build in builders:  # the same step runner as a recipe's, on the whole (lazy) map
        step, label = build(ds)
        ds = apply_step(ds, validate_step(step, where=lambda key: "hyperspec preprocess"), args.backend)
        steps.append(f"denoise(k={ds.attrs['pca_n_components']})" if step["step"] == "denoise" else label)
    print("steps: " + " -> ".join(steps))
    from hyperspec._progress import Progress  # noqa: PLC0415

    with Progress("preprocess", int(np.prod([ds.sizes[d] for d in ds["spectra"].dims[:-1]]))), hyperspec.single_threaded_blas():
        ds = ds.compute()
    path = hyperspec.save(ds, out, overwrite=args.overwrite, progress=False)
    print(f"wrote {path}")
    if "spike_mask" in ds:
        n_ch = int(ds["spike_mask"].values.sum())
        n_sp = int(ds["spike_mask"].values.any(-1).sum())
        n_dead = int(ds["dead_pixel"].values.sum())
        n_sat = int(ds["saturated_mask"].values.any(-1).sum())
        print(f"spikes: {n_ch} channels replaced in {n_sp} spectra; {n_dead} dead pixels, {n_sat} with saturated channels")
    if args.png:
        dims = [d for d in ds["spectra"].dims if d != "spectral"]
        pick = [dict(zip(dims, (int(v) for v in np.unravel_index(i, [ds.sizes[d] for d in dims])), strict=True)) for i in (0,)]
        if "spike_mask" in ds and ds["spike_mask"].values.any():
            idx = np.flatnonzero(ds["spike_mask"].values.reshape(-1, ds.sizes["spectral"]).any(-1))[0]
            pick.append(dict(zip(dims, (int(v) for v in np.unravel_index(idx, [ds.sizes[d] for d in dims])), strict=True)))
        png = report.plot_preprocess(before.compute() if "spike_mask" in ds else before, ds, Path(args.png) / "preprocess.png", pick)
        print(f"picture: {png}")
    return 0


def cmd_run(args) -> int:
    """The ``hyperspec run`` command (``hyperspec run --help`` lists its options).

    Parameters
    ----------
    args : argparse.Namespace
        The parsed command line.

    Returns
    -------
    int
        The exit status (0; user errors raise and ``main`` turns them into status 2).

    Examples
    --------
    >>> build_parser().parse_args(["run", "recipe.toml"]).func is cmd_run
    True
    """
    from hyperspec import cluster  # noqa: PLC0415
    from hyperspec.pipeline import load_recipe, run_recipe  # noqa: PLC0415
    from hyperspec.pipeline.recipe import check_trusted  # noqa: PLC0415

    recipe = load_recipe(args.recipe)
    jobqueue = {k: v for k, v in (("job_extra_directives", args.job_directive), ("job_script_prologue", args.job_prologue)) if v}
    if args.show_job_script:
        check_trusted(recipe, args.trust_recipe)
        compute = dict(recipe["compute"])
        if args.scheduler:
            compute["scheduler"] = args.scheduler
        jq = {**compute.get("jobqueue", {}), **jobqueue, "system": compute.get("scheduler", "slurm")}
        print(cluster.job_script({**compute, "jobqueue": jq}))
        return 0
    run_recipe(recipe, input=args.input, output=args.output, backend=args.backend, scheduler=args.scheduler, overwrite=args.overwrite,
               trust_recipe=args.trust_recipe, jobqueue=jobqueue or None, wait=args.wait, progress=not args.quiet)  # fmt: skip
    return 0


def cmd_report(args) -> int:
    """The ``hyperspec report`` command (``hyperspec report --help`` lists its options).

    Parameters
    ----------
    args : argparse.Namespace
        The parsed command line.

    Returns
    -------
    int
        The exit status (0; user errors raise and ``main`` turns them into status 2).

    Examples
    --------
    >>> build_parser().parse_args(["report", "r.zarr"]).func is cmd_report
    True
    """
    from hyperspec.pipeline import write_report  # noqa: PLC0415

    store = Path(args.store)
    out = Path(args.out) if args.out else store.with_name(store.stem + "_png")
    for path in write_report(store, png_dir=out, csv_path=out / "regions.csv"):
        print(f"wrote {path}")
    return 0


def cmd_demo(args) -> int:
    """The ``hyperspec demo`` command (``hyperspec demo --help`` lists its options).

    Parameters
    ----------
    args : argparse.Namespace
        The parsed command line.

    Returns
    -------
    int
        The exit status (0; user errors raise and ``main`` turns them into status 2).

    Examples
    --------
    >>> build_parser().parse_args(["demo"]).func is cmd_demo
    True
    """
    import numpy as np  # noqa: PLC0415

    import hyperspec  # noqa: PLC0415
    from hyperspec import report, synthetic  # noqa: PLC0415
    from hyperspec._progress import format_rate  # noqa: PLC0415
    from hyperspec.fit.decompose import STATUS_MEANINGS, fitted_components  # noqa: PLC0415
    from hyperspec.pipeline import DEFAULT_RECIPE, run_recipe  # noqa: PLC0415

    out, backend = _start(args.out, args, "the demo output")
    t_start = time.perf_counter()
    ny, nx = args.size
    n_pix = ny * nx
    print(
        f"1/4 simulate a {ny}x{nx}x{args.n_spectral} CsPbBr3 map "
        f"(crystal | interface | glass, 500 nm pixels, 632.8 nm laser, seed {args.seed})"
    )
    out.mkdir(parents=True, exist_ok=True)
    map_path = synthetic.write("map", out / "map.zarr", (ny, nx), overwrite=args.overwrite, n_spectral=args.n_spectral, seed=args.seed)
    ds = hyperspec.open(map_path)
    truth = hyperspec.open(map_path, group="truth").compute()

    print("2/4 run the embedded default recipe: remove spikes, then decompose every spectrum (preset cspbbr3-633:")
    print("    aS-PL, l-ERS, h-ERS, Raman lines, baseline; regularised least squares), chunk by chunk into results.zarr")
    recipe = tomllib.loads(DEFAULT_RECIPE)
    recipe["input"]["path"] = str(map_path)
    recipe["output"].update(path=str(out / "results.zarr"), png=str(out / "png"), csv=str(out / "regions.csv"))
    recipe["compute"]["backend"] = backend.name
    (out / "recipe.toml").write_text(DEFAULT_RECIPE)
    t_fit0 = time.perf_counter()
    results_path = run_recipe(recipe, overwrite=args.overwrite, stream=sys.stdout, progress=not args.quiet)
    t_fit = time.perf_counter() - t_fit0
    results = hyperspec.open(results_path).compute()

    print("3/4 results store written chunk by chunk (resumable); band maps and regions.csv drawn from it")

    print("4/4 draw region spectra and one fit")
    pngs = sorted((out / "png").glob("*.png"))
    region = np.asarray(truth["region"].values)
    pngs.append(
        report.plot_spectra(
            ds, out / "png" / "spectra_by_region.png", {"crystal": region == 0, "interface": region == 1, "glass": region == 2}
        )
    )
    iy, ix = np.argwhere(region == 1)[len(np.argwhere(region == 1)) // 2]
    comps = fitted_components(results, ds, y=int(iy), x=int(ix))
    pngs.append(
        report.plot_fit(
            comps, out / "png" / "fit_interface_pixel.png", title=f"interface pixel y={iy}, x={ix}: data, fitted bands, residual"
        )
    )

    total = time.perf_counter() - t_start
    status = results["status"].values
    ok = status == 0

    def rel_err(name, mask):
        r, t = results[name].values[mask], truth[name].values[mask]
        return 100 * np.nanmedian(np.abs(r - t) / np.abs(t))

    peak = results["aspl_peak_ev"].values
    counts = ", ".join(f"{int((status == code).sum())} {STATUS_MEANINGS[code]}" for code in np.unique(status))
    print()
    print(f"map        {map_path}  ({ny}x{nx} pixels x {args.n_spectral} channels, ground truth in group 'truth')")
    print(f"results    {results_path}  ({len(results.data_vars)} variables: areas, positions, widths, temperature, errors, status)")
    print(f"pictures   {out / 'png'}  ({len(pngs)} PNG files; overview band_maps.png, fit_interface_pixel.png)")
    print(f"status     {counts}")
    print(
        f"vs truth   median error: aS-PL area {rel_err('aspl_area', ok):.1f} %, l-ERS area {rel_err('lers_area', ok):.1f} %, "
        f"h-ERS area (glass) {rel_err('hers_area', ok & (region == 2)):.1f} %, "
        f"T {np.nanmedian(np.abs(results['lers_temperature_k'].values - truth['lers_temperature_k'].values)[ok]):.0f} K"
    )
    print(
        f"aS-PL peak crystal {np.nanmedian(peak[ok & (region == 0)]):.3f} eV, "
        f"glass {np.nanmedian(peak[ok & (region == 2)]):.3f} eV (blue shift in glass)"
    )
    print(f"recipe     {out / 'recipe.toml'} (the embedded default; `hyperspec run` it on your own map)")
    last = results.attrs["runs"][-1]
    print(
        f"run        {format_rate(n_pix, last['seconds'])} on {backend.name} ({results.attrs['engine']}; spikes + decompose), "
        f"{t_fit:.1f} s with pictures; total {total:.1f} s"
    )
    return 0


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of the ``hyperspec`` command, one sub-command per ``cmd_*`` function.

    Returns
    -------
    argparse.ArgumentParser

    Examples
    --------
    >>> build_parser().parse_args(["steps", "--markdown"]).markdown
    True
    """
    from hyperspec import __version__  # noqa: PLC0415
    from hyperspec._backend import BACKENDS  # noqa: PLC0415
    from hyperspec.synthetic import KINDS  # noqa: PLC0415

    parser = argparse.ArgumentParser(prog="hyperspec", description="Process hyperspectral Raman / photoluminescence maps.")
    parser.add_argument("--version", action="version", version=f"hyperspec {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    p = sub.add_parser(
        "info",
        help="describe a hyperspec store or an instrument file",
        description=(
            "Print dims, sizes, spectral axis range and unit, laser, chunking, schema and completeness of a store "
            "(or of any readable instrument file)."
        ),
    )
    p.add_argument("path", help="a hyperspec Zarr store (directory) or an instrument file")
    _add_reader_options(p)
    p.set_defaults(func=cmd_info)

    p = sub.add_parser(
        "export",
        help="write band maps as TIFF or OME-Zarr, tables as CSV, a HyperSpy or a netCDF file",
        description="Export a results store (band maps → TIFF or OME-Zarr, per-pixel table → CSV) or a map (spectra → CSV or "
        "HyperSpy .hspy); either as netCDF-4 (--netcdf).",
    )
    p.add_argument("store", help="a hyperspec store (results or map) or an instrument file")
    p.add_argument("--tiff", help="directory for one float32 TIFF per map variable")
    p.add_argument("--csv", help="CSV file: one row per pixel, every per-pixel variable")
    p.add_argument("--spectra-csv", help="CSV file: the axis then one column per spectrum (small maps or selections)")
    p.add_argument("--hspy", help="HyperSpy file (.hspy/.zspy) of the spectra (needs hyperspy)")
    p.add_argument("--netcdf", metavar="FILE.nc", help="netCDF-4 file of the whole map or results (CF attrs; needs h5netcdf)")
    p.add_argument("--ome-zarr", metavar="DIR.ome.zarr", help="OME-Zarr image (c, y, x) of the results' band maps (needs ome-zarr)")
    p.add_argument("--variables", help="comma-separated variables for --tiff/--csv/--ome-zarr (default: all per-pixel variables)")
    p.add_argument("--overwrite", action="store_true", help="replace an existing output")
    _add_reader_options(p)
    p.set_defaults(func=cmd_export)

    p = sub.add_parser(
        "profile",
        help="values of a band map along a line (CSV + PNG)",
        description="A line profile of a results variable, averaged over --width pixels across the line (the paper's cross-sections).",
    )
    p.add_argument("store", help="a results store (or any store with (y, x) maps)")
    p.add_argument("variable", help="the map, e.g. aspl_area")
    p.add_argument("--start", type=float, nargs=2, required=True, metavar=("ROW", "COL"), help="start of the line (pixels)")
    p.add_argument("--end", type=float, nargs=2, required=True, metavar=("ROW", "COL"), help="end of the line (pixels)")
    p.add_argument("--width", type=int, default=1, help="pixels averaged across the line (default 1)")
    p.add_argument("--out", default="profiles", help="output folder (default ./profiles)")
    p.set_defaults(func=cmd_profile)

    p = sub.add_parser(
        "filter",
        help="median or Gaussian filter of a band map (TIFF + PNG)",
        description="Filter a results variable over (y, x): median (size pixels) or Gaussian (sigma = size pixels, NaN-aware).",
    )
    p.add_argument("store", help="a results store")
    p.add_argument("variable", help="the map, e.g. lers_temperature_k")
    p.add_argument("--kind", choices=["median", "gaussian"], default="median")
    p.add_argument("--size", type=float, default=3, help="median window or Gaussian sigma (pixels, default 3)")
    p.add_argument("--out", default="filtered", help="output folder (default ./filtered)")
    p.set_defaults(func=cmd_filter)

    p = sub.add_parser("formats", help="list the instrument file formats hyperspec reads", description="List every reader.")
    p.set_defaults(func=cmd_formats)

    p = sub.add_parser(
        "convert",
        help="convert an instrument file to a hyperspec store",
        description=(
            "Read any supported instrument file (see `hyperspec formats`) and write a store, streaming: files larger than "
            "256 MiB are read lazily, one chunk at a time, with progress."
        ),
    )
    p.add_argument("input", help="an instrument file")
    p.add_argument("output", help="the store to write")
    p.add_argument("--laser-nm", type=float, help="laser wavelength (nm) when the file does not record it (or to override it)")
    _add_reader_options(p)
    p.add_argument("--overwrite", action="store_true", help="replace an existing store")
    p.set_defaults(func=cmd_convert)

    p = sub.add_parser(
        "simulate",
        help="write a synthetic map with ground truth",
        description="Simulate a CsPbBr3 map with ground truth (group 'truth') and write it chunk by chunk to a Zarr store.",
    )
    p.add_argument("kind", choices=KINDS, help="map (y,x), kinetic-line (t,x), kinetic-map (t,y,x) or power (power,y,x)")
    p.add_argument("out", help="output store (directory)")
    p.add_argument("--size", type=_parse_size, help="NYxNX (map, power), FRAMESxNX (kinetic-line) or FRAMESxNYxNX (kinetic-map)")
    p.add_argument("--n-spectral", type=int, default=1024, help="spectral channels (default 1024)")
    p.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    p.add_argument("--emccd-gain", type=float, help="EMCCD gain (adds the √2 excess noise)")
    p.add_argument("--brightness", type=float, help="signal scale (default 1: aS-PL ≈1500 counts in crystal)")
    p.add_argument("--no-noise", action="store_true", help="noiseless spectra")
    p.add_argument("--no-artefacts", action="store_true", help="no cosmic rays, dead or saturated pixels")
    p.add_argument("--overwrite", action="store_true", help="replace an existing store")
    p.set_defaults(func=cmd_simulate)

    p = sub.add_parser(
        "decompose",
        help="decompose every spectrum of a map into its bands",
        description=(
            "Fit a band model (a preset) to every spectrum of a hyperspec store and write the per-pixel results "
            "(areas, positions, widths, temperature, errors, status) to a new store."
        ),
    )
    p.add_argument("input", help="a hyperspec map store")
    p.add_argument("output", help="the results store to write")
    p.add_argument("--preset", default=None, help="band preset (see: hyperspec presets); default cspbbr3-633")
    p.add_argument(
        "--model", metavar="FILE", help="a model file (TOML: [terms.<name>] tables; hyperspec presets --show NAME prints one to edit)"
    )
    p.add_argument("--drop", nargs="+", metavar="TERM", help="leave these terms out of the preset (e.g. cnt_d cnt_2d)")
    p.add_argument(
        "--set",
        action="append",
        metavar="KEY=VALUE",
        help="a parameter of a parametrised preset, e.g. --preset peaks --set positions=auto (or 1001.4,1031.8) --set shape=voigt",
    )
    p.add_argument("--backend", choices=BACKENDS, default=None, help="compute backend (default: $HYPERSPEC_BACKEND or auto)")
    p.add_argument(
        "--batch-size",
        type=int,
        default=None,
        help="pixels fitted together (memory: batch x channels x parameters); default 256 on numpy, sized to the GPU's free memory on cupy",
    )
    p.add_argument("--max-iter", type=int, default=200, help="Levenberg-Marquardt iterations per pixel; default 200")
    p.add_argument("--png", metavar="DIR", help="also draw PNG band maps into DIR")
    p.add_argument("--overwrite", action="store_true", help="replace an existing output store")
    p.set_defaults(func=cmd_decompose)

    p = sub.add_parser(
        "preprocess",
        help="clean a map: spikes, calibration, notch, crop, baseline, denoising",
        description=(
            "Apply preprocessing steps to a hyperspec store, in this order: spikes, drift, calibration, notch, crop, "
            "baseline, denoise; write the result (with its masks, baseline and PCA) to a new store."
        ),
    )
    p.add_argument("input", help="a hyperspec map store")
    p.add_argument("output", help="the store to write")
    p.add_argument("--spikes", action="store_true", help="remove cosmic rays (judged against neighbouring pixels/frames)")
    p.add_argument("--spike-threshold", type=float, default=7.0, help="spike threshold in noise units (default 7)")
    p.add_argument("--drift", action="store_true", help="register and correct stage drift between frames (t, y, x maps)")
    p.add_argument("--silicon", metavar="STORE", help="calibrate the Raman shift on the Si line (520.7 cm-1) of STORE ('self': this map)")
    p.add_argument("--offset", type=float, help="add this many cm-1 to the Raman-shift axis")
    p.add_argument("--neon", metavar="LAMP", help="correct the wavelength axis with the neon lines of the lamp spectrum in file LAMP")
    p.add_argument("--notch", type=float, metavar="CM", help="mark |shift| <= CM as the laser notch (coordinate notch_mask)")
    p.add_argument("--crop", type=float, nargs=2, metavar=("LO", "HI"), help="keep LO <= shift <= HI (cm-1)")
    p.add_argument("--baseline", metavar="METHOD", help="asls, arpls, airpls, poly, modpoly, quant_reg or loess (as in pybaselines)")
    p.add_argument("--param", type=_param, action="append", metavar="NAME=VALUE", help="baseline parameter, e.g. --param lam=1e5")
    p.add_argument("--subtract", action="store_true", help="subtract the baseline from the spectra")
    p.add_argument("--denoise", metavar="K", help="PCA denoising with K components, or 'auto'")
    p.add_argument("--backend", choices=BACKENDS, default=None, help="compute backend (default: $HYPERSPEC_BACKEND or auto)")
    p.add_argument("--png", metavar="DIR", help="draw before/after spectra into DIR/preprocess.png")
    p.add_argument("--overwrite", action="store_true", help="replace an existing output store")
    p.set_defaults(func=cmd_preprocess)

    p = sub.add_parser(
        "steps",
        help="list the recipe / preprocess steps and their parameters",
        description="List the registered pipeline steps (parameters with ? are optional); --markdown prints the README's table.",
    )
    p.add_argument("--markdown", action="store_true", help="the step table as Markdown (the README's)")
    p.add_argument("--json", action="store_true", help="the steps as JSON (name, scope, params with type/default/doc, outputs)")
    p.set_defaults(func=cmd_steps)

    p = sub.add_parser(
        "analyses",
        help="list the recipe [[analysis]] entries and their parameters",
        description="List the registered analyses (parameters with ? are optional); --markdown prints the README's table.",
    )
    p.add_argument("--markdown", action="store_true", help="the analysis table as Markdown (the README's)")
    p.add_argument("--json", action="store_true", help="the analyses as JSON (name, input, output, params with type/default/doc)")
    p.set_defaults(func=cmd_analyses)

    p = sub.add_parser(
        "kinetics",
        help="blinking periods, correlations, onsets (and power laws, SBPL events) of a results store",
        description=(
            "Run the standard kinetics set on a results store with a t dim: autocorrelation and periods per band, "
            "cross-correlation of each band pair, onset per band (power_law per band with a power dim; sbpl_events with "
            "--map). Results go into the store's kinetics/ groups (re-running replaces them); a summary is printed."
        ),
    )
    p.add_argument("store", help="a results store (hyperspec run / decompose of a kinetic map)")
    p.add_argument("--map", metavar="MAP", help="the spectra store the results came from (adds the SBPL event table)")
    p.add_argument("--bands", help="comma-separated results variables (default: aspl_area,lers_area,hers_area where present)")
    p.add_argument("--png", metavar="DIR", help="draw the kinetics pictures into DIR")
    p.add_argument("--csv", metavar="DIR", help="also write every result as a CSV table into DIR")
    p.add_argument("--backend", choices=BACKENDS, default=None, help="compute backend (default: $HYPERSPEC_BACKEND or auto)")
    p.set_defaults(func=cmd_kinetics)

    p = sub.add_parser(
        "curves",
        help="list the curve models of fit_curves",
        description="List the registered curve models (parameters, units, equations); --markdown prints a README table.",
    )
    p.add_argument("--markdown", action="store_true", help="the models as a Markdown table")
    p.set_defaults(func=cmd_curves)

    p = sub.add_parser(
        "run",
        help="run a recipe (TOML): input -> preprocessing -> decomposition -> outputs, resumable",
        description=(
            "Run a recipe chunk by chunk into its output store. An interrupted run started again with the same recipe "
            "computes only the missing chunks; a different recipe into an existing output is refused unless --overwrite."
        ),
    )
    p.add_argument("recipe", help="a TOML recipe (see the README; `hyperspec run --help`)")
    p.add_argument("--input", help="override [input] path")
    p.add_argument("--output", help="override [output] path")
    p.add_argument("--backend", choices=BACKENDS, default=None, help="override [compute] backend")
    p.add_argument("--scheduler", help="threads (default), tcp://host:port, slurm, pbs or cuda")
    p.add_argument("--show-job-script", action="store_true", help="print the SLURM/PBS job script of [compute.jobqueue] and exit")
    p.add_argument("--overwrite", action="store_true", help="replace an output written by another recipe")
    p.add_argument("--job-directive", action="append", metavar="LINE", help="a line for the batch script's header (repeatable)")
    p.add_argument("--job-prologue", action="append", metavar="LINE", help="a shell line run before each worker starts (repeatable)")
    p.add_argument(
        "--trust-recipe",
        action="store_true",
        help="accept the recipe's shell fields (job_script_prologue, job_extra_directives) and a remote scheduler (tcp://...)",
    )
    p.add_argument(
        "--wait",
        nargs="?",
        type=float,
        const=True,
        default=False,
        metavar="SECONDS",
        help="when another run is writing the output (its <output>.lock), wait for it (at most SECONDS) instead of refusing",
    )
    p.set_defaults(func=cmd_run)

    p = sub.add_parser(
        "report",
        help="rebuild PNG band maps and the region CSV from a results store",
        description="Draw the band maps (PNG) and write region statistics (CSV) of a results store.",
    )
    p.add_argument("store", help="a results store (from hyperspec run / decompose)")
    p.add_argument("--out", help="output folder (default: STORE_png next to the store)")
    p.set_defaults(func=cmd_report)

    p = sub.add_parser(
        "presets",
        help="list band presets and components",
        description="List the band presets and the line-shape components models are built from; with NAME, print that preset as JSON.",
    )
    p.add_argument("name", nargs="?", help="a preset to print in full")
    p.add_argument("--show", metavar="NAME", help="print preset NAME as a model file (TOML) to copy, edit and pass to decompose --model")
    p.add_argument(
        "--set",
        action="append",
        metavar="KEY=VALUE",
        help="a parameter of a parametrised preset (peaks: positions=1001.4,1031.8, shape=voigt)",
    )
    p.add_argument("--data", metavar="FILE", help="a map (any readable file) for parameters found on the data: peaks positions=auto")
    p.set_defaults(func=cmd_presets)

    p = sub.add_parser(
        "demo",
        help="run the full pipeline on a synthetic map",
        description="Simulate a CsPbBr3 map, decompose every spectrum into its bands, write Zarr stores and PNG pictures.",
    )
    p.add_argument("--out", default="hyperspec-demo", help="output directory (default ./hyperspec-demo)")
    p.add_argument("--size", type=_parse_size, default=(48, 48), help="map size NYxNX (default 48x48)")
    p.add_argument("--n-spectral", type=int, default=1024, help="spectral channels (default 1024)")
    p.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    p.add_argument("--backend", choices=BACKENDS, default=None, help="compute backend (default: $HYPERSPEC_BACKEND or auto)")
    p.add_argument("--overwrite", action="store_true", help="replace an existing demo output")
    p.set_defaults(func=cmd_demo)
    for name in ("convert", "simulate", "decompose", "preprocess", "kinetics", "run", "demo"):  # the long commands
        _add_progress_options(sub.choices[name])
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``hyperspec`` command; returns the exit status.

    Parameters
    ----------
    argv : list of str, optional
        The arguments (default ``sys.argv[1:]``).

    Returns
    -------
    int
        0 on success, 2 for a user error (one line ``hyperspec: error: …`` on stderr), 130 when interrupted,
        141 when the reader of the output closed the pipe early (``hyperspec formats | head -1``; no traceback).

    Examples
    --------
    >>> main(["steps", "--markdown"]) == 0  # doctest: +ELLIPSIS
    | step | runs on | ...
    True
    """
    from hyperspec._errors import HyperspecError  # noqa: PLC0415

    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command == "demo" and len(args.size) != 2:
        parser.error("demo --size takes NYxNX, e.g. 64x64")
    import contextlib  # noqa: PLC0415

    from hyperspec._progress import set_mode  # noqa: PLC0415

    quiet = getattr(args, "quiet", False)
    previous = set_mode("none" if quiet else getattr(args, "progress", None))
    try:
        with contextlib.ExitStack() as stack:
            if quiet:  # errors only: they go to stderr below
                stack.enter_context(contextlib.redirect_stdout(stack.enter_context(open(os.devnull, "w"))))  # noqa: PTH123, SIM115
            status = args.func(args)
        sys.stdout.flush()  # a closed pipe (``hyperspec formats | head -1``) shows here, not at interpreter exit
        return status
    except BrokenPipeError:
        # The reader of our output went away: the Python recipe (docs: signal, "Note on SIGPIPE"). Point
        # stdout at devnull so the flush at exit cannot raise again; 141 = 128 + SIGPIPE, as the shell reports.
        try:
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, sys.stdout.fileno())
        except (AttributeError, OSError, ValueError):  # a stdout without a file descriptor (captured in tests)
            pass
        return 141
    except (HyperspecError, ValueError, TypeError, FileExistsError, FileNotFoundError) as exc:
        if isinstance(exc, (TypeError, ValueError)) and not isinstance(exc, HyperspecError) and not _from_user(exc):
            raise
        print(f"hyperspec: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("hyperspec: interrupted", file=sys.stderr)
        return 130
    finally:
        set_mode(previous)


def _from_user(exc: BaseException) -> bool:
    """True for errors raised by hyperspec's own validation (so real bugs still show a traceback)."""
    tb = exc.__traceback__
    while tb is not None and tb.tb_next is not None:
        tb = tb.tb_next
    module = tb.tb_frame.f_globals.get("__name__", "") if tb is not None else ""
    return module.startswith("hyperspec")


if __name__ == "__main__":
    sys.exit(main())
