"""`tnas export RUN_DIR [--out DIR] [--format state,torchscript,onnx]`: the found network as files."""
from __future__ import annotations

import argparse

EPILOG = """\
examples:
  tnas export runs/20261128-101500-nb201-tnas-os-s0
      (export/network.pt + network.json + network.torchscript.pt)
  tnas export runs/20261128-120000-nb201-train-s0 --format all --out model/
  tnas export model/ --format onnx        (add ONNX to an earlier export; needs pip install 'tnas[onnx]')

In Python: net = tnas.load_network(RUN_DIR or export folder)   # nn.Module in eval mode
"""


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "export",
        help="write the found network of a finished run as state_dict + genotype, TorchScript, ONNX",
        description=(
            "Export the network of a finished run. From a `tnas search` run: the found cell with the weights it "
            "inherits from the trained supernet, its BN statistics recalibrated on the search stage's training "
            "batches (the run's data is loaded for that); from a `tnas train` run: the trained network. Formats: "
            "state = network.pt (weights-only state_dict) + network.json (genotype, space, size, input "
            "normalisation; tnas.load_network(FOLDER) rebuilds the module from both); torchscript = "
            "network.torchscript.pt (traced, reloaded and compared with PyTorch's output); onnx = network.onnx "
            "(dynamic batch axis; checked with ONNX Runtime when installed). Each check must agree within 1e-4."
        ),
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("run_dir", metavar="RUN_DIR", help="a finished run directory, or a folder written by tnas export")
    p.add_argument("--out", metavar="DIR", help="folder for the files (default: RUN_DIR/export)")
    p.add_argument("--format", default="state,torchscript", metavar="LIST",
                   help="comma-separated: state, torchscript, onnx, or all (default: state,torchscript)")
    p.add_argument("--device", default="cpu", help="where to rebuild the network (BN recalibration runs there)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from tnas.export.run import export_run, parse_formats

    report = export_run(args.run_dir, args.out, parse_formats(args.format), device=args.device)
    print(f"network: {report['genotype']}  (from a {report['source']} run)")
    checks = report["checks"]
    if checks.get("valid_acc") is not None:
        found = checks.get("supernet_valid_acc")
        print(f"valid accuracy after BN recalibration: {checks['valid_acc']:.2f}%"
              + (f" (the search scored it {found:.2f}%)" if isinstance(found, (int, float)) else ""))
    for fmt in ("state", "torchscript", "onnx"):
        if fmt not in report:
            continue
        r = report[fmt]
        name = ", ".join(r["files"]) if "files" in r else r["file"]
        diff = r.get("max_abs_diff")
        check = "" if fmt == "state" else (f"  max |diff| vs PyTorch {diff:.2e}" if diff is not None
                                           else "  (not checked: onnxruntime not installed)")
        print(f"{fmt:12s} {name}  {r['bytes'] / 1e6:.2f} MB{check}")
    print(f"written to {report['out']}")
    return 0
