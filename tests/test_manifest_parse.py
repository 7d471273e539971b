"""The columnar manifest parser (pyarrow) against the line parser it stands in for, and the Arrow helpers."""

from __future__ import annotations

import numpy as np
import pytest

from harness.data import manifest
from harness.data.arrow import strings, to_strings
from harness.errors import CompetitionError


def rows(n: int, seed: int = 0):
    rng = np.random.default_rng(seed)
    ids = np.array(sorted(f"item-{i:05d}" + ("-é" if i % 7 == 0 else "") for i in range(n)))
    roles = rng.choice(["train", "val", "query", "gallery"], n)
    return ids, rng.integers(0, 50, n), roles, rng.random(n) < 0.5


def parsed_both_ways(data: bytes, monkeypatch):
    monkeypatch.setattr(manifest, "COLUMNAR_ABOVE_BYTES", 0)
    columnar = manifest._parse_columnar(data)
    return columnar, manifest._parse_lines(data, "m.csv")


@pytest.mark.parametrize("view", ["full", "participant"])
def test_columnar_parse_equals_the_line_parser(view, monkeypatch):
    ids, labels, roles, public = rows(3000)
    data = (
        manifest.manifest_bytes(ids, labels, roles, public)
        if view == "full"
        else manifest.participant_bytes(ids, labels, roles)
    )
    columnar, lines = parsed_both_ways(data, monkeypatch)
    assert columnar is not None
    for field in ("ids", "labels", "roles", "public"):
        a, b = getattr(columnar, field), getattr(lines, field)
        assert a.dtype == b.dtype, field
        np.testing.assert_array_equal(a, b, err_msg=field)
    assert (lines.labels == manifest.NO_LABEL).any() == (view == "participant")


@pytest.mark.parametrize(
    "body",
    [
        b"a,1,train\n\nb,2,train\n",  # an empty line
        b"a,one,train\n",  # a label that is not an integer
        b"a,1\n",  # too few fields
        b"a,1,train,1\n",  # too many
        b"a,\xff,train\n",  # not UTF-8
        b"a\x00,1,train\n",  # a NUL NumPy strings would drop
        b'"a,b",1,train\n',  # a quoted comma
        b"a,1,train\r\nb,2,val\r\n",  # CRLF
        b"",  # header only
        b"a,0x10,train\n",  # hex: pyarrow's cast takes it, int() does not
        b"a,+5,train\n",  # int() takes it, pyarrow's cast does not
        b"a,1,train\r\rb,2,train\n",  # lone CRs
        b"a,1,train\rb,2,train\r",  # CR-only line ends (the csv module's error comes on the first row)
        b"a,1,train\n\r",
    ],
)
def test_columnar_parse_falls_back_or_agrees_on_odd_input(body, monkeypatch):
    data = b"item_id,label,role\n" + body
    monkeypatch.setattr(manifest, "COLUMNAR_ABOVE_BYTES", 0)
    try:
        expected = manifest._parse_lines(data, "m.csv")
    except CompetitionError as exc:
        with pytest.raises(CompetitionError) as raised:
            manifest.parse_manifest(data, "m.csv")
        assert str(raised.value) == str(exc)  # the line parser's words, with the line number
        return
    got = manifest.parse_manifest(data, "m.csv")
    for field in ("ids", "labels", "roles", "public"):
        np.testing.assert_array_equal(getattr(got, field), getattr(expected, field))


def test_a_quoted_newline_at_a_pyarrow_block_edge_is_left_to_the_line_parser(monkeypatch):
    ids, labels, roles, _ = rows(60_000)
    data = manifest.participant_bytes(ids, labels, roles)
    edge = 1 << 20  # pyarrow's default block: it cuts at the last newline before this, quoted or not
    start = data.rindex(b"\n", 0, edge - 20) + 1
    item = "x" * (edge - start - 5) + "\ny"  # its newline lies just before the edge, its row ends after
    data = data[:start] + f'"{item}",1,train\n'.encode() + data[start:]
    monkeypatch.setattr(manifest, "COLUMNAR_ABOVE_BYTES", 0)
    parsed = manifest.parse_manifest(data, "m.csv")
    assert item in parsed.ids.tolist() and len(parsed.ids) == 60_001


@pytest.mark.parametrize("n", [0, 50, 60_000])  # the line-built view and the column-joined one (ids over 1 MB)
def test_the_participant_view_of_a_parsed_manifest_is_participant_bytes(n):
    ids, labels, roles, public = rows(n)
    labels[::5] *= -1  # negative labels print as int() does
    full = manifest.parse_manifest(manifest.manifest_bytes(ids, labels, roles, public))
    assert (full.ids.nbytes > manifest.COLUMNAR_ABOVE_BYTES) == (n == 60_000)
    view = manifest.participant_view(full)
    assert view == manifest.participant_bytes(ids.tolist(), labels.tolist(), roles.tolist())
    hidden = np.isin(roles, ("query", "gallery"))
    assert (manifest.parse_manifest(view).labels[hidden] == manifest.NO_LABEL).all()


def test_a_large_manifest_does_not_import_pandas(tmp_path):
    import subprocess
    import sys

    ids, labels, roles, public = rows(60_000)
    path = tmp_path / "m.csv"
    path.write_bytes(manifest.manifest_bytes(ids, labels, roles, public))
    assert path.stat().st_size > manifest.COLUMNAR_ABOVE_BYTES
    code = (
        "import sys; from harness.data.manifest import parse_manifest; "
        f"m = parse_manifest(open({str(path)!r}, 'rb').read()); print(len(m.ids), 'pandas' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.split() == ["60000", "False"]


@pytest.mark.parametrize("values", [["a", "bb", ""], ["é", "x", "日本"], [], [""], ["a\x00b"]])
def test_strings_round_trip_through_arrow_buffers(values):
    array = np.asarray(values, dtype=str)
    assert strings(array).to_pylist() == values
    assert strings(array[::-1]).to_pylist() == values[::-1]  # a strided view
    assert strings(values).to_pylist() == values  # a plain list
    assert to_strings(strings(array)).tolist() == values
    if len(values) > 1:
        assert to_strings(strings(array).slice(1)).tolist() == values[1:]  # an offset array
