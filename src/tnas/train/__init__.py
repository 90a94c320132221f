"""Training a found architecture from scratch (`tnas train`).

    from tnas.train import resolve_train_config, run_train
    cfg = resolve_train_config("train-quick", {"genotype": "|nor_conv_3x3~0|+|...", "train.epochs": "4"})
    result, run_dir = run_train(cfg)          # result.json: test accuracy, params, FLOPs
    result, run_dir = run_train(resume=run_dir)

The network comes from the space's family (`tnas.supernet.registry.get_family(space).network`);
presets follow the published recipes (`tnas train --list-presets`).
"""
from tnas.train.config import (
    NetConfig,
    OptimConfig,
    RegConfig,
    TrainDataConfig,
    TrainRunConfig,
    list_train_presets,
    resolve_train_config,
    train_config_from_dict,
)
from tnas.train.run import TrainInterrupted, run_train

__all__ = [
    "NetConfig",
    "OptimConfig",
    "RegConfig",
    "TrainDataConfig",
    "TrainInterrupted",
    "TrainRunConfig",
    "list_train_presets",
    "resolve_train_config",
    "run_train",
    "train_config_from_dict",
]
