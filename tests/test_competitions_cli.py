"""``bench competitions``: list, show, add; user errors are one line and exit code 1."""

from __future__ import annotations


def test_list_shows_every_competition(cli):
    result = cli("competitions")
    assert result.exit_code == 0, result.stderr
    for name in ("digits", "digits-unseen", "shapes", "shapes-large", "seen-classes", "map@k", "54,000"):
        assert name in result.stdout
    assert "cifar10-hashin" in result.stdout


def test_show_prints_sizes_balance_hash_and_files(cli, workspace):
    result = cli("competitions", "show", "digits")
    assert result.exit_code == 0, result.stderr
    sha = (
        (workspace.root / "competitions" / "digits" / "competition.json")
        .read_text()
        .split('"manifest_sha256": "')[1][:64]
    )
    for text in ("query 400", "gallery 697", "class balance", sha, "manifest.csv", "map@100", "200 public"):
        assert text in result.stdout
    # query and gallery labels (and so the public/private class mix) are answers: not in the workspace (issue 11)
    assert (
        "hidden" in result.stdout
        and "public" not in result.stdout.split("class balance")[1]
        and "│ 60 / 60 │ 10 / 10 │" in result.stdout
    )
    listed = cli("competitions")
    assert "train 600" in listed.stdout


def test_unknown_competition_exits_1_with_a_suggestion(cli):
    result = cli("competitions", "show", "digitz")
    assert result.exit_code == 1
    assert "did you mean 'digits'" in result.stderr.lower() and "Traceback" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_missing_dataset_exits_1_with_where_to_put_files(cli, tmp_path, monkeypatch):
    import plugins.datasets.torchvision_sets as tv

    def offline(name, root, train):
        raise OSError("offline")

    monkeypatch.setattr(tv, "fetch", offline)
    monkeypatch.setenv("BENCH_DATA_DIR", str(tmp_path / "data"))
    result = cli("competitions", "show", "cifar10-hashing")
    assert result.exit_code == 1 and "cifar-10-batches-py" in result.stderr and "Traceback" not in result.stderr


def test_add_declares_a_toml_competition(cli, tmp_path):
    import numpy as np
    from PIL import Image

    for c in range(2):
        (tmp_path / "pics" / f"k{c}").mkdir(parents=True)
        for i in range(4):
            Image.fromarray(np.full((6, 6, 3), 40 * i + c, dtype=np.uint8)).save(
                tmp_path / "pics" / f"k{c}" / f"{i}.png"
            )
    toml = 'dataset = "folder"\n[dataset_config]\nroot = "pics"\n[protocol_config]\nquery = 1\nval = 1\ntrain = 1\n'
    (tmp_path / "pets.toml").write_text(toml)
    added = cli("competitions", "add", tmp_path / "pets.toml")
    assert added.exit_code == 0, added.stderr
    assert "pets" in cli("competitions").stdout
    shown = cli("competitions", "show", "pets")
    assert shown.exit_code == 0 and "gallery 2" in shown.stdout
    again = cli("competitions", "add", tmp_path / "pets.toml")
    assert again.exit_code == 1 and "already exists" in again.stderr


def test_a_broken_toml_competition_is_listed_with_its_error(cli, workspace):
    folder = workspace.root / "competitions" / "broken"
    folder.mkdir(parents=True)
    (folder / "competition.toml").write_text('dataset = "folder"\nmetrik = "map@k"\n')
    result = cli("competitions")
    assert result.exit_code == 0 and "broken" in result.stdout and "metrik" in result.stdout
    shown = cli("competitions", "show", "broken")
    assert shown.exit_code == 1 and "did you mean 'metric'" in shown.stderr.lower()
