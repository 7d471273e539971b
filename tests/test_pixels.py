"""The ``pixels`` floor (``train.epochs=0``) and the photo transforms of real-image training."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from harness.data.competition import open_competition
from harness.errors import ConfigError
from harness.pipeline import RunRequest, resolve_run_config, run
from harness.train.loop import fit
from harness.train.transforms import train_transform


def test_pixels_scores_exact_cosine_search_on_the_raw_pixels(workspace):
    result = run(workspace, RunRequest(resolve_run_config("pixels")))
    comp = open_competition(workspace, "digits")
    query, gallery = comp.query(), comp.gallery()
    q = query.load(np.arange(len(query))).reshape(len(query), -1).astype(np.float64)
    g = gallery.load(np.arange(len(gallery))).reshape(len(gallery), -1).astype(np.float64)
    cosine = (q / np.linalg.norm(q, axis=1, keepdims=True)) @ (g / np.linalg.norm(g, axis=1, keepdims=True)).T
    from harness.metrics import per_query_scores
    from harness.scoring.answers import load_answers

    answers = load_answers(workspace, "digits")
    ranked = np.argsort(-cosine, axis=1, kind="stable")[:, : comp.spec.k]
    order = [query.ids.index(i) for i in answers.query_ids.tolist()]
    where = {item: i for i, item in enumerate(answers.gallery_ids.tolist())}
    ranked = np.vectorize(lambda i: where[gallery.ids[i]])(ranked[order])
    expected = per_query_scores(ranked, answers.query_labels, answers.gallery_labels, comp.spec.metric, comp.spec.k)
    assert float(result.report["all"]) == pytest.approx(float(expected.mean()), abs=2e-3)
    assert result.row["loss"] == "none" and result.row["sampler"] == "none"


def test_zero_epochs_builds_no_optimizer_and_keeps_weights(workspace, monkeypatch):
    import harness.train.loop as loop

    monkeypatch.setattr(loop, "build_parts", lambda *a, **k: pytest.fail("no training parts without epochs"))
    comp = open_competition(workspace, "digits")
    cfg = resolve_run_config("triplet", sets=["train.epochs=0"])
    result = fit(cfg, comp, "cpu")
    assert result.history == [] and result.best_epoch is None and 0 < result.best_val < 1


def test_negative_epochs_are_refused():
    with pytest.raises(ConfigError, match="epochs"):
        resolve_run_config("triplet", sets=["train.epochs=-1"])


@pytest.mark.parametrize("sets,shown", [(["train.transforms=maybe"], "maybe"), (["train.crop_scale=0"], "crop_scale")])
def test_bad_transform_settings_are_refused(sets, shown):
    with pytest.raises(ConfigError, match=shown):
        resolve_run_config("triplet", sets=sets)


def test_photo_transforms_are_on_for_photos_only_unless_asked():
    auto = resolve_run_config("triplet").train
    assert train_transform(auto, (3, 32, 32), photos=False) is None
    assert train_transform(auto, (3, 32, 32), photos=True) is not None
    forced = resolve_run_config("triplet", sets=["train.transforms=on"]).train
    assert train_transform(forced, (3, 32, 32), photos=False) is not None
    off = resolve_run_config("triplet", sets=["train.transforms=off"]).train
    assert train_transform(off, (3, 32, 32), photos=True) is None


def test_photo_transforms_draw_per_image_and_keep_shape_and_range():
    tc = resolve_run_config("triplet", sets=["train.color_jitter=0.4", "train.crop_scale=0.3"]).train
    transform = train_transform(tc, (3, 24, 24), photos=True)
    torch.manual_seed(0)
    image = torch.rand(1, 3, 24, 24)
    batch = image.repeat(6, 1, 1, 1)
    out = transform(batch)
    assert out.shape == batch.shape and out.min() >= 0 and out.max() <= 1
    assert not torch.equal(out, batch)
    assert len({tuple(o.flatten()[:20].tolist()) for o in out}) > 1  # not one crop for the whole batch


def test_folder_and_cifar_datasets_are_photos_digits_are_not(workspace):
    from harness.components import create_dataset
    from harness.data.datasets import FileDataset

    assert FileDataset.photos and not create_dataset("digits").photos
    assert open_competition(workspace, "digits").photos is False


def test_the_training_loop_applies_the_photo_transforms_to_every_batch(workspace, monkeypatch):
    import harness.train.loop as loop

    seen = []

    def recording(tc, image_shape, photos):
        assert tc.transforms == "on" and tuple(image_shape) == (3, 8, 8) and photos is False
        return lambda images: seen.append(images.shape) or images

    monkeypatch.setattr(loop, "train_transform", recording)
    cfg = resolve_run_config("triplet", sets=["train.epochs=1", "train.transforms=on"])
    fit(cfg, open_competition(workspace, "digits"), "cpu")
    assert len(seen) == 600 // 32 and all(shape[0] == 32 for shape in seen)
