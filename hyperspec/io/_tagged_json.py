"""Type-tagged JSON: attrs and coordinates as one string that comes back with the same Python and NumPy types.

Plain JSON turns a tuple into a list, a NumPy scalar into a Python number and an array into nested lists, so a
Dataset's attrs would not come back identical. Here every value that JSON does not keep is tagged:

- ``{"__tuple__": [...]}``: a tuple; ``{"__bytes__": "<base64>"}``: bytes;
- ``{"__npscalar__": "<dtype.str>", "value": ...}``: a NumPy scalar (``np.float32(1.5)``, ``np.int64(3)``);
- ``{"__ndarray__": "<dtype.str>", "shape": [...], "data": [...]}``: an array (numbers, bools, strings,
  datetimes, complex; object arrays element by element);
- ``{"__dict__": [[key, value], ...]}``: a dict whose keys are not all strings, or one that has a key starting
  with ``"__"`` (so it cannot be mistaken for a tag).

Python's ``float`` repr round-trips exactly, so float64 and float32 values come back bit for bit (NaN and ±inf
as JSON's ``NaN``/``Infinity`` extensions). Nothing is unpickled or evaluated on the way back.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Mapping

import numpy as np

from hyperspec._errors import HyperspecError

__all__ = ["dumps", "loads", "encode", "decode"]

_TAGS = ("__tuple__", "__bytes__", "__npscalar__", "__ndarray__", "__dict__")


def _array_data(a: np.ndarray, where: str):
    kind = a.dtype.kind
    if kind in "biuf":
        return a.tolist()
    if kind == "c":
        return np.stack([a.real, a.imag], axis=-1).tolist()
    if kind in "Mm":
        return a.view("i8").tolist()
    if kind == "U":
        return a.tolist()
    if kind == "S":
        return [base64.b64encode(x).decode("ascii") for x in a.ravel().tolist()]
    if kind == "O":
        return [encode(x, f"{where}[{i}]") for i, x in enumerate(a.ravel().tolist())]
    raise HyperspecError(f"{where}: a NumPy array of dtype {a.dtype} cannot be written as JSON; convert it to numbers or strings.")


def _array_from(dtype: str, shape, data) -> np.ndarray:
    dt = np.dtype(dtype)
    shape = tuple(shape)
    if dt.kind == "c":
        pairs = np.asarray(data, dtype=np.float64).reshape((*shape, 2))
        return (pairs[..., 0] + 1j * pairs[..., 1]).astype(dt)
    if dt.kind in "Mm":
        return np.asarray(data, dtype="i8").reshape(shape).view(dt)
    if dt.kind == "S":
        return np.array([base64.b64decode(x) for x in data], dtype=dt).reshape(shape)
    if dt.kind == "O":
        out = np.empty(len(data), dtype=object)
        out[:] = [decode(x) for x in data]
        return out.reshape(shape)
    return np.asarray(data, dtype=dt).reshape(shape)


def encode(value, where: str = "value"):
    """``value`` as JSON-ready Python objects, with tags for the types plain JSON loses.

    Parameters
    ----------
    value : object
        None, bool, int, float, str, bytes, list, tuple, dict, NumPy scalar or array, nested freely.
    where : str, optional
        The value's name (``attrs['exposure_s']``), used in the error message.

    Returns
    -------
    object
        Made of dicts, lists, str, int, float, bool and None only.

    Raises
    ------
    HyperspecError
        The value (or something nested in it) is of another type (a ``datetime``, a class instance …),
        naming where it sits.

    Examples
    --------
    >>> import numpy as np
    >>> encode((1, np.float32(0.5)))
    {'__tuple__': [1, {'__npscalar__': '<f4', 'value': 0.5}]}
    """
    if value is None or type(value) in (bool, int, float, str):
        return value
    if isinstance(value, np.generic):
        a = np.asarray(value)
        return {"__npscalar__": a.dtype.str, "value": _array_data(a.reshape(1), where)[0]}
    if isinstance(value, np.ndarray):
        return {"__ndarray__": value.dtype.str, "shape": list(value.shape), "data": _array_data(value, where)}
    if isinstance(value, tuple):
        return {"__tuple__": [encode(v, f"{where}[{i}]") for i, v in enumerate(value)]}
    if isinstance(value, list):
        return [encode(v, f"{where}[{i}]") for i, v in enumerate(value)]
    if isinstance(value, (bytes, bytearray)):
        return {"__bytes__": base64.b64encode(bytes(value)).decode("ascii")}
    if isinstance(value, Mapping):
        if all(type(k) is str and not k.startswith("__") for k in value):
            return {k: encode(v, f"{where}[{k!r}]") for k, v in value.items()}
        return {"__dict__": [[encode(k, f"{where} key"), encode(v, f"{where}[{k!r}]")] for k, v in value.items()]}
    raise HyperspecError(
        f"{where}: a {type(value).__module__}.{type(value).__qualname__} cannot be carried losslessly; "
        "store it as a number, string, list, tuple, dict or NumPy array."
    )


def decode(obj):
    """The inverse of :func:`encode`.

    Parameters
    ----------
    obj : object
        What ``encode`` returned (or ``json.loads`` of it).

    Returns
    -------
    object
        The original value, with its tuples, NumPy scalars and arrays.

    Examples
    --------
    >>> decode({"__tuple__": [1, {"__npscalar__": "<f4", "value": 0.5}]})
    (1, np.float32(0.5))
    """
    if isinstance(obj, list):
        return [decode(v) for v in obj]
    if not isinstance(obj, dict):
        return obj
    if "__tuple__" in obj:
        return tuple(decode(v) for v in obj["__tuple__"])
    if "__bytes__" in obj:
        return base64.b64decode(obj["__bytes__"])
    if "__npscalar__" in obj:
        return _array_from(obj["__npscalar__"], (1,), [obj["value"]])[0]
    if "__ndarray__" in obj:
        return _array_from(obj["__ndarray__"], obj["shape"], obj["data"])
    if "__dict__" in obj:
        return {_hashable(decode(k)): decode(v) for k, v in obj["__dict__"]}
    return {k: decode(v) for k, v in obj.items()}


def _hashable(key):
    return tuple(key) if isinstance(key, list) else key


def dumps(value, where: str = "value") -> str:
    """``value`` as one type-tagged JSON string (ASCII, so it survives any HDF5/Zarr string attribute).

    Parameters
    ----------
    value : object
        See :func:`encode`.
    where : str, optional
        The value's name, for the error message.

    Returns
    -------
    str
        The JSON text.

    Examples
    --------
    >>> import numpy as np
    >>> loads(dumps({"power": np.array([0.1, 1.0, 10.0])}))["power"]
    array([ 0.1,  1. , 10. ])
    """
    return json.dumps(encode(value, where), ensure_ascii=True, separators=(",", ":"))


def loads(text: str, where: str = "the JSON text"):
    """The value :func:`dumps` wrote.

    Parameters
    ----------
    text : str
        The JSON text.
    where : str, optional
        Where the text was found, for the error message.

    Returns
    -------
    object
        The value with its original types.

    Raises
    ------
    HyperspecError
        The text is not JSON.

    Examples
    --------
    >>> loads('{"__tuple__": [1, 2]}')
    (1, 2)
    """
    try:
        obj = json.loads(text)
    except (TypeError, ValueError) as exc:
        raise HyperspecError(f"{where} is not valid JSON ({exc}); it was edited or truncated.") from None
    return decode(obj)
