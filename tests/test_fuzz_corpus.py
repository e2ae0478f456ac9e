"""Fuzz corpus (issue 19): damaged copies of the real files in ``../shared/data`` and crafted Zarr stores.

The corpus is generated at test time (never committed) from the shared real files, skipped when
they are absent: each file truncated at several points, bit-flipped, emptied, renamed to another
format's extension, with a header size field forged huge, with NaN and non-numeric cells (text),
with duplicated map positions (map text); plus the damaged stores of ``tests/test_corrupt_stores``.

Every case is opened and loaded with ``hyperspec.open`` and summarised with ``hyperspec info``,
in worker subprocesses (many cases each) under an address-space limit and a per-case alarm, so a
hang or a memory blow-up is a finding, not a stuck CI job. Outcomes:

- ``error``: a ``HyperspecError`` naming the file (the right answer for damaged content);
- ``ok``: a result, compared with the intact file's: same dims and shape (and, for a truncated
  copy, the same values) or it counts as ``wrong`` (silently wrong); a store case, a zero-length
  file or duplicated positions must never be ``ok``;
- ``traceback`` (any other exception), ``unnamed`` (an error not naming the file), ``memory``,
  ``hang``.

The test runs every case (≈370, ~10 s on 2 cores; ``HYPERSPEC_FUZZ=sample`` runs ``SAMPLE_PER_SOURCE``
per file); ``python -m tests.test_fuzz_corpus`` prints counts by reader and outcome for the whole
corpus (``HYPERSPEC_FUZZ_ONLY=.wdf`` for the cases whose source or kind contains that).
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import random
import re
import select
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "data"
#: The real files the corpus is made from: (path under DATA, reader expected on the intact file).
SOURCES = (
    "rosettasciio/renishaw/renishaw_test_map.wdf",
    "rosettasciio/renishaw/renishaw_test_linescan.wdf",
    "py-wdf-reader/Spectrum_532nm_wdf.wdf",
    "py-wdf-reader/Spectrum_532nm_wdf_spc.spc",
    "nirs4all-formats/galactic_spc/raman-sion.spc",
    "nirs4all-formats/galactic_spc/RAMAN.SPC",
    "ramanchada2/LightNovo/polystyrene_aritficially_worsened.tsv",
    "sif_parser/cli-0.csv",
    "ramanchada2/Horiba/PST10_iR785_OP01_8000msx8.txt",
    "horiba-raman/offgrid_3.txt",
    "horiba-raman/Gd2O3_AlN_map_data.txt",
    "nirs4all-formats/raman_witec/Si-wafer-Raman-Spectrum-1.txt",
    "rosettasciio/jobinyvon/jobinyvon_test_map_x3-y2.xml",
    "scifireaders/GaAs_map.mdt",
    "sif_parser/raman1.sif",
    "spe_handler/Test1.spe",
    "rosettasciio/trivista/linescan.tvf",
)
#: Sources whose intact file is refused by design (GaAs_map.mdt holds AFM images and I(V) curves, no spectral frame).
NOT_SPECTRA = {"scifireaders/GaAs_map.mdt"}
TEXT_EXT = {".txt", ".csv", ".tsv", ".asc", ".dat", ".xml"}
WRONG_EXT = {".wdf": ".spc", ".spc": ".wdf", ".mdt": ".wdf", ".sif": ".spe", ".spe": ".sif", ".tvf": ".xml", ".xml": ".txt"}
CASE_SECONDS = 20  # per-case alarm (a case over it is a hang)
AS_LIMIT = 6 * 2**30  # address-space limit of a worker, bytes
RSS_JUMP = 1536 * 2**20  # a case that grows the worker's peak RSS by more is a memory blow-up
#: (name, offset, bytes) of the WDF1 header's size fields: points per spectrum, capacity, count, list lengths, origins.
_WDF_FIELDS = (("points", 0x3C, 4), ("capacity", 0x40, 8), ("count", 0x48, 8), ("ylist", 0x54, 4), ("xlist", 0x58, 4),
               ("origins", 0x5C, 4))  # fmt: skip
SAMPLE_PER_SOURCE = 9  # cases per source file in the CI sample (plus every store case)


# ---- the corpus ---------------------------------------------------------------------------------
def _flip(raw: bytes, at: int, bit: int) -> bytes:
    b = bytearray(raw)
    b[at] ^= 1 << bit
    return bytes(b)


def _size_fields(raw: bytes, limit: int = 1024) -> list[tuple[int, int]]:
    """Offsets of little-endian 32-bit fields in the head that hold a plausible size (2 … file size)."""
    out = []
    for at in range(0, min(limit, len(raw) - 4), 2):
        v = int.from_bytes(raw[at : at + 4], "little")
        if 2 <= v <= len(raw) and v not in (0x2020, 0x20202020):
            out.append((at, v))
    return out


def _mdt_frame_sizes(raw: bytes) -> list[tuple[int, int]]:
    """(offset of the size field, size) of each frame of an intact ``.mdt`` file."""
    out, off = [], 33
    for _ in range(int.from_bytes(raw[12:14], "little") + 1):
        size = int.from_bytes(raw[off : off + 4], "little")
        out.append((off, size))
        off += size
    return out


def _text_cases(raw: bytes) -> list[tuple[str, bytes]]:
    """NaN, non-numeric and empty cells in the middle of the numeric block of a text file."""
    lines = raw.split(b"\n")
    numeric = [i for i, line in enumerate(lines) if re.match(rb"^\s*[-+]?\d", line) and re.search(rb"\d[\t,; ]+[-+]?\d", line)]
    if len(numeric) < 4:
        return []
    out = []
    i = numeric[len(numeric) // 2]
    for kind, repl in (("nan-cell", b"nan"), ("nonnumeric-cell", b"abc"), ("empty-cell", b"")):
        cells = re.split(rb"([\t,;]| +)", lines[i].rstrip(b"\r"))
        j = len(cells) - 1  # the last cell (an intensity)
        cells[j] = repl
        new = list(lines)
        new[i] = b"".join(cells) + (b"\r" if lines[i].endswith(b"\r") else b"")
        out.append((kind, b"\n".join(new)))
    return out


def _dup_position(raw: bytes) -> bytes | None:
    """A LabSpec map text with the third spectrum row given the first row's ``X Y`` position."""
    lines = raw.split(b"\n")
    rows = [i for i, line in enumerate(lines) if re.match(rb"^[-+]?\d[^\t]*\t[-+]?\d[^\t]*\t", line)]
    if len(rows) < 4 or not lines[rows[0] - 1].startswith(b"\t\t"):
        return None
    new = list(lines)
    a = lines[rows[0]].split(b"\t")
    c = lines[rows[2]].split(b"\t")
    new[rows[2]] = b"\t".join(a[:2] + c[2:])
    return b"\n".join(new)


def make_corpus(out: Path) -> list[dict]:
    """Write the damaged copies of every available source under ``out``; return the cases."""
    cases = []
    for rel in SOURCES:
        src = DATA / rel
        if not src.is_file():
            continue
        raw = src.read_bytes()
        rng = random.Random(rel)
        stem, ext = re.sub(r"\W+", "_", src.stem)[:40], src.suffix
        folder = out / re.sub(r"\W+", "_", str(Path(rel).parent))
        folder.mkdir(parents=True, exist_ok=True)
        variants: list[tuple[str, str, bytes]] = [("intact", ext, raw)]
        n = len(raw)
        for frac in (0.02, 0.25, 0.5, 0.9, 0.99):
            variants.append((f"truncated-{frac:g}", ext, raw[: max(1, int(n * frac))]))
        variants.append(("truncated-1byte", ext, raw[:-1]))
        for k in range(3):  # header bits, then anywhere
            variants.append((f"bitflip-head-{k}", ext, _flip(raw, rng.randrange(min(n, 512)), rng.randrange(8))))
        for k in range(3):
            variants.append((f"bitflip-{k}", ext, _flip(raw, rng.randrange(n), rng.randrange(8))))
        variants.append(("zero-length", ext, b""))
        variants.append(("wrong-extension", WRONG_EXT.get(ext.lower(), ".wdf"), raw))
        if ext.lower() == ".wdf":  # the WDF1 header's counts (renishawWiRE Offsets.measurement_info = 0x3C)
            for field, at, width in _WDF_FIELDS:
                huge = (0x7FFFFFF0 if width == 4 else 1 << 40).to_bytes(width, "little")
                variants.append((f"huge-{field}", ext, raw[:at] + huge + raw[at + width :]))
        if ext.lower() == ".spc" and len(raw) >= 512:  # the point and sub-file counts of the 512-byte header
            npts, nsub = int.from_bytes(raw[4:8], "little"), int.from_bytes(raw[24:28], "little")
            for name, at, forged in (("npts-half", 4, npts // 2), ("npts-minus1", 4, npts - 1), ("npts-plus1", 4, npts + 1),
                                     ("nsub-minus1", 24, max(nsub - 1, 0)), ("nsub-plus1", 24, nsub + 1)):  # fmt: skip
                variants.append((name, ext, raw[:at] + forged.to_bytes(4, "little") + raw[at + 4 :]))
            variants.append(("flags-multi", ext, bytes([raw[0] ^ 0x04]) + raw[1:]))
        if ext.lower() == ".mdt":  # the frame chain's sizes (33-byte file header, then 22-byte frame headers)
            for k, (at, size) in enumerate(_mdt_frame_sizes(raw)[:3]):
                for name, forged in (("half", size // 2), ("plus8", size + 8)):
                    variants.append((f"frame{k}-size-{name}", ext, raw[:at] + forged.to_bytes(4, "little") + raw[at + 4 :]))
        if ext.lower() not in TEXT_EXT:
            fields = _size_fields(raw)
            for k, (at, _v) in enumerate(rng.sample(fields, min(4, len(fields)))):
                variants.append((f"huge-size-{k}", ext, raw[:at] + (0x7FFFFFF0).to_bytes(4, "little") + raw[at + 4 :]))
        else:
            variants += [(kind, ext, body) for kind, body in _text_cases(raw)]
            dup = _dup_position(raw)
            if dup is not None:
                variants.append(("duplicate-position", ext, dup))
        for kind, e, body in variants:
            path = folder / f"{stem}.{kind}{e}"
            path.write_bytes(body)
            cases.append({"source": rel, "kind": kind, "path": str(path), "name": path.name})
    return cases


def make_store_cases(out: Path) -> list[dict]:
    """The damaged stores of ``tests/test_corrupt_stores`` (and an intact one)."""
    from tests.test_corrupt_stores import STORE_KINDS, craft_store, save_map

    out.mkdir(parents=True, exist_ok=True)
    intact = save_map(out / "intact.zarr")
    cases = [{"source": "zarr-store", "kind": "intact", "path": str(intact), "name": intact.name, "array": "spectra"}]
    for kind in STORE_KINDS:
        store, array = craft_store(out / kind, kind)
        cases.append({"source": "zarr-store", "kind": kind, "path": str(store), "name": store.name, "array": array})
    return cases


# ---- the worker (a subprocess) ------------------------------------------------------------------
def _summary(ds) -> dict:
    import numpy as np

    sp = ds["spectra"] if "spectra" in ds.data_vars else next(iter(ds.data_vars.values()))
    values = np.asarray(sp.values, dtype=np.float64)
    finite = np.isfinite(values)
    return {"dims": list(sp.dims), "shape": list(values.shape), "nan": int((~finite).sum()),
            "sum": float(values[finite].sum()) if finite.any() else 0.0, "reader": ds.attrs.get("reader", "zarr")}  # fmt: skip


class _Alarm(BaseException):
    pass


def _on_alarm(signum, frame):
    raise _Alarm()


def _run_case(case: dict) -> dict:
    import resource

    import hyperspec
    from hyperspec.cli import main

    path = case["path"]
    rss0 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    out = {"case": case["path"]}
    try:
        ds = hyperspec.open(path)
        ds = ds.load()
        out.update(outcome="ok", **_summary(ds))
    except hyperspec.HyperspecError as exc:
        out.update(outcome="error", error=type(exc).__name__, message=str(exc)[:400])
    except MemoryError:
        out.update(outcome="memory", message="MemoryError")
    except _Alarm:
        out.update(outcome="hang", message=f"open + load over {CASE_SECONDS} s")
    except Exception as exc:  # noqa: BLE001  (a finding: a traceback from deep inside)
        tb = exc.__traceback__
        while tb.tb_next is not None:
            tb = tb.tb_next
        out.update(
            outcome="traceback", error=type(exc).__name__, message=f"{exc}"[:300], where=f"{tb.tb_frame.f_code.co_filename}:{tb.tb_lineno}"
        )
    if out["outcome"] not in ("hang", "memory"):
        buf_out, buf_err = io.StringIO(), io.StringIO()
        try:
            with contextlib.redirect_stdout(buf_out), contextlib.redirect_stderr(buf_err):
                status = main(["info", path])
            out["info"] = "ok" if status == 0 else ("error" if buf_err.getvalue().startswith("hyperspec: error:") else f"status {status}")
        except _Alarm:
            out["info"] = "hang"
        except MemoryError:
            out["info"] = "memory"
        except BaseException as exc:  # noqa: BLE001
            out["info"] = f"traceback {type(exc).__name__}: {str(exc)[:200]}"
    rss1 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    if rss1 - rss0 > RSS_JUMP:
        out.update(outcome="memory", message=f"peak RSS grew by {(rss1 - rss0) / 2**20:.0f} MiB")
    return out


def worker(cases_file: str) -> None:
    """Run every case of ``cases_file`` (JSON list), one JSON line per case on stdout ("start" line first)."""
    import resource
    import signal
    import warnings

    warnings.simplefilter("ignore")
    resource.setrlimit(resource.RLIMIT_AS, (AS_LIMIT, AS_LIMIT))
    signal.signal(signal.SIGALRM, _on_alarm)
    import hyperspec  # noqa: F401  (import before the first alarm)

    for case in json.loads(Path(cases_file).read_text()):
        print(json.dumps({"start": case["path"]}), flush=True)
        signal.alarm(CASE_SECONDS)
        try:
            result = _run_case(case)
        except _Alarm:
            result = {"case": case["path"], "outcome": "hang", "message": "alarm outside open/load"}
        finally:
            signal.alarm(0)
        print(json.dumps(result), flush=True)


def run_cases(cases: list[dict], tmp: Path, *, workers: int = 2) -> dict[str, dict]:
    """Run ``cases`` in ``workers`` parallel subprocesses; a worker stuck on a case is killed (hang) and restarted."""
    results: dict[str, dict] = {}
    env = dict(os.environ, OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1", MKL_NUM_THREADS="1", NUMBA_NUM_THREADS="1",
               DASK_NUM_WORKERS="1", PYTHONWARNINGS="ignore")  # fmt: skip
    env["DASK_SCHEDULER"] = "synchronous"
    pending = [cases[i::workers] for i in range(workers)]
    procs: dict[int, tuple] = {}

    def start(slot: int) -> None:
        todo = [c for c in pending[slot] if c["path"] not in results]
        if not todo:
            return
        f = tmp / f"cases-{slot}-{len(results)}.json"
        f.write_text(json.dumps(todo))
        p = subprocess.Popen([sys.executable, "-m", "tests.test_fuzz_corpus", "--worker", str(f)], cwd=ROOT, env=env,
                             stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)  # fmt: skip
        procs[slot] = (p, None, time.monotonic())

    for slot in range(workers):
        start(slot)
    while procs:
        for slot, (p, current, since) in list(procs.items()):
            ready, _, _ = select.select([p.stdout], [], [], 0.05)
            if ready:
                line = p.stdout.readline()
                if not line:  # the worker ended (or died: the case it was on is a crash)
                    p.wait()
                    p.stdout.close()
                    del procs[slot]
                    if current is not None and current not in results:
                        results[current] = {"case": current, "outcome": "memory" if p.returncode in (-9, 137) else "traceback",
                                            "message": f"worker died (status {p.returncode})"}  # fmt: skip
                    start(slot)
                    continue
                doc = json.loads(line)
                if "start" in doc:
                    procs[slot] = (p, doc["start"], time.monotonic())
                else:
                    results[doc["case"]] = doc
                    procs[slot] = (p, None, time.monotonic())
            elif current is not None and time.monotonic() - since > CASE_SECONDS + 15:  # stuck in C code: a hang
                p.kill()
                p.wait()
                p.stdout.close()
                del procs[slot]
                results[current] = {"case": current, "outcome": "hang", "message": f"no answer in {CASE_SECONDS + 15} s (killed)"}
                start(slot)
    return results


# ---- the oracle -----------------------------------------------------------------------------------
def judge(cases: list[dict], results: dict[str, dict]) -> list[dict]:
    """Each case with its verdict: error, ok, wrong, traceback, unnamed, memory, hang (see the module docstring)."""
    intact = {c["source"]: results.get(c["path"]) for c in cases if c["kind"] == "intact"}
    out = []
    for c in cases:
        r = results.get(c["path"], {"outcome": "hang", "message": "no result"})
        verdict, why = r["outcome"], r.get("message", "")
        info = r.get("info", "ok")
        if verdict in ("ok", "error") and (info.startswith("traceback") or info in ("hang", "memory")):
            verdict, why = ("traceback" if info.startswith("traceback") else info), f"info: {info}"
        elif verdict == "error":
            named = c["name"] in r["message"] or Path(c["path"]).stem in r["message"]
            if c.get("array") and c["kind"] != "intact":
                named = named and c["array"] in r["message"]
            if not named:
                verdict = "unnamed"
        elif verdict == "ok" and c["kind"] != "intact":
            base = intact.get(c["source"])
            if c["source"] == "zarr-store" or c["kind"] in ("zero-length", "duplicate-position", "nonnumeric-cell"):
                verdict, why = "wrong", f"read as {r.get('dims')} {r.get('shape')} ({r.get('nan')} NaN)"
            elif base is None or base.get("outcome") != "ok":
                verdict = "ok"  # the intact file is not readable either: nothing to compare
            elif r["shape"] != base["shape"] or r["dims"] != base["dims"]:
                verdict, why = "wrong", f"{r['dims']} {r['shape']} instead of {base['dims']} {base['shape']}"
            elif c["kind"].startswith("truncated") and (r["nan"] != base["nan"] or r["sum"] != base["sum"]):
                verdict, why = "wrong", f"values differ from the intact file's ({r['nan']} NaN, sum {r['sum']:.6g} vs {base['sum']:.6g})"
            elif c["kind"] in ("empty-cell", "nan-cell") and r["nan"] < base["nan"]:
                verdict, why = "wrong", "the damaged cell did not become NaN"
        reader = (intact.get(c["source"]) or {}).get("reader") or c["source"].rsplit(".", 1)[-1]
        out.append({**c, "verdict": verdict, "why": why, "reader": reader, "error": r.get("error")})
    return out


BAD = ("traceback", "unnamed", "memory", "hang", "wrong")


def table(judged: list[dict]) -> str:
    """Counts by reader and verdict, then every bad case."""
    counts = Counter((j["reader"], j["verdict"]) for j in judged)
    readers = sorted({j["reader"] for j in judged})
    verdicts = ["ok", "error", *BAD]
    lines = [f"{'reader':<14}" + "".join(f"{v:>10}" for v in verdicts)]
    lines += [f"{r:<14}" + "".join(f"{counts.get((r, v), 0):>10}" for v in verdicts) for r in readers]
    lines.append(f"{'all':<14}" + "".join(f"{sum(counts.get((r, v), 0) for r in readers):>10}" for v in verdicts))
    lines += [f"  {j['verdict']}: {j['source']} [{j['kind']}] {j['why'][:200]}" for j in judged if j["verdict"] in BAD]
    return "\n".join(lines)


def _sample(cases: list[dict]) -> list[dict]:
    if os.environ.get("HYPERSPEC_FUZZ", "full") == "full":
        return cases
    by_source: dict[str, list[dict]] = {}
    for c in cases:
        by_source.setdefault(c["source"], []).append(c)
    rng = random.Random(19)
    out = []
    for source, group in by_source.items():
        if source == "zarr-store":
            out += group
            continue
        keep = [c for c in group if c["kind"] in ("intact", "zero-length", "duplicate-position")]
        rest = [c for c in group if c not in keep]
        out += keep + rng.sample(rest, min(len(rest), SAMPLE_PER_SOURCE - len(keep)))
    return out


# ---- the test -------------------------------------------------------------------------------------
@pytest.mark.skipif(not DATA.is_dir(), reason="the shared real files (../shared/data) are not here")
def test_fuzz_corpus_every_reader_and_the_store(tmp_path):
    """0 tracebacks, 0 unnamed errors, 0 hangs, 0 memory blow-ups, 0 silently wrong results on the sampled corpus."""
    cases = make_corpus(tmp_path / "files") + make_store_cases(tmp_path / "stores")
    assert len(cases) > 100, "the corpus was not generated"
    sample = _sample(cases)
    judged = judge(sample, run_cases(sample, tmp_path))
    bad = [j for j in judged if j["verdict"] in BAD]
    assert not bad, table(judged)
    intact = [j for j in judged if j["kind"] == "intact" and j["source"] not in NOT_SPECTRA]
    assert all(j["verdict"] == "ok" for j in intact), table(intact)  # the intact files read, so "error" is informative


def test_oracle_flags_a_shorter_axis_and_missing_names():
    """The oracle itself: a truncated file read with fewer channels is 'wrong'; an error not naming the file is 'unnamed'."""
    cases = [{"source": "a.spc", "kind": "intact", "path": "/t/a.intact.spc", "name": "a.intact.spc"},
             {"source": "a.spc", "kind": "truncated-0.5", "path": "/t/a.truncated-0.5.spc", "name": "a.truncated-0.5.spc"},
             {"source": "a.spc", "kind": "bitflip-1", "path": "/t/a.bitflip-1.spc", "name": "a.bitflip-1.spc"},
             {"source": "a.spc", "kind": "bitflip-2", "path": "/t/a.bitflip-2.spc", "name": "a.bitflip-2.spc"}]  # fmt: skip
    base = {"outcome": "ok", "dims": ["spectral"], "shape": [1024], "nan": 0, "sum": 5.0, "reader": "grams-spc", "info": "ok"}
    results = {
        "/t/a.intact.spc": {**base, "case": "/t/a.intact.spc"},
        "/t/a.truncated-0.5.spc": {**base, "shape": [110]},
        "/t/a.bitflip-1.spc": {"outcome": "error", "error": "ReaderError", "message": "corrupt header", "info": "error"},
        "/t/a.bitflip-2.spc": {"outcome": "error", "error": "ReaderError", "message": "/t/a.bitflip-2.spc: corrupt", "info": "error"},
    }
    verdicts = [j["verdict"] for j in judge(cases, results)]
    assert verdicts == ["ok", "wrong", "unnamed", "error"]


# ---- each reader fix, on its own (each failed before the fix) -----------------------------------
def _real(rel: str) -> Path:
    path = DATA / rel
    if not path.is_file():
        pytest.skip(f"{rel} is not in ../shared/data")
    return path


def _forge(src: Path, dst: Path, at: int, value: int, width: int = 4) -> Path:
    raw = src.read_bytes()
    dst.write_bytes(raw[:at] + value.to_bytes(width, "little") + raw[at + width :])
    return dst


@pytest.mark.parametrize(("field", "at", "width"), _WDF_FIELDS)
def test_wdf_huge_header_count_is_refused_naming_the_field(tmp_path, field, at, width):
    """A forged WDF1 count (the origin count made open and info loop for hours) is bounded by its block's size."""
    import hyperspec

    src = _real("rosettasciio/renishaw/renishaw_test_map.wdf")
    path = _forge(src, tmp_path / f"huge-{field}.wdf", at, 0x7FFFFFF0 if width == 4 else 1 << 40, width)
    with pytest.raises(hyperspec.ReaderError, match=r"huge-.*\.wdf: the WDF1 header"):
        hyperspec.open(path)


def test_wdf_header_check_keeps_every_real_wdf():
    import hyperspec

    files = sorted(DATA.glob("**/*.wdf"))
    if not files:
        pytest.skip("no .wdf in ../shared/data")
    read = [f.name for f in files if "undefined" in f.name or hyperspec.open(f).spectra.size > 0]
    assert len(read) == len(files)


@pytest.mark.parametrize(("name", "at", "delta"), [("npts-minus1", 4, -1), ("npts-half", 4, None), ("nsub-minus1", 24, -1)])
def test_spc_wrong_counts_are_refused_not_a_shorter_axis(tmp_path, name, at, delta):
    """SPC point/sub-file counts must end the data where the log block (or the file) starts: 3631 of 3632 channels was read before."""
    import hyperspec

    src = _real("nirs4all-formats/galactic_spc/raman-sion.spc" if "nsub" in name else "nirs4all-formats/galactic_spc/RAMAN.SPC")
    value = int.from_bytes(src.read_bytes()[at : at + 4], "little")
    path = _forge(src, tmp_path / f"{name}.spc", at, value // 2 if delta is None else value + delta)
    with pytest.raises(hyperspec.ReaderError, match=rf"{name}\.spc: the header declares .* truncated or its header corrupt"):
        hyperspec.open(path)


def _two_columns(n: int = 40) -> str:
    return "".join(f"{100 + 2.5 * i:.2f}\t{1000 + 37 * (i % 7) + 0.25:.2f}\r\n" for i in range(n))


def test_text_bit_flipped_line_end_keeps_every_channel(tmp_path):
    """A line end flipped to \\x0b / \\x1d is not a line break (str.splitlines cut the spectrum to the rows after it)."""
    import hyperspec

    rows = _two_columns().split("\r\n")
    rows[5] = rows[5] + "\x0b"
    rows[9] = rows[9] + "\x1d"
    path = tmp_path / "flipped.txt"
    path.write_bytes("\r\n".join(rows).encode())
    ds = hyperspec.open(path, unit="cm-1")
    assert ds.spectra.shape == (40,)
    assert float(ds.spectra[5]) == pytest.approx(1000 + 37 * 5 + 0.25, abs=0.01)


@pytest.mark.parametrize("cut", ["inside-number", "inside-crlf"])
def test_text_cut_at_the_end_says_truncated(tmp_path, cut):
    """A two-column export cut inside its last number (1037.2 of 1037.25) or inside its last \\r\\n is truncated, not shorter."""
    import hyperspec

    text = _two_columns()
    path = tmp_path / f"{cut}.txt"
    end = text.index("\r\n", len(text) // 2)  # the end of a row in the middle: cut its last digit, or its \n
    path.write_bytes(text[: end - 1 if cut == "inside-number" else end + 1].encode())
    assert not path.read_bytes().endswith(b"\n")
    with pytest.raises(hyperspec.ReaderError, match=rf"{cut}\.txt: the file ends .*truncated"):
        hyperspec.open(path, unit="cm-1")


def test_text_without_final_newline_but_whole_still_reads(tmp_path):
    import hyperspec

    path = tmp_path / "whole.txt"
    path.write_bytes(_two_columns().rstrip("\r\n").encode())
    assert hyperspec.open(path, unit="cm-1").spectra.shape == (40,)


def test_csv_nan_intensity_stays_a_nan_channel(tmp_path):
    """A NaN intensity is kept (was: its row dropped, 1023 of 1024 channels)."""
    import numpy as np

    import hyperspec

    lines = ["Raman Shift,Intensity"] + [f"{100 + i},{500 + i}" for i in range(30)]
    lines[11] = "110,nan"
    path = tmp_path / "nan.csv"
    path.write_text("\n".join(lines) + "\n")
    ds = hyperspec.open(path)
    assert ds.spectra.shape == (30,) and int(np.isnan(ds.spectra.values).sum()) == 1 and np.isnan(float(ds.spectra[10]))


def _labspec_map(duplicate: bool) -> str:
    head = "#Acq. time (s)=\t1\n#Laser (nm)=\t532\n\t\t" + "\t".join(f"{100 + 10 * k}" for k in range(8)) + "\n"
    pos = [(x, y) for y in (0.0, 1.0, 2.0) for x in (0.0, 1.5)]
    if duplicate:
        pos[3] = pos[1]  # the (1.5, 1) spectrum recorded at (1.5, 0)
    rows = "".join(f"{x}\t{y}\t" + "\t".join(f"{10 * i + k}" for k in range(8)) + "\n" for i, (x, y) in enumerate(pos))
    return head + rows


def test_labspec_text_duplicated_position_names_the_positions(tmp_path):
    """Two spectra at one position are refused with the position and rows (was: a NaN pixel and one spectrum lost)."""
    import hyperspec

    ok = tmp_path / "map.txt"
    ok.write_text(_labspec_map(False))
    assert hyperspec.open(ok).spectra.shape == (3, 2, 8)
    bad = tmp_path / "dup.txt"
    bad.write_text(_labspec_map(True))
    with pytest.raises(hyperspec.ReaderError, match=r"dup\.txt: 1 map position occur.*x=1\.5, y=0 on spectrum rows \[2, 4\]"):
        hyperspec.open(bad)


@pytest.mark.parametrize(("frame", "how"), [(2, "plus8"), (1, "half")])
def test_mdt_corrupt_frame_size_is_an_error(tmp_path, frame, how, capsys):
    """A forged frame size makes the next frame's header garbage (it was listed as 'type 5' dated 0046-05-00, no dims)."""
    import hyperspec
    from hyperspec.cli import main

    src = _real("scifireaders/GaAs_map.mdt")
    at, size = _mdt_frame_sizes(src.read_bytes())[frame]
    path = _forge(src, tmp_path / f"frame-{how}.mdt", at, size + 8 if how == "plus8" else size // 2)
    with pytest.raises(hyperspec.ReaderError, match=rf"frame-{how}\.mdt: "):
        hyperspec.open(path)
    assert main(["info", str(path)]) == 2
    assert "type 5" not in capsys.readouterr().out


if __name__ == "__main__":
    if sys.argv[1:2] == ["--worker"]:
        worker(sys.argv[2])
    else:  # the whole corpus, counts by reader and verdict
        import tempfile

        with tempfile.TemporaryDirectory() as tmp:
            all_cases = make_corpus(Path(tmp) / "files") + make_store_cases(Path(tmp) / "stores")
            only = os.environ.get("HYPERSPEC_FUZZ_ONLY")  # e.g. "renishaw" or "truncated": the cases whose source or kind has it
            all_cases = [c for c in all_cases if not only or only in c["source"] or only in c["kind"]]
            t0 = time.monotonic()
            judged_all = judge(all_cases, run_cases(all_cases, Path(tmp)))
            print(table(judged_all))
            print(f"{len(all_cases)} cases in {time.monotonic() - t0:.0f} s")
