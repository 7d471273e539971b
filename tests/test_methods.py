"""Contract of every registered method: its defaults resolve and its search space is dotted and valid."""

from __future__ import annotations

import optuna
import pytest

from harness.components import get_method, registry
from harness.config import resolve
from harness.methods import Method
from harness.pipeline import resolve_run_config

BUILT_IN = ["hashnet", "triplet", "triplet-hermans", "contrastive", "center", "siamese", "softmax"]
PEERS = ["pml-triplet", "pml-ms", "pml-contrastive"]


def method_names() -> list[str]:
    return registry("methods").names()


def test_the_built_in_methods_are_registered():
    assert set(BUILT_IN) | set(PEERS) <= set(method_names())


@pytest.mark.parametrize("name", method_names())
def test_defaults_resolve_to_a_complete_config(name):
    method = get_method(name)
    assert isinstance(method, Method) and method.description
    cfg = resolve_run_config(name)
    for section in ("backbone", "head", "loss", "sampler", "indexer", "optim", "train"):
        assert section in cfg.as_dict()
    assert cfg.competition == "digits" and cfg.seed == 0


@pytest.mark.parametrize("name", method_names())
@pytest.mark.parametrize("seed", [0, 1])
def test_search_space_returns_dotted_keys_that_resolve(name, seed):
    method = get_method(name)
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    trial = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=seed)).ask()
    overrides = method.search_space(trial)
    assert overrides, f"method {name} has an empty search space"
    for key in overrides:
        assert "." in key or key in ("seed",), key
    assert set(trial.params) == set(overrides), "each Optuna parameter is named by its dotted key"
    resolve(method.defaults, sets=overrides)
    resolve_run_config(name, sets=overrides)


def test_siamese_adds_a_classification_term_and_softmax_searches_cosine():
    assert resolve_run_config("siamese").train.classification_weight > 0
    softmax = resolve_run_config("softmax")
    assert (softmax.components["indexer"]["name"], softmax.components["indexer"]["metric"]) == ("exact", "cosine")
    assert resolve_run_config("hashnet").components["indexer"]["name"] == "hamming"


def test_triplet_defaults_hold_on_real_data_and_the_seed_recipe_keeps_a_name():
    triplet, hermans = resolve_run_config("triplet"), resolve_run_config("triplet-hermans")
    loss, optim = triplet.components["loss"], triplet.optim
    assert (loss["mining"], loss["distance"], triplet.components["sampler"]["k"]) == ("semihard", "euclidean", 4)
    assert (optim.name, optim.lr, optim.weight_decay) == ("adam", 1e-3, 0.0)
    old_loss, old_optim = hermans.components["loss"], hermans.optim
    assert (old_loss["mining"], old_loss["distance"], hermans.components["sampler"]["k"]) == ("hard", "euclidean", 8)
    assert (old_optim.name, old_optim.lr, old_optim.weight_decay) == ("adamw", 3e-3, 1e-4)


@pytest.mark.parametrize("name", PEERS)
def test_peer_recipes_use_pml_parts_on_benchs_backbone(name):
    peer, ours = resolve_run_config(name), resolve_run_config("triplet")
    loss, sampler = peer.components["loss"], peer.components["sampler"]
    assert loss["name"].startswith("pml-") and sampler == {"name": "m-per-class", "m": 4}
    assert [peer.components[s] for s in ("backbone", "head")] == [ours.components[s] for s in ("backbone", "head")]
    assert peer.train == ours.train
