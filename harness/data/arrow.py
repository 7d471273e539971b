"""pyarrow without its pandas detour: Arrow arrays to and from NumPy through their buffers.

pyarrow imports pandas (about a second on a loaded 2-core machine, more than parsing a
100,000-row submission) on its first Python-to-Arrow conversion or ``to_numpy()`` call, only to
recognise pandas objects. The readers here never need that, so they build and read arrays from
raw buffers, pass typed scalars, and answer pyarrow's optional pandas probe with "absent".
Explicit pandas conversions (``to_pandas``) still import pandas when someone calls them.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from importlib.machinery import ModuleSpec
from types import ModuleType
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from pyarrow import Array, LargeStringArray, StringArray


def pyarrow() -> ModuleType:
    """The pyarrow module, its optional pandas probe answered once per process."""
    import pyarrow as pa

    if "pandas" not in sys.modules:
        sys.meta_path.insert(0, _NoPandas)
        try:
            pa.lib._pandas_api.have_pandas  # noqa: B018  (the probe itself)
        finally:
            sys.meta_path.remove(_NoPandas)
    return pa


class _NoPandas:
    """An import finder that refuses pandas (in place only around pyarrow's probe)."""

    @staticmethod
    def find_spec(name: str, path: Sequence[str] | None = None, target: ModuleType | None = None) -> ModuleSpec | None:
        if name == "pandas":
            raise ImportError("pandas is not needed to read submissions")
        return None


def strings(values: np.ndarray | Sequence[str]) -> StringArray | LargeStringArray:
    """A pyarrow string array of ``values`` (a NumPy array or sequence of str), built from buffers."""
    pa = pyarrow()
    if isinstance(values, np.ndarray) and values.dtype.kind == "U" and values.size:
        codes = np.ascontiguousarray(values).view(np.uint32).reshape(len(values), -1)
        if codes.max(initial=0) < 128:  # ASCII ids (the usual case): code points are the bytes
            return _from_fixed_width(pa, codes.astype(np.uint8).view(f"S{codes.shape[1]}").ravel())
    texts = [str(v) for v in (values.tolist() if isinstance(values, np.ndarray) else values)]
    if not texts:
        return pa.array([], type=pa.string())
    return _from_fixed_width(pa, np.char.encode(np.asarray(texts, dtype=str), "utf-8"))


def _from_fixed_width(pa: ModuleType, encoded: np.ndarray) -> StringArray | LargeStringArray:
    """A string array from NumPy bytes (``S``) values, whose trailing padding is dropped."""
    n = len(encoded)
    if n == 0 or encoded.itemsize == 0:
        return pa.StringArray.from_buffers(n, pa.py_buffer(np.zeros(n + 1, dtype=np.int32)), pa.py_buffer(b""))
    lengths = np.char.str_len(encoded)
    offsets = np.zeros(n + 1, dtype=np.int64)
    np.cumsum(lengths, out=offsets[1:])
    chars = encoded.view(np.uint8).reshape(n, encoded.itemsize)[np.arange(encoded.itemsize) < lengths[:, None]]
    return _string_array(pa, offsets, chars)


def to_strings(array: StringArray | LargeStringArray) -> np.ndarray:
    """A string Arrow array (no nulls) as a NumPy ``str`` array, through its buffers.

    Values ending in NUL do not survive NumPy's fixed-width strings: callers check for them.
    """
    _, offsets_buffer, data = array.buffers()[:3]
    n = len(array)
    width = 8 if array.type.id == pyarrow().large_string().id else 4
    offsets = np.frombuffer(offsets_buffer, np.dtype(f"<i{width}"))[array.offset : array.offset + n + 1]
    offsets = offsets.astype(np.int64)
    chars = np.frombuffer(data, np.uint8)[offsets[0] : offsets[-1]] if n else np.zeros(0, np.uint8)
    lengths = np.diff(offsets)
    widest = int(lengths.max()) if n else 0
    if widest == 0:
        return np.full(n, "", dtype="<U1")
    matrix = np.zeros((n, widest), dtype=np.uint8)
    matrix[np.arange(widest) < lengths[:, None]] = chars  # row-major: each value's bytes, in order
    if chars.max(initial=0) < 128:  # ASCII: each byte is its code point, widened in one numeric cast
        return matrix.astype(np.uint32).view(f"<U{widest}").ravel()
    return np.char.decode(matrix.view(f"S{widest}").ravel(), "utf-8")


def _string_array(pa: ModuleType, offsets: np.ndarray, data: np.ndarray) -> StringArray | LargeStringArray:
    if offsets[-1] < 2**31:
        return pa.StringArray.from_buffers(len(offsets) - 1, pa.py_buffer(offsets.astype(np.int32)), pa.py_buffer(data))
    return pa.LargeStringArray.from_buffers(len(offsets) - 1, pa.py_buffer(offsets), pa.py_buffer(data))


def integers(values: np.ndarray) -> Array:
    """A pyarrow integer array sharing ``values``' memory (no nulls)."""
    pa = pyarrow()
    values = np.ascontiguousarray(values)
    return pa.Array.from_buffers(pa.from_numpy_dtype(values.dtype), len(values), [None, pa.py_buffer(values)])


def to_numpy(array: Array, fill: int = -1) -> np.ndarray:
    """An integer or boolean Arrow array as NumPy; nulls become ``fill`` (False for booleans)."""
    validity, data = array.buffers()[:2]
    start, stop = array.offset, array.offset + len(array)
    if array.type.bit_width == 1:
        values = np.unpackbits(np.frombuffer(data, np.uint8), bitorder="little")[start:stop].astype(bool)
    else:
        values = np.frombuffer(data, np.dtype(f"<i{array.type.bit_width // 8}"))[start:stop]
    if array.null_count:
        valid = np.unpackbits(np.frombuffer(validity, np.uint8), bitorder="little")[start:stop].astype(bool)
        values = np.where(valid, values, False if array.type.bit_width == 1 else fill)
    return values


def nulls(array: Array) -> np.ndarray:
    """Where ``array`` (of any type) is null, as a NumPy bool array."""
    if array.null_count == 0:
        return np.zeros(len(array), dtype=bool)
    validity = array.buffers()[0]
    return ~np.unpackbits(np.frombuffer(validity, np.uint8), bitorder="little")[
        array.offset : array.offset + len(array)
    ].astype(bool)
