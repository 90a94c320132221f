"""`tnas data download|info`: fetch the official CIFAR archives; describe a dataset's splits."""

from __future__ import annotations

import argparse
import json


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "data",
        help="download datasets and show their splits",
        description=(
            "Datasets for supernet training. `tnas data download cifar10 --root DIR` fetches and verifies the "
            "official archive; `tnas data info NAME` loads a dataset and prints its splits, shapes and "
            "normalisation. 'digits' ships with tnas and needs no download."
        ),
    )
    sub = p.add_subparsers(dest="data_command", metavar="ACTION", required=True)

    d = sub.add_parser("download", help="download and verify an official archive (cifar10, cifar100)")
    d.add_argument("name", help="cifar10 or cifar100")
    d.add_argument(
        "--root", required=True, help="folder to unpack into (e.g. data/; gives data/cifar-10-batches-py)"
    )
    d.add_argument("--url", help="mirror URL instead of the official one (http, https or file://)")
    d.add_argument("--md5", help="expected md5 of the archive (default: the official checksum)")
    d.add_argument("--no-progress", action="store_true", help="no progress bar")
    d.set_defaults(func=run_download)

    i = sub.add_parser("info", help="load a dataset and print its splits, shapes and mean/std")
    i.add_argument("name", help="digits, cifar10, cifar10-valid, cifar100, imagenet16-120 or imagefolder")
    i.add_argument("--root", help="data folder (default: $TNAS_DATA or ../shared/data)")
    i.add_argument("--split-seed", type=int, default=0, help="seed of the train/valid/test split (default 0)")
    i.add_argument("--limit", type=int, help="at most this many images per split (class-balanced)")
    i.add_argument("--image-size", type=int, help="resize images to this side in pixels")
    i.add_argument("--json", action="store_true", help="print one JSON object instead of a table")
    i.set_defaults(func=run_info)


def run_download(args: argparse.Namespace) -> int:
    from tnas.data import download

    path = download(args.name, args.root, url=args.url, md5=args.md5, progress=not args.no_progress)
    print(f"{args.name} ready at {path}")
    print(f"Use it with: tnas data info {args.name} --root {path.parent}")
    return 0


def run_info(args: argparse.Namespace) -> int:
    from tnas.data import load_dataset

    splits = load_dataset(
        args.name, args.root, split_seed=args.split_seed, limit=args.limit, image_size=args.image_size
    )
    info = {"split_info": splits.split_info, "splits": {k: s.describe() for k, s in splits.items()}}
    if args.json:
        print(json.dumps(info, indent=2))
        return 0
    si = splits.split_info
    print(f"dataset {si['dataset']}  source {si.get('source', '-')}")
    print(
        f"split   protocol {si['protocol']}, split_seed {si['split_seed']}, valid_fraction {si['valid_fraction']}, "
        f"limit {si['limit']}, mean/std: {si['mean_std']}"
    )
    print(f"{'split':<6} {'images':>7} {'shape':>12} {'classes':>7}  {'mean':<24} {'std':<24} aug")
    for name, s in splits.items():
        present = int((s.class_counts() > 0).sum())
        mean = ",".join(f"{m:.4f}" for m in s.mean)
        std = ",".join(f"{v:.4f}" for v in s.std)
        aug = f"crop pad {s.crop_padding}" + (", flip" if s.flip else "")
        print(
            f"{name:<6} {len(s):>7} {'x'.join(map(str, s.shape)):>12} {present:>3}/{s.num_classes:<3}  {mean:<24} {std:<24} {aug}"
        )
    return 0
