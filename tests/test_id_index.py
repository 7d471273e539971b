"""IdIndex: the submission readers' id lookup, against pyarrow's index_in on awkward ids."""

from __future__ import annotations

import numpy as np
import pytest

import harness.scoring.id_index as id_index
from harness.data.arrow import pyarrow, to_numpy
from harness.scoring.id_index import IdIndex

pa = pyarrow()
import pyarrow.compute as pc  # noqa: E402


def random_ids(rng, n: int, longest: int) -> list[str]:
    alphabet = ["a", "b", "é", "日", "x", " ", "\x00"]
    return ["".join(rng.choice(alphabet, int(rng.integers(0, longest + 1)))) for _ in range(n)]


def expected(values, ids) -> np.ndarray:
    return to_numpy(pc.index_in(values, value_set=ids))


@pytest.mark.parametrize("kind", [pa.string(), pa.large_string()])
def test_positions_equal_index_in_on_awkward_ids(kind, monkeypatch):
    monkeypatch.setattr(id_index, "_CHUNK", 97)  # many chunks, ending anywhere
    rng = np.random.default_rng(0)
    ids = random_ids(rng, 2000, 30)
    ids += ids[:40]  # a repeated id: the first position wins, as with index_in
    values = [*ids, *random_ids(rng, 2000, 45), "", None]  # unknown, longer than any id, empty, null
    rng.shuffle(values)
    id_array, value_array = pa.array(ids, kind), pa.array(values, kind)
    index = IdIndex(id_array)
    np.testing.assert_array_equal(index.positions(value_array), expected(value_array, id_array))
    window = value_array.slice(13, 500)  # an offset into shared buffers
    np.testing.assert_array_equal(index.positions(window), expected(window, id_array))
    np.testing.assert_array_equal(
        IdIndex(id_array.slice(5, 300)).positions(value_array), expected(value_array, id_array.slice(5, 300))
    )


def test_every_hash_colliding_still_finds_exactly(monkeypatch):
    monkeypatch.setattr(id_index, "hashes_of", lambda lengths, words: np.zeros(len(lengths), dtype=np.uint64))
    ids = pa.array([f"id-{i}" for i in range(300)] + ["id-1"], pa.string())
    values = pa.array(["id-7", "id-299", "id-300", "id-1", "id", ""], pa.string())
    np.testing.assert_array_equal(IdIndex(ids).positions(values), [7, 299, -1, 1, -1, -1])


def test_empty_sets_and_empty_ids():
    assert IdIndex(pa.array([], pa.string())).positions(pa.array(["a", ""])).tolist() == [-1, -1]
    assert IdIndex(pa.array([""], pa.string())).positions(pa.array(["a", ""])).tolist() == [-1, 0]
    assert IdIndex(pa.array(["a"], pa.string())).positions(pa.array([], pa.string())).tolist() == []


def test_many_copies_of_few_ids_keep_their_first_positions():
    """Copies share one probe chain; past a few rounds the seated ones' copies are dropped."""
    rng = np.random.default_rng(3)
    names = [f"id{i}" for i in range(50)]
    ids = pa.array([names[j] for j in rng.integers(0, 50, 20_000)] + ["late"], pa.string())
    values = pa.array([*names, "late", "absent"], pa.string())
    np.testing.assert_array_equal(IdIndex(ids).positions(values), expected(values, ids))
