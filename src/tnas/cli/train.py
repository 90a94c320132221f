"""`tnas train GENOTYPE [--space S] [PRESET] [key=value ...]`: train a found architecture from scratch."""
from __future__ import annotations

import argparse
import dataclasses
import json
import os
import sys
from pathlib import Path

from tnas.cli._intermixed import intermixed
from tnas.errors import TnasError

EPILOG = """\
examples:
  tnas train '|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|skip_connect~0|nor_conv_3x3~1|nor_conv_3x3~2|'
      (the default preset train-quick: NB201 C=8 N=1 on scikit-learn's digits, under 30 s on a CPU)
  tnas train runs/20261128-101500-nb201-tnas-os-s0/result.json train.epochs=20
      (the genotype a search wrote to result.json)
  tnas train GENOTYPE train-nb201-cifar10 seed=1
  tnas train "Genotype(normal=[('sep_conv_3x3', 0), ...], ...)" --space darts train-darts-cifar10
  tnas train GENOTYPE --space shufflenet train-spos-imagenet data.root=/data/imagenet
  torchrun --nproc_per_node=8 -m tnas train GENOTYPE --space shufflenet train-spos-imagenet data.root=/data/imagenet
  tnas train --resume runs/20261128-120000-nb201-train-s0
  tnas train --list-presets
  tnas train GENOTYPE train-darts-cifar10 --show-config

keys (key=value): space seed device out eval_every; data.{name,root,image_size,limit,split,split_seed,
augment,stream,workers}; net.{C,N}; train.{lr,momentum,nesterov,weight_decay,epochs,batch_size,
eval_batch_size,schedule,warmup_epochs}; reg.{cutout,drop_path_prob,auxiliary,auxiliary_weight,
label_smoothing,grad_clip}; track.{mlflow,mlflow_experiment,wandb} (MLflow / W&B besides TensorBoard).
`--show-config` prints every value. `tnas export RUN_DIR` writes the trained network as files.
"""


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "train",
        help="train a found architecture from scratch (final accuracy, params, FLOPs)",
        description=(
            "Train the stand-alone network of one architecture (GENOTYPE, in the space's notation: NB201's "
            "|op~0|+|...| string, DARTS's Genotype(normal=[...], ...), ShuffleNet's list of 20 block choices; or "
            "a result.json / text file holding it) from scratch and report its test accuracy, parameters and "
            "FLOPs (multiply-accumulates) in result.json. Presets follow the published recipes: "
            "train-darts-cifar10 (600 epochs, cutout, drop path, auxiliary head), train-spos-imagenet (label "
            "smoothing, linear decay, streamed image folder), train-nb201-cifar10 (200 epochs); the default "
            "train-quick trains on digits in seconds. Under torchrun the network runs data-parallel (DDP). "
            "Ctrl-C writes a checkpoint; --resume continues it to the same result."
        ),
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("args", nargs="*", metavar="GENOTYPE [PRESET] [key=value]",
                   help="the architecture (first), then an optional preset name or YAML file, then overrides")
    p.add_argument("--space", help="search space of GENOTYPE: nb201, darts, shufflenet (default: the preset's)")
    p.add_argument("--resume", metavar="RUN_DIR", help="continue an interrupted run from its last checkpoint")
    p.add_argument("--list-presets", action="store_true", help="list the built-in training presets and exit")
    p.add_argument("--show-config", action="store_true", help="print the resolved config as YAML and exit")
    p.add_argument("--no-progress", action="store_true", help="no progress bars")
    p.set_defaults(func=run)
    intermixed(p)


def read_genotype(text: str) -> str:
    """The genotype itself, or read from a file: result.json's "genotype", else the file's text."""
    path = Path(text)
    try:
        is_file = path.is_file()
    except OSError:  # a long genotype is no valid file name
        is_file = False
    if not is_file and (path.suffix in (".json", ".txt") or "/" in text and not text.lstrip().startswith("|")):
        what = "a folder, not a file" if path.is_dir() else "does not exist"
        raise TnasError(f"'{text}' looks like a file path but {what}. Pass an existing result.json (written by "
                        "tnas search) or text file, or the genotype itself.")
    if is_file:
        try:
            content = path.read_bytes().decode("utf-8")
        except (OSError, UnicodeDecodeError) as e:
            raise TnasError(f"Could not read '{path}' as text ({type(e).__name__}); pass a result.json written by "
                            "tnas search, a text file holding the genotype, or the genotype itself.") from None
        if path.suffix == ".json":
            try:
                data = json.loads(content)
            except json.JSONDecodeError as e:
                raise TnasError(f"{path} is not valid JSON ({e}); pass the genotype string or a result.json.") from None
            if not isinstance(data, dict) or not isinstance(data.get("genotype"), str):
                raise TnasError(f"{path} has no \"genotype\" entry; pass a result.json written by tnas search.")
            return data["genotype"]
        return content.strip()
    return text


def _split_args(items: list[str]) -> tuple[str, str | None, list[str]]:
    """(genotype, preset, overrides): the genotype is always first (DARTS genotypes contain '=')."""
    from tnas.run.overrides import split_preset_args

    preset, overrides = split_preset_args(items[1:], "tnas train GENOTYPE train-quick train.epochs=3")
    return items[0], preset, overrides


def _config(args: argparse.Namespace):
    """(config, seeds or None, workers): the resolved config and the seeds axis (`seeds=`, `workers=`)."""
    from tnas.run.multiseed import axis_args
    from tnas.run.overrides import parse_override_args

    if not args.args:
        if not args.show_config:
            raise TnasError("No architecture given: `tnas train GENOTYPE [--space nb201|darts|shufflenet] [PRESET] "
                            "[key=value ...]`; see `tnas train --help` for examples.")
        genotype, preset, overrides = "", None, []
    else:
        genotype, preset, overrides = _split_args(args.args)
    from tnas.train.config import resolve_train_config, validate_train_config

    rest, seeds, sweep, workers = axis_args(parse_override_args(overrides), lambda o: resolve_train_config(preset, o))
    genotype = read_genotype(genotype)

    def make(seed: int | None = None, extra: dict[str, str] | None = None):
        over = {**rest, **(extra or {})}
        cfg = resolve_train_config(preset, over if seed is None else {**over, "seed": str(seed)})
        # set directly, not parsed as YAML: genotypes start with '|' or hold ': '
        cfg = dataclasses.replace(cfg, genotype=genotype, space=args.space or cfg.space)
        if not args.show_config:
            validate_train_config(cfg)  # --space and the genotype, before anything loads
        return cfg

    return make, seeds, sweep, workers


def run(args: argparse.Namespace) -> int:
    import yaml

    from tnas.run.overrides import to_dict
    from tnas.train.config import list_train_presets

    if args.list_presets:
        print("\n".join(list_train_presets()))
        return 0
    if args.resume:
        if args.args or args.space:
            raise TnasError("--resume takes the run directory only; its saved config is used (no genotype, --space, "
                            "preset or overrides).")
        cfg = None
        from tnas.run.multiseed import is_axis

        if is_axis(args.resume):
            return _axis(args.resume)
    else:
        make, seeds, sweep, workers = _config(args)
        cfg = make()
        if args.show_config:
            print(yaml.safe_dump(to_dict(cfg), sort_keys=False), end="")
            return 0
        if seeds is not None:
            return _axis(None, make, seeds, sweep, workers)
    from tnas.train.run import (  # heavy imports only when a run starts
        TrainInterrupted,
        run_train,
    )

    try:
        result, path = run_train(cfg, resume=args.resume, progress_bar=not args.no_progress and sys.stderr.isatty())
    except TrainInterrupted as e:
        print(f"tnas: {e}", file=sys.stderr)
        return 130
    if int(os.environ.get("RANK", "0")) != 0:  # under torchrun only rank 0 reports
        return 0
    from tnas.train.report import summary

    print("\n".join(summary(result, path)))
    return 0


def _axis(resume: str | None, make=None, seeds=None, sweep=None, workers: int = 1) -> int:
    """Start a seeds axis / sweep of `tnas train`, or finish the one in `resume`."""
    from tnas.run.axis_pool import Kind
    from tnas.run.multiseed import report_axis, resume_axis, run_axis
    from tnas.train.config import train_config_from_dict
    from tnas.train.run import run_train

    kind = Kind("train", run_train, train_config_from_dict)
    if resume is None:
        return report_axis(kind, lambda line: run_axis(kind, make, seeds, sweep, workers, line))
    return report_axis(kind, lambda line: (resume_axis(kind, resume, None, line), Path(resume)))
