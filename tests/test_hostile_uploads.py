"""Issue 22, high 3: tiny uploads must not cost huge memory. Each bomb is validated in a child process
whose address space is capped (``RLIMIT_AS``) at what it had after its imports plus a fixed margin:
memory is bounded by the valid content (queries x k) and one block, whatever the file claims."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

import pytest

pa = pytest.importorskip("pyarrow")
import pyarrow.parquet as pq  # noqa: E402

QUERIES, GALLERY = 200, 400
MARGIN_MB = 700  # one block in flight per worker, the lookup tables and (Q, k) ranked positions

CHILD = textwrap.dedent(
    """
    import json, os, resource, sys, tempfile
    import numpy as np
    import pyarrow as pa, pyarrow.parquet as pq
    from harness.scoring.answers import Answers
    from harness.scoring.submission import validate_submission

    path, k, margin = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    q, g = {queries}, {gallery}
    answers = Answers(
        "bomb", "map@k", k, np.array([f"q-{{i:04d}}" for i in range(q)]), np.zeros(q, dtype=np.int64),
        np.arange(q) % 2 == 0, np.array([f"g-{{i:04d}}" for i in range(g)]), np.zeros(g, dtype=np.int64), "0" * 64,
    )
    warm = tempfile.mkdtemp()  # every lazy import and thread pool made before the cap, on tiny files
    open(os.path.join(warm, "w.csv"), "w").write("query_id,neighbors\\nq-0000,g-0000\\n")
    pq.write_table(pa.table({{"query_id": ["q-0000"], "neighbors": [["g-0000"]]}}), os.path.join(warm, "w.parquet"))
    for name in ("w.csv", "w.parquet"):
        validate_submission(os.path.join(warm, name), answers)
    size = int(next(l for l in open("/proc/self/status") if l.startswith("VmSize")).split()[1]) * 1024
    resource.setrlimit(resource.RLIMIT_AS, (size + margin * 2**20, resource.RLIM_INFINITY))
    result = validate_submission(path, answers)
    print(json.dumps({{"problems": result.problems[:3], "count": result.problem_count}}))
    """
).format(queries=QUERIES, gallery=GALLERY)


def validate_capped(path, k=100, margin_mb=MARGIN_MB):
    done = subprocess.run(
        [sys.executable, "-c", CHILD, str(path), str(k), str(margin_mb)],
        capture_output=True, text=True, timeout=300, env={**os.environ, "OMP_NUM_THREADS": "1"},
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


def refused(reply, *words):
    assert reply["count"] >= 1
    assert any(all(word in problem for word in words) for problem in reply["problems"]), reply


def test_millions_of_two_field_lines_are_refused_in_bounded_memory(tmp_path):
    path = tmp_path / "flood.csv"
    path.write_bytes(b"query_id,neighbors\n" + b"a,b\n" * 4_000_000)  # 16 MB
    refused(validate_capped(path), "more than 1,200 lines")


def test_a_file_of_valid_ids_repeated_past_the_queries_is_refused(tmp_path):
    path = tmp_path / "repeat.csv"
    path.write_bytes(b"query_id,neighbors\n" + b"q-0001,g-0001\n" * 2_000_000)
    refused(validate_capped(path), "more than 1,200 lines")


def test_long_k_with_a_small_csv_allocates_no_rows_times_k_block(tmp_path):
    path = tmp_path / "k.csv"
    path.write_bytes(b"query_id,neighbors\n" + b"".join(b"x%d,g-0001\n" % i for i in range(1100)))
    reply = validate_capped(path, k=54_000, margin_mb=400)  # was 1100 x 54,000 int32: 240 MB, then sorted
    refused(reply, "unknown query id")


def parquet_of(path, query_ids, lists, **options):
    table = pa.table({"query_id": pa.array(query_ids, pa.string()), "neighbors": lists})
    pq.write_table(table, path, store_schema=False, **options)
    return path


def test_a_parquet_list_repeating_one_id_is_refused_from_its_footer(tmp_path):
    n = 20_000_000
    ids = pa.DictionaryArray.from_arrays(pa.array([0] * n, pa.int32()), pa.array(["g-0001"]))
    lists = pa.ListArray.from_arrays(pa.array([0, n], pa.int32()), ids)
    path = parquet_of(tmp_path / "one.parquet", ["q-0001"], lists, compression="zstd", use_dictionary=True)
    assert path.stat().st_size < 100_000
    refused(validate_capped(path), "neighbour values")


def test_millions_of_empty_parquet_rows_are_refused_from_the_footer(tmp_path):
    n = 2_000_000
    lists = pa.ListArray.from_arrays(pa.array([0] * (n + 1), pa.int32()), pa.array([], pa.string()))
    path = parquet_of(tmp_path / "empty.parquet", pa.nulls(n, pa.string()).fill_null(""), lists, compression="zstd")
    assert path.stat().st_size < 200_000
    refused(validate_capped(path), "rows (it has 2,000,000)")
    refused(validate_capped(path, k=54_000, margin_mb=400), "rows (it has 2,000,000)")


def test_a_parquet_of_long_ids_that_decompress_to_gigabytes_is_refused(tmp_path):
    long_id = "g" * 1_000_000
    lists = pa.array([[long_id + str(i)] for i in range(QUERIES)], pa.list_(pa.string()))
    path = parquet_of(tmp_path / "long.parquet", [f"q-{i:04d}" for i in range(QUERIES)], lists, compression="zstd")
    refused(validate_capped(path), "decompressed")


def test_a_valid_parquet_and_csv_still_validate_under_the_cap(tmp_path):
    rows = [[f"g-{(i + j) % GALLERY:04d}" for j in range(100)] for i in range(QUERIES)]
    queries = [f"q-{i:04d}" for i in range(QUERIES)]
    path = parquet_of(tmp_path / "ok.parquet", queries, pa.array(rows, pa.list_(pa.string())), row_group_size=7)
    assert validate_capped(path) == {"problems": [], "count": 0}
    csv_path = tmp_path / "ok.csv"
    csv_path.write_text("query_id,neighbors\n" + "".join(f"{q},{' '.join(r)}\n" for q, r in zip(queries, rows)))
    assert validate_capped(csv_path) == {"problems": [], "count": 0}


@pytest.mark.skipif(not os.path.exists("/proc/self/status"), reason="reads the peak from /proc")
def test_bench_validate_of_millions_of_unknown_rows_is_one_line_and_small(workspace, tmp_path):
    from harness.data.competition import open_competition

    open_competition(workspace, "digits")
    path = tmp_path / "nope.csv"
    path.write_bytes(b"query_id,neighbors\n" + b"".join(b"nope-%d,digits-0001\n" % i for i in range(2_000_000)))
    wrapper = textwrap.dedent(
        """
        import sys
        from harness.cli import main
        sys.argv = ["bench", *sys.argv[1:]]
        try:
            main()
        finally:  # VmHWM: this image's own peak (ru_maxrss would carry the forking parent's)
            peak = next(line for line in open("/proc/self/status") if line.startswith("VmHWM"))
            print("peak", peak.split()[1], file=sys.stderr)
        """
    )
    done = subprocess.run(
        [sys.executable, "-c", wrapper, "validate", str(path), "-c", "digits"],
        capture_output=True, text=True, timeout=300, env={**os.environ, "BENCH_ROOT": str(workspace.root)},
    )  # fmt: skip
    peak_mb = int(done.stderr.split("peak ")[-1]) / 1024
    errors = done.stderr.split("peak ")[0]
    assert "Traceback" not in errors and "more than 1,400 lines" in errors and "not a valid submission" in errors
    assert peak_mb < 600, f"bench validate peaked at {peak_mb:.0f} MB"  # was 2.3 GB


def test_invalid_uploads_are_counted_for_the_daily_limit(workspace):
    from datetime import UTC, datetime, timedelta

    from harness.serve import rules

    now = datetime(2026, 12, 7, 12, tzinfo=UTC)
    assert rules.refused_today(workspace, "digits", "ann", now) == 0
    for when in (now, now - timedelta(hours=1), now - timedelta(days=1)):
        rules.record_refused(workspace, "digits", "ann", when)
    rules.record_refused(workspace, "digits", "bob", now)
    rules.record_refused(workspace, "other", "ann", now)
    assert rules.refused_today(workspace, "digits", "ann", now) == 2
    assert rules.refused_today(workspace, "digits", "bob", now) == 1


def test_a_flood_of_invalid_uploads_stops_at_the_daily_limit(workspace, tmp_path):
    from servekit import build_competitions, write_submission_file
    from starlette.testclient import TestClient

    from harness.scoring.leaderboard import read_rows
    from harness.serve.app import create_app
    from harness.serve.tokens import TokenStore

    build_competitions(workspace.root)  # "team": 3 uploads a day
    store = TokenStore(workspace)
    alice, bob = store.add("alice"), store.add("bob")
    client = TestClient(create_app(workspace, max_upload_bytes=1_000_000))

    def upload(token, body):
        files = {"file": ("s.csv", body, "text/csv")}
        return client.post(
            "/api/competitions/team/submissions", files=files, headers={"Authorization": f"Bearer {token}"}
        )

    junk = b"query_id,neighbors\n" + b"a,b\n" * 1000
    assert [upload(alice, junk).status_code for _ in range(3)] == [422, 422, 422]
    valid = write_submission_file(workspace, "team", tmp_path / "ok.csv").read_bytes()
    refused = upload(alice, valid)
    assert refused.status_code == 429, refused.text
    assert (
        "all 3 submissions for today" in refused.json()["error"] and "3 refused as invalid" in refused.json()["error"]
    )
    assert upload(alice, junk).status_code == 429  # the flood is stopped before its file is validated
    quota = client.get("/api/competitions/team/quota", headers={"Authorization": f"Bearer {alice}"}).json()
    assert quota["used_today"] == 3 and quota["refused_today"] == 3 and quota["remaining_today"] == 0
    assert upload(bob, valid).status_code == 201  # counted per participant
    assert [row["name"] for row in read_rows(workspace.leaderboard_path("team"))] == ["bob"]
