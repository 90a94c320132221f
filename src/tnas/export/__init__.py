"""Taking a found network away: `load_network` (Python) and `export_run` (`tnas export`).

    import tnas
    net = tnas.load_network("runs/20261128-101500-nb201-tnas-os-s0")   # nn.Module, eval mode
    logits = net(images)                                               # [B, C, H, W] -> [B, classes]

    from tnas.export import export_run
    info = export_run("runs/...", formats=("state", "torchscript", "onnx"))

See `tnas.export.rebuild` (what a search / train run / export folder gives) and
`tnas.export.formats` (the files and how each is checked).
"""
from tnas.export.formats import FORMATS, TOLERANCE
from tnas.export.rebuild import Rebuilt, TrainedSupernet, build_from_spec, load_network, load_trained_supernet, rebuild
from tnas.export.run import export_run

__all__ = ["FORMATS", "TOLERANCE", "Rebuilt", "TrainedSupernet", "build_from_spec", "export_run", "load_network",
           "load_trained_supernet", "rebuild"]
