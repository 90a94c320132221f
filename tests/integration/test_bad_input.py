"""The bad-input suite (issue 10): hostile and broken input to every command, each case run as its
own `tnas` process, must end with exit code 2, a one-line `tnas: error:` message naming the bad
value, and no traceback; nothing a run directory holds may execute code.

Cases run through `cli_driver.py` (one subprocess that forks a child per case, see there), plus a
few through a real `python -m tnas` each. Placeholders in argv ({run}, {train_run}, {data}, ...)
name the fixtures built once per module.
"""
from __future__ import annotations

import io
import json
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pytest
import torch

pytestmark = pytest.mark.slow

DRIVER = Path(__file__).with_name("cli_driver.py")
CELL = "|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|skip_connect~0|nor_conv_3x3~1|nor_conv_3x3~2|"
TINY_SEARCH = ["strategy=spos", "supernet.C=4", "train.epochs=1", "train.steps_per_epoch=2", "train.batch_size=32",
               "search.budget=4", "search.population=2", "search.parents=1", "search.mutations=1",
               "search.crossovers=1", "search.bn_batches=1", "search.eval_batches=1", "search.eval_batch_size=32",
               "data.limit=200"]
TINY_TRAIN = ["train.epochs=1", "train.batch_size=32", "net.C=4", "net.N=1", "data.limit=100"]


@dataclass
class Case:
    id: str
    argv: list[str]
    words: tuple[str, ...] = ()  # must all appear in the error message (the bad value, the key, ...)
    rc: int = 2
    prepare: str | None = None  # a Prepare method that edits this case's copy of {run} / {train_run}
    fsize: int = 0  # > 0: files of the case's process may not grow past this many bytes (a full disk)


@dataclass
class World:
    """Fixture files shared by the cases: a finished search run, a finished train run, data files."""

    root: Path
    names: dict[str, str] = field(default_factory=dict)

    def copy_run(self, key: str, case_id: str) -> Path:
        dst = self.root / "cases" / case_id
        shutil.copytree(self.names[key], dst)
        return dst


# ---- the cases ----------------------------------------------------------------------------------
S = ["search", "--no-progress"]  # then the case's arguments, then out={out}
T = ["train", CELL, "--no-progress"]

CONFIG = [  # a value outside its range, the wrong type, an unknown name: rejected before anything loads
    ("micro_batches_0", ["train.micro_batches=0"], ("0", "train.micro_batches")),
    ("micro_batches_not_divisor", ["train.micro_batches=3"], ("3", "train.micro_batches", "divisor")),
    ("lr_negative", ["train.lr=-0.1"], ("-0.1", "train.lr")),
    ("lr_inf", ["train.lr=inf"], ("inf", "train.lr")),
    ("lr_nan", ["train.lr=.nan"], ("nan", "train.lr")),
    ("momentum_negative", ["train.momentum=-1"], ("-1", "train.momentum")),
    ("momentum_one", ["train.momentum=1"], ("1", "train.momentum")),
    ("weight_decay_negative", ["train.weight_decay=-1"], ("-1", "train.weight_decay")),
    ("grad_clip_negative", ["train.grad_clip=-1"], ("-1", "train.grad_clip")),
    ("epochs_0", ["train.epochs=0"], ("0", "train.epochs")),
    ("epochs_negative", ["train.epochs=-1"], ("-1", "train.epochs")),
    ("epochs_huge", ["train.epochs=10000000000"], ("10000000000", "train.epochs")),
    ("epochs_yaml_error", ["train.epochs=[1"], ("[1", "train.epochs")),
    ("epochs_text", ["train.epochs=abc"], ("abc", "train.epochs", "integer")),
    ("epochs_float", ["train.epochs=1.5"], ("1.5", "train.epochs")),
    ("batch_size_0", ["train.batch_size=0"], ("0", "train.batch_size")),
    ("batch_size_over_split", ["train.batch_size=100000"], ("100000", "train.batch_size", "images")),
    ("steps_per_epoch_0", ["train.steps_per_epoch=0"], ("0", "train.steps_per_epoch")),
    ("score_every_0", ["train.score_every=0"], ("0", "train.score_every")),
    ("score_every_starves_vae", ["train.score_every=100000"], ("train.score_every=100000", "min_observations")),
    ("nesterov_maybe", ["train.nesterov=maybe"], ("maybe", "train.nesterov")),
    ("metric_unknown", ["train.metric=acc"], ("acc", "train.metric")),
    ("seed_overflow", ["seed=99999999999999999999"], ("99999999999999999999", "seed")),
    ("seed_negative", ["seed=-1"], ("-1", "seed")),
    ("split_seed_negative", ["data.split_seed=-1"], ("-1", "data.split_seed")),
    ("image_size_2", ["data.image_size=2"], ("2", "data.image_size")),
    ("image_size_huge", ["data.image_size=100000"], ("100000", "data.image_size")),
    ("limit_0", ["data.limit=0"], ("0", "data.limit")),
    ("dataset_unknown", ["data.name=cifar11"], ("cifar11", "cifar10")),
    ("supernet_C_huge", ["supernet.C=100000"], ("100000", "supernet.C")),
    ("supernet_C_0", ["supernet.C=0"], ("0", "supernet.C")),
    ("supernet_N_0", ["supernet.N=0"], ("0", "supernet.N")),
    ("shufflenet_C_too_narrow", ["space=shufflenet", "supernet.C=1", "data.limit=100"], ("ShuffleNet",)),
    ("space_unknown", ["space=nb202"], ("nb202", "nb201")),
    ("strategy_unknown", ["strategy=tnas"], ("tnas", "tnas-os")),
    ("device_unknown", ["device=gpu"], ("gpu", "device")),
    ("device_no_cuda", ["device=cuda:0"], ("cuda:0", "CUDA")),
    ("beta_nan", ["sampler.vae.beta=nan"], ("nan", "sampler.vae.beta")),
    ("vae_heads", ["sampler.vae.nhead=3"], ("sampler.vae.d_model", "nhead")),
    ("vae_d_model_0", ["sampler.vae.d_model=0"], ("0", "sampler.vae.d_model")),
    ("eps_inc_over_1", ["sampler.eps_inc=1.5"], ("1.5", "sampler.eps_inc")),
    ("top_k_0", ["sampler.top_k=0"], ("0", "sampler.top_k")),
    ("temperature_negative", ["sampler.temperature=-1"], ("-1", "sampler.temperature")),
    ("weighting_typo", ["sampler.weighting=rnk"], ("rnk", "rank")),
    ("mutate_prob_2", ["search.mutate_prob=2"], ("2", "search.mutate_prob")),
    ("budget_0", ["search.budget=0"], ("0", "search.budget")),
    ("budget_negative", ["search.budget=-5"], ("-5", "search.budget")),
    ("budget_over_space", ["search.budget=20000"], ("20000", "search.budget", "15625")),
    ("population_0", ["search.population=0"], ("0", "search.population")),
    ("parents_0", ["search.parents=0"], ("0", "search.parents")),
    ("no_children", ["search.mutations=0", "search.crossovers=0"], ("search.mutations", "crossovers")),
    ("eval_batch_size_0", ["search.eval_batch_size=0"], ("0", "search.eval_batch_size")),
    ("bn_batches_0", ["search.bn_batches=0"], ("0", "search.bn_batches")),
    ("bn_batches_huge", ["search.bn_batches=100000"], ("100000", "search.bn_batches")),
    ("budget_huge_darts", ["space=darts", "search.budget=100000000"], ("100000000", "search.budget")),
    ("max_params_negative", ["search.max_params_M=-1"], ("-1", "search.max_params_M")),
    ("max_flops_nan", ["search.max_flops_M=nan"], ("nan", "search.max_flops_M")),
    ("limits_unmeetable", ["search.max_params_M=0.0001"], ("search.max_params_M",)),
    ("tau_cells_negative", ["eval.tau_cells=-5"], ("-5", "eval.tau_cells")),
    ("tau_cells_without_table_data", ["eval.tau_cells=10"], ("10", "eval.tau_cells", "digits")),
    ("arch_lr_nan", ["strategy=darts", "gradient.arch_lr=nan"], ("nan", "gradient.arch_lr")),
    ("tau_min_over_max", ["strategy=gdas", "gradient.tau_min=20"], ("20", "gradient.tau_min")),
    ("tnas_g_z_unknown", ["strategy=tnas-g", "gradient.tnas_g.z=mean"], ("mean", "gradient.tnas_g.z")),
    ("tnas_g_decay_1", ["strategy=tnas-g", "gradient.tnas_g.baseline_decay=1"], ("gradient.tnas_g.baseline_decay",)),
    ("gradient_limits", ["strategy=gdas", "search.max_flops_M=300"], ("search.max_flops_M", "gdas")),
    ("stream_not_folder", ["data.stream=true"], ("data.stream", "imagefolder")),
    ("stream_workers_negative", ["data.workers=-1"], ("-1", "data.workers")),
    ("unknown_key", ["train.epoch=3"], ("train.epoch", "train.epochs")),
    ("section_as_key", ["train=3"], ("train",)),
    ("malformed_override", ["preset-a", "train.epochs"], ("train.epochs",)),
    ("unknown_preset", ["nb201-cifar"], ("nb201-cifar", "nb201-cifar10")),
    ("out_is_file", ["out={file}"], ("out", "file")),
    ("missing_data_root", ["data.name=cifar10", "data.root={root}/nowhere"], ("nowhere",)),
]
TRAIN = [
    ("t_lr_0", ["train.lr=0"], ("0", "train.lr")),
    ("t_momentum_nan", ["train.momentum=nan"], ("nan", "train.momentum")),
    ("t_epochs_0", ["train.epochs=0"], ("0", "train.epochs")),
    ("t_warmup_over_epochs", ["train.epochs=4", "train.warmup_epochs=9"], ("9", "train.warmup_epochs")),
    ("t_batch_0", ["train.batch_size=0"], ("0", "train.batch_size")),
    ("t_batch_over_split", ["train.batch_size=100000"], ("100000", "train.batch_size")),
    ("t_drop_path_1", ["reg.drop_path_prob=1"], ("1", "reg.drop_path_prob")),
    ("t_cutout_negative", ["reg.cutout=-1"], ("-1", "reg.cutout")),
    ("t_smoothing_nan", ["reg.label_smoothing=nan"], ("nan", "reg.label_smoothing")),
    ("t_net_C_0", ["net.C=0"], ("0", "net.C")),
    ("t_workers_negative", ["data.workers=-1"], ("-1", "data.workers")),
    ("t_stream_digits", ["data.stream=true"], ("data.stream", "imagefolder")),
    ("t_eval_every_0", ["eval_every=0"], ("0", "eval_every")),
    ("t_seed_overflow", ["seed=99999999999999999999"], ("99999999999999999999", "seed")),
    ("t_image_size_2", ["data.image_size=2"], ("2", "data.image_size")),
    ("t_space_unknown", ["--space", "nb202"], ("nb202", "nb201")),
]
if torch.cuda.is_available():  # the case is about a machine without CUDA
    CONFIG = [c for c in CONFIG if c[0] != "device_no_cuda"]

def _out(args: list[str]) -> list[str]:
    return args if any(a.startswith("out=") for a in args) else [*args, "out={out}"]


CASES: list[Case] = ([Case(i, [*S, *_out(a)], w) for i, a, w in CONFIG]
                     + [Case(i, [*T, *_out(a)], w) for i, a, w in TRAIN])
# two identical runs started together (the driver starts the first two cases at once): two directories
TWIN = ["search", "--no-progress", *TINY_SEARCH, "out={root}/twins"]
CASES = [Case("twin_a", TWIN, rc=0), Case("twin_b", TWIN, rc=0), *CASES]
CASES += [
    # argument syntax and genotypes
    Case("search_options_after_overrides_ok", ["search", "--show-config", "seed=1", "--no-progress"], rc=0),
    Case("train_missing_result_json", ["train", "{root}/runs/nope/result.json"], ("result.json", "does not exist")),
    Case("train_bad_genotype", ["train", "|conv_9x9~0|+|", "out={out}"], ("conv_9x9",)),
    Case("train_binary_genotype_file", ["train", "{binary}"], ("binary.bin",)),
    Case("train_result_json_without_genotype", ["train", "{json_no_genotype}"], ("genotype",)),
    Case("train_no_args", ["train"], ("No architecture",)),
    Case("query_overflow", ["query", "99999999999999999999999"], ("99999999999999999999999", "0..15624")),
    Case("query_negative", ["query", "--", "-5"], ("-5", "0..15624")),
    Case("query_bad_string", ["query", "|conv~0|"], ("conv",)),
    Case("query_bad_dataset", ["query", "0", "--dataset", "mnist"], ("mnist",)),
    Case("download_ftp", ["data", "download", "cifar10", "--root", "{root}/dl_new", "--url", "ftp://example.org/x"],
         ("ftp://example.org/x",)),
    Case("download_bad_md5", ["data", "download", "cifar10", "--root", "{root}/dl_md5", "--md5", "xyz"], ("xyz",)),
    Case("download_root_is_file", ["data", "download", "cifar10", "--root", "{file}/sub", "--url", "file:///nope"],
         ("afile.txt",)),
    Case("data_info_unknown", ["data", "info", "mnist"], ("mnist",)),
    Case("bench_out_unwritable", ["bench", "sampler", "--quick", "--out", "/proc/no-such-dir/x"],
         ("/proc/no-such-dir/x",)),
    Case("data_info_limit_0", ["data", "info", "digits", "--limit", "0"], ("0",)),
    Case("data_info_split_seed_negative", ["data", "info", "digits", "--split-seed", "-1"], ("-1", "split_seed")),
    Case("out_under_proc", [*S, "out=/proc/no-such-dir/runs"], ("/proc/no-such-dir/runs",)),
    Case("train_genotype_is_folder", ["train", "{root}/"], ("folder",)),
    Case("resume_a_file", ["search", "--resume", "{file}"], ("afile.txt", "run directory")),
    # broken data files
    Case("npz_truncated", [*S, "data.name=cifar10", "data.root={npz_truncated}"], ("cifar10_jpeg_q75_train.npz",)),
    Case("npz_empty", [*S, "data.name=cifar10", "data.root={npz_empty}"], ("cifar10_jpeg_q75_train.npz",)),
    Case("npz_not_zip", [*S, "data.name=cifar10", "data.root={npz_text}"], ("cifar10_jpeg_q75_train.npz",)),
    Case("npz_labels_200", [*S, "data.name=cifar10", "data.root={npz_labels}"], ("labels", "200")),
    Case("npz_bad_jpeg", [*S, "data.name=cifar10", "data.root={npz_jpeg}"], ("JPEG",)),
    Case("pickle_with_code", [*S, "data.name=cifar10", "data.root={evil_pickles}"], ("refusing", "posix.system")),
    # benchmark table conversion: unsafe pickles are refused
    Case("convert_evil_pth", ["table", "convert", "{evil_pth}", "--out", "{root}/conv1"], ("--unsafe-pickle", "evil.pth")),
    Case("convert_evil_pbz2", ["table", "convert", "{evil_pbz2}", "--out", "{root}/conv2"],
         ("--unsafe-pickle", "posix.system")),
    Case("convert_truncated_pth", ["table", "convert", "{truncated_pth}", "--out", "{root}/conv3"], ("truncated.pth",)),
    Case("convert_missing", ["table", "convert", "{root}/none.pth", "--out", "{root}/conv4"], ("none.pth",)),
    Case("table_info_missing", ["table", "info", "--path", "{root}/nowhere"], ("nowhere",)),
    # run directories on --resume
    Case("resume_missing_dir", ["search", "--resume", "{root}/nowhere"], ("nowhere", "run directory")),
    Case("resume_not_a_run", ["search", "--resume", "{root}"], ("config.yaml",)),
    Case("resume_evil_ckpt_search", ["search", "--resume", "{run}"], ("last.pt", "Refusing"), prepare="evil_ckpt"),
    Case("resume_evil_ckpt_train", ["train", "--resume", "{train_run}"], ("last.pt", "Refusing"),
         prepare="evil_ckpt"),
    Case("resume_truncated_ckpt", ["search", "--resume", "{run}"], ("last.pt", "truncated"), prepare="truncated_ckpt"),
    Case("resume_empty_ckpt", ["search", "--resume", "{run}"], ("last.pt",), prepare="empty_ckpt"),
    Case("resume_missing_ckpt", ["search", "--resume", "{run}"], ("last.pt",), prepare="missing_ckpt"),
    Case("resume_malformed_config", ["search", "--resume", "{run}"], ("config.yaml",), prepare="malformed_config"),
    Case("resume_binary_config", ["search", "--resume", "{run}"], ("config.yaml",), prepare="binary_config"),
    Case("resume_list_config", ["search", "--resume", "{run}"], ("config.yaml", "list"), prepare="list_config"),
    Case("resume_search_on_train_run", ["search", "--resume", "{train_run}"], ("tnas train --resume",)),
    Case("resume_train_on_search_run", ["train", "--resume", "{run}"], ("tnas search --resume",)),
    Case("resume_forbidden_override", ["search", "--resume", "{run}", "train.epochs=5"], ("train.epochs",)),
    Case("resume_bad_budget", ["search", "--resume", "{run}", "search.budget=0"], ("0", "search.budget"),
         prepare="copy"),
    Case("resume_with_preset", ["search", "--resume", "{run}", "digits-quick"], ("digits-quick",)),
    Case("resume_train_with_overrides", ["train", "--resume", "{train_run}", "train.epochs=3"], ("--resume",)),
    Case("resume_garbage_archs_line", ["search", "--no-progress", "--resume", "{run}"], rc=0, prepare="garbage_lines"),
    Case("resume_torn_metrics_line", ["train", "--no-progress", "--resume", "{train_run}"], rc=0, prepare="torn_line"),
    Case("resume_full_disk", ["search", "--no-progress", "--resume", "{run}"], ("Could not write", "disk"),
         prepare="copy", fsize=20_000),
    # issue 24: writes never follow a planted link; loaded files are checked
    *[Case(f"resume_link_{name.replace('/', '_').replace('.', '_')}", ["search", "--no-progress", "--resume", "{run}"],
           ("Refusing to write", name.split("/")[-1], "symbolic link"), prepare=f"link:{name}")
      for name in ("ckpt/last.pt.tmp", "metrics.jsonl", "archs.jsonl", "result.json.tmp", "report.md", "log.txt",
                   "training.png.tmp", "scores.png", "lock")],
    Case("train_resume_link_metrics", ["train", "--no-progress", "--resume", "{train_run}"],
         ("Refusing to write", "metrics.jsonl"), prepare="link:metrics.jsonl"),
    Case("export_link_network_json_tmp", ["export", "{train_run}", "--out", "{root}/exp_link"],
         ("Refusing to write", "network.json.tmp"), prepare="export_link"),
    Case("export_full_disk", ["export", "{train_run}", "--out", "{root}/exp_full"], ("network", "disk"),
         prepare="copy", fsize=2_000),
    Case("export_tampered_C", ["export", "{root}/exp_tampered_C"], ("network.json", "size.C", "1000000000")),
    Case("export_tampered_str_size", ["export", "{root}/exp_tampered_str"], ("network.json", "size.N", "'2'")),
    Case("export_tampered_key", ["export", "{root}/exp_tampered_key"], ("network.json", "unknown key", "evil")),
    Case("export_train_result_from_search", ["export", "{train_run}"], ("result.json", "tnas train"),
         prepare="search_result"),
    Case("export_finished_without_result", ["export", "{run}"], ("result.json", "missing", "finished"),
         prepare="no_result"),
    Case("export_edited_train_arch", ["export", "{train_run}"], ("result.json", "checkpoint"), prepare="edited_arch"),
    Case("resume_config_other_strategy", ["search", "--resume", "{run}"], ("config.yaml", "strategy", "checkpoint"),
         prepare="other_strategy"),
    Case("long_value_is_cut", [*S, "train.epochs=" + "9" * 100_000, "out={out}"], ("more characters", "train.epochs")),
    Case("resume_larger_budget", ["search", "--no-progress", "--resume", "{run}", "search.budget=6"], rc=0,
         prepare="copy"),
]


# ---- fixtures -----------------------------------------------------------------------------------
def _npz(path: Path, labels: list[int], jpeg_ok: bool = True) -> None:
    from PIL import Image

    blobs = []
    for i in range(len(labels)):
        if jpeg_ok:
            buf = io.BytesIO()
            Image.fromarray(np.full((32, 32, 3), i * 9 % 255, dtype=np.uint8)).save(buf, format="JPEG")
            blobs.append(np.frombuffer(buf.getvalue(), dtype=np.uint8))
        else:
            blobs.append(np.frombuffer(b"not a jpeg", dtype=np.uint8))
    offsets = np.concatenate([[0], np.cumsum([len(b) for b in blobs])]).astype(np.int64)
    np.savez(path, jpeg=np.concatenate(blobs), offsets=offsets, labels=np.asarray(labels, dtype=np.uint8))


def _data_root(root: Path, name: str, train: str | bytes | None, labels: list[int] | None = None,
               jpeg_ok: bool = True) -> str:
    d = root / name
    d.mkdir()
    good = [i % 10 for i in range(40)]
    _npz(d / "cifar10_jpeg_q75_test.npz", good)
    if isinstance(train, (str, bytes)):
        (d / "cifar10_jpeg_q75_train.npz").write_bytes(train.encode() if isinstance(train, str) else train)
    else:
        _npz(d / "cifar10_jpeg_q75_train.npz", labels or good, jpeg_ok)
    return str(d)


class _Evil:
    """Unpickling this runs `touch MARKER`: what must never happen."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):  # noqa: ANN204
        return (os.system, (f"touch {self.marker}",))


def _files(w: World) -> None:
    """Data files and benchmark sources, good and bad."""
    import bz2
    import pickle

    r = w.root
    (r / "afile.txt").write_text("a file, not a folder\n")
    (r / "binary.bin").write_bytes(bytes(range(256)) * 4)
    (r / "no_genotype.json").write_text(json.dumps({"result": 1}))
    good = io.BytesIO()
    _npz(good, [i % 10 for i in range(40)])
    w.names.update(
        file=str(r / "afile.txt"), binary=str(r / "binary.bin"), json_no_genotype=str(r / "no_genotype.json"),
        npz_truncated=_data_root(r, "npz_truncated", good.getvalue()[: len(good.getvalue()) // 2]),
        npz_empty=_data_root(r, "npz_empty", b""), npz_text=_data_root(r, "npz_text", "hello\n"),
        npz_labels=_data_root(r, "npz_labels", None, labels=[200] + [i % 10 for i in range(39)]),
        npz_jpeg=_data_root(r, "npz_jpeg", None, jpeg_ok=False),
    )
    evil_dir = r / "evil_pickles" / "cifar-10-batches-py"
    evil_dir.mkdir(parents=True)
    for n in ("data_batch_1", "data_batch_2", "data_batch_3", "data_batch_4", "data_batch_5", "test_batch",
              "batches.meta"):
        (evil_dir / n).write_bytes(pickle.dumps(_Evil(r / "PWNED")))
    w.names["evil_pickles"] = str(r / "evil_pickles")
    torch.save({"meta_archs": [], "arch2infos": {0: _Evil(r / "PWNED")}}, r / "evil.pth")
    (r / "evil.pbz2").write_bytes(bz2.compress(pickle.dumps({"meta_archs": [_Evil(r / "PWNED")]})))
    (r / "truncated.pth").write_bytes((r / "evil.pth").read_bytes()[:100])
    w.names.update(evil_pth=str(r / "evil.pth"), evil_pbz2=str(r / "evil.pbz2"), truncated_pth=str(r / "truncated.pth"))


def _runs(w: World) -> None:
    """A finished tiny search run and a finished tiny train run (in this process: no extra imports)."""
    from tnas.run.config import resolve_config
    from tnas.run.overrides import parse_override_args
    from tnas.run.search import run_search
    from tnas.train.config import resolve_train_config
    from tnas.train.run import run_train

    _, run = run_search(resolve_config(None, parse_override_args([*TINY_SEARCH, f"out={w.root / 'runs'}"])),
                        progress_bar=False)
    cfg = resolve_train_config(None, parse_override_args([*TINY_TRAIN, f"out={w.root / 'runs'}"]))
    from dataclasses import replace

    _, train_run = run_train(replace(cfg, genotype=CELL), progress_bar=False)
    w.names.update(run=str(run), train_run=str(train_run))
    from tnas.export.run import export_run

    export_run(train_run, w.root / "exp_good", formats=("state",))
    for name, edit in (("exp_tampered_C", lambda s: s["size"].update(C=10**9)),
                       ("exp_tampered_str", lambda s: s["size"].update(N="2")),
                       ("exp_tampered_key", lambda s: s.update(evil=1))):
        shutil.copytree(w.root / "exp_good", w.root / name)
        spec = json.loads((w.root / name / "network.json").read_text())
        edit(spec)
        (w.root / name / "network.json").write_text(json.dumps(spec))


class Prepare:
    """Per-case changes to a copy of a fixture run directory (the copy replaces {run} / {train_run})."""

    @staticmethod
    def copy(run: Path, w: World) -> None:
        pass

    @staticmethod
    def evil_ckpt(run: Path, w: World) -> None:
        torch.save({"version": 1, "config": {}, "x": _Evil(w.root / "PWNED")}, run / "ckpt" / "last.pt")

    @staticmethod
    def truncated_ckpt(run: Path, w: World) -> None:
        ck = run / "ckpt" / "last.pt"
        ck.write_bytes(ck.read_bytes()[: ck.stat().st_size // 2])

    @staticmethod
    def empty_ckpt(run: Path, w: World) -> None:
        (run / "ckpt" / "last.pt").write_bytes(b"")

    @staticmethod
    def missing_ckpt(run: Path, w: World) -> None:
        (run / "ckpt" / "last.pt").unlink()

    @staticmethod
    def malformed_config(run: Path, w: World) -> None:
        (run / "config.yaml").write_text("strategy: [spos\n  seed: {\n")

    @staticmethod
    def binary_config(run: Path, w: World) -> None:
        (run / "config.yaml").write_bytes(bytes(range(256)))

    @staticmethod
    def list_config(run: Path, w: World) -> None:
        (run / "config.yaml").write_text("- 1\n- 2\n")

    @staticmethod
    def garbage_lines(run: Path, w: World) -> None:
        with open(run / "archs.jsonl", "ab") as f:
            f.write(b"\x00\xffgarbage{\n[1, 2]\n")

    @staticmethod
    def torn_line(run: Path, w: World) -> None:
        with open(run / "metrics.jsonl", "a") as f:
            f.write('{"phase": "train", "epoch": 2, "ste')

    @staticmethod
    def export_link(run: Path, w: World) -> None:
        (w.root / "exp_link").mkdir()
        os.symlink(w.root / "victim", w.root / "exp_link" / "network.json.tmp")

    @staticmethod
    def search_result(run: Path, w: World) -> None:
        shutil.copy(Path(w.names["run"]) / "result.json", run / "result.json")

    @staticmethod
    def no_result(run: Path, w: World) -> None:
        (run / "result.json").unlink()

    @staticmethod
    def edited_arch(run: Path, w: World) -> None:
        result = json.loads((run / "result.json").read_text())
        result["arch"] = [0 if a else 1 for a in result["arch"]]
        result.pop("genotype", None)
        (run / "result.json").write_text(json.dumps(result))

    @staticmethod
    def other_strategy(run: Path, w: World) -> None:
        text = (run / "config.yaml").read_text()
        (run / "config.yaml").write_text(text.replace("strategy: spos", "strategy: darts"))


def _link_prepare(name: str):
    def plant(run: Path, w: World) -> None:
        target = run / name
        if target.exists():
            target.unlink()
        os.symlink(w.root / "victim", target)
    return plant


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> World:
    w = World(tmp_path_factory.mktemp("bad_input"))
    w.names.update(root=str(w.root), out=str(w.root / "out"))
    _files(w)
    _runs(w)
    return w


def _argv(case: Case, w: World) -> list[str]:
    names = dict(w.names)
    if case.prepare:
        for key in ("run", "train_run"):
            if any(f"{{{key}}}" in a for a in case.argv):
                names[key] = str(w.copy_run(key, case.id))
                prepare = (_link_prepare(case.prepare[5:]) if case.prepare.startswith("link:")
                           else getattr(Prepare, case.prepare))
                prepare(Path(names[key]), w)
    return [a.format(**names) for a in case.argv]


@pytest.fixture(scope="module")
def results(world: World, tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict]:
    tmp = tmp_path_factory.mktemp("driver")
    cases = [{"id": c.id, "argv": _argv(c, world), "env": {"OMP_NUM_THREADS": "1"}, "fsize": c.fsize} for c in CASES]
    (tmp / "cases.json").write_text(json.dumps(cases))
    subprocess.run([sys.executable, str(DRIVER), str(tmp / "cases.json"), str(tmp / "results.json"), "2"],
                   check=True, timeout=600)
    return {r["id"]: r for r in json.loads((tmp / "results.json").read_text())}


def _error_line(stderr: str) -> str:
    lines = [ln for ln in stderr.splitlines() if ln.startswith("tnas: error:") or ln.startswith("usage:")]
    return lines[-1] if lines else ""


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_bad_input_is_a_clear_error(case: Case, results: dict[str, dict], world: World) -> None:
    r = results[case.id]
    assert "Traceback" not in r["stderr"], r["stderr"]
    assert r["rc"] == case.rc, r["stderr"][-2000:]
    assert not (world.root / "PWNED").exists(), "a file tnas opened executed code"
    if case.rc == 2:
        line = _error_line(r["stderr"])
        assert line.startswith("tnas: error:"), r["stderr"][-2000:]
        missing = [word for word in case.words if word not in line]
        assert not missing, f"{missing} not in: {line}"
        # one paragraph: the message is the last thing on stderr, a single line
        assert r["stderr"].rstrip().endswith(line)


def test_suite_covers_every_class() -> None:
    """The suite keeps covering each class of bad input named in issue 10."""
    ids = {c.id for c in CASES}
    assert len(CASES) >= 120
    for needed in ("micro_batches_0", "lr_negative", "arch_lr_nan", "seed_overflow", "query_overflow",
                   "epochs_yaml_error", "split_seed_negative", "image_size_2", "supernet_C_huge", "npz_truncated",
                   "npz_empty", "resume_malformed_config", "resume_binary_config", "resume_garbage_archs_line",
                   "out_is_file", "resume_full_disk", "epochs_0", "score_every_0", "beta_nan", "mutate_prob_2",
                   "tau_cells_negative", "npz_labels_200", "budget_0", "budget_negative", "budget_over_space",
                   "population_0", "eval_batch_size_0", "resume_evil_ckpt_search", "resume_evil_ckpt_train",
                   "convert_evil_pth", "search_options_after_overrides_ok", "train_missing_result_json",
                   "resume_search_on_train_run", "download_ftp"):
        assert needed in ids, needed


def test_resumed_runs_recover(results: dict[str, dict], world: World) -> None:
    """A torn or garbage log line is dropped on resume; a larger budget continues the search stage."""
    assert results["resume_garbage_archs_line"]["rc"] == 0
    for case in ("resume_garbage_archs_line", "resume_torn_metrics_line"):
        run = world.root / "cases" / case
        for log in (run / "archs.jsonl", run / "metrics.jsonl"):
            if log.exists():  # a train run has no archs.jsonl
                assert all(isinstance(json.loads(ln), dict) for ln in log.read_text().splitlines())
        assert "dropped" in results[case]["stderr"]
    twins = sorted((world.root / "twins").iterdir())
    assert len(twins) == 2
    for run in twins:  # each run has its own config and exactly its own epoch
        rows = [json.loads(ln) for ln in (run / "metrics.jsonl").read_text().splitlines()]
        assert [r["epoch"] for r in rows if r["phase"] == "train"] == [1]
    grown = json.loads((world.root / "cases" / "resume_larger_budget" / "result.json").read_text())
    assert grown["evaluated"] == 6
    assert not (world.root / "dl_new").exists()  # a refused download URL creates nothing


def test_planted_links_are_never_written_through(results: dict[str, dict], world: World) -> None:
    """Issue 24: no case wrote to the target of a planted link, and a refused export left no folder."""
    assert not (world.root / "victim").exists()
    assert (world.root / "exp_link" / "network.json.tmp").is_symlink()
    assert not os.path.lexists(world.root / "exp_link" / "network.json")
    assert not (world.root / "exp_full").exists()  # the full-disk export removed its half-written folder


def test_real_processes_no_traceback(world: World) -> None:
    """The same contract through real `python -m tnas` processes (no fork): a planted checkpoint
    never runs, a bad value exits 2 with one message."""
    run = world.copy_run("run", "real_evil")
    Prepare.evil_ckpt(run, world)
    argvs = [["search", "--resume", str(run)], ["search", "train.micro_batches=0", f"out={world.root / 'out'}"]]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    procs = [subprocess.Popen([sys.executable, "-m", "tnas", *a], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              text=True, env=env) for a in argvs]
    for p in procs:
        _, err = p.communicate(timeout=120)
        assert p.returncode == 2 and "Traceback" not in err and err.startswith("tnas: error:"), err
    assert not (world.root / "PWNED").exists()
