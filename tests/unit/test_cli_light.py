"""`tnas --help`, every `tnas COMMAND --help` and `tnas search --list-presets` without torch, numpy or PyYAML."""
from __future__ import annotations

import subprocess
import sys

from tnas.cli import COMMANDS
from tnas.cli.search import preset_summary
from tnas.run.config import list_presets

BLOCK = "import sys\nfor m in ('torch', 'numpy', 'yaml'): sys.modules[m] = None  # importing them now fails\n"


def _run(code: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", BLOCK + code], capture_output=True, text=True, timeout=120)


def test_help_of_every_command_without_torch():
    code = ("from tnas.cli import main, COMMANDS\n"
            "for argv in [['--help']] + [[c, '--help'] for c in COMMANDS]:\n"
            "    try:\n        main(argv)\n    except SystemExit as e:\n        assert e.code == 0, argv\n"
            "print('torch' in sys.modules and sys.modules['torch'] is not None)")
    out = _run(code)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.strip().endswith("False") and all(c in out.stdout for c in COMMANDS)


def test_list_presets_with_descriptions_without_torch():
    out = _run("from tnas.cli import main\nraise SystemExit(main(['search', '--list-presets']))")
    assert out.returncode == 0, out.stderr[-2000:]
    lines = out.stdout.splitlines()
    assert [line.split()[0] for line in lines] == list_presets()
    described = dict(line.split(None, 1) for line in lines)
    assert described["nb201-cifar10-cpu-proxy"].startswith("A CPU proxy of the NB201 CIFAR-10 experiment")
    assert all(10 < len(d) <= 110 for d in described.values())


def test_preset_summary_rules():
    assert preset_summary("# Short: then the rest of a long sentence here.\n# more.\nkey: 1") == \
        "Short: then the rest of a long sentence here"
    assert preset_summary("# A preset that says what it is up front: details follow\nx: 1") == \
        "A preset that says what it is up front"
    long = preset_summary("# " + "word " * 60 + "end.")
    assert len(long) <= 110 and long.endswith("...")
    assert preset_summary("strategy: spos\n") == ""
