"""tnas.bench on the real NB201 table: known values, bad input, corrupt tables, CLI, NATS conversion."""
from __future__ import annotations

import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from tnas import TnasError
from tnas.bench import NUM_ARCHS, PROTOCOL, NB201Table, convert_nats, load_nb201, parse_arch
from tnas.bench.bundle import BUNDLE_FILE, write_csv
from tnas.cli import main

RESNET = "|nor_conv_3x3~0|+|none~0|nor_conv_3x3~1|+|skip_connect~0|none~1|skip_connect~2|"
INDEX1 = "|nor_conv_3x3~0|+|nor_conv_3x3~0|avg_pool_3x3~1|+|skip_connect~0|nor_conv_3x3~1|skip_connect~2|"


@pytest.fixture(scope="module")
def table() -> NB201Table:
    return load_nb201()


@pytest.fixture(scope="module")
def table_csv(tmp_path_factory) -> Path:
    """The bundled table written out as nb201_all.csv (+ supernet estimates), as `tnas table export` does."""
    return write_csv(tmp_path_factory.mktemp("csv"))


@pytest.fixture(scope="module")
def lines(table_csv) -> list[str]:
    return table_csv.read_text().splitlines()


def write(path: Path, lines: list[str]) -> Path:
    path.write_text("\n".join(lines) + "\n")
    return path


# ---- known values -------------------------------------------------------------------------
def test_best_cifar10_cell(table):
    best = table.best("cifar10", "test")
    assert best.index == 6111  # tie with 13714 goes to the lower index
    assert best.value == pytest.approx(94.3733, abs=1e-4)
    assert table.query(13714, "cifar10", "test") == pytest.approx(94.3733, abs=1e-4)
    oracle = [table.best(d, "test", by="valid").value for d in ("cifar10", "cifar100", "ImageNet16-120")]
    assert oracle == pytest.approx([94.37, 73.51, 46.20], abs=0.005)


def test_resnet_cell(table):
    arch = table.arch_of(11472)
    assert table.space.to_genotype(arch) == RESNET
    assert int(table.index_of(parse_arch(RESNET, table.space))) == 11472
    got = [table.query(RESNET, d, "test") for d in ("cifar10", "cifar100", "ImageNet16-120")]
    assert got == pytest.approx([93.91, 70.89, 44.23], abs=0.005)
    assert table.query(arch, "c10", "valid") == pytest.approx(90.86, abs=0.005)
    assert float(table.cost(arch, "flops")) == pytest.approx(78.56, abs=0.01)
    assert float(table.cost(arch, "params")) == pytest.approx(0.559, abs=0.001)


def test_index_1_matches_the_data_readme(table):
    assert table.space.to_genotype(table.arch_of(1)) == INDEX1
    assert table.query("1", "cifar10", "test") == table.query(INDEX1, "cifar10", "test") == pytest.approx(93.66)


def test_vectorised_lookup_equals_dense_column(table):
    archs = table.space.sample_uniform(1000, torch.Generator().manual_seed(0))
    vals = table.lookup(archs, "cifar100", "valid")
    assert vals.shape == (1000,) and vals.dtype == torch.float64
    assert torch.equal(vals, table.column("c100_valid")[table.space.keys(archs)])
    assert float(table.lookup(archs[3], "cifar100", "valid")) == float(vals[3])
    assert torch.equal(table.arch_of(table.index_of(archs)), archs)
    assert table.lookup(archs, "in16", "test").mean().item() == pytest.approx(33.57, abs=1.0)
    assert table.supernet_estimate(archs, "fewshot").shape == (1000,)
    assert not table.column("c10_test").isnan().any()


def test_aliases_and_mean_accuracy(table):
    col = table.column("in16_valid")
    assert float(col.mean()) == pytest.approx(33.79, abs=0.01)  # README anchor
    arch = table.arch_of(857)
    assert table.query(arch, "ImageNet16-120", "test") == table.query(arch, "IN16", "x-test")
    assert table.query(857, "imagenet16-120", "test") == pytest.approx(47.3111, abs=1e-4)


def test_nb201_dataset_names_keep_their_upstream_meaning(table, capsys):
    resnet = table.arch_of(11472)
    assert table.query(resnet, "cifar10-valid", "valid") == table.query(resnet, "cifar10", "valid")  # x-valid
    assert table.query(resnet, "cifar10-valid", "x-valid") == pytest.approx(90.86, abs=0.005)
    # test of cifar10-valid = ori-test after 25k training, not cifar10's 50k-training test accuracy
    assert table.query(resnet, "cifar10-valid", "ori-test") == float(table.column("nats_c10v_oritest_acc")[
        table.space.key(resnet)]) != table.query(resnet, "cifar10", "test")
    best = table.best("cifar10-valid", "test")
    assert (best.index, round(best.value, 4)) == (1459, 91.5233)  # the HPOBench anchor in shared/data/README.md
    for name, index, value in (("CIFAR-10", 6111, 94.3733), ("cifar100", 9930, 73.5133),
                               ("ImageNet16-120", 857, 47.3111)):
        assert (table.best(name, "x-test" if name != "CIFAR-10" else "ori-test").index, ) == (index, )
        assert table.query(index, name, "test") == pytest.approx(value, abs=1e-4)
    with pytest.raises(TnasError, match="'ori-test' of cifar100.*x-test"):
        table.query(resnet, "cifar100", "ori-test")
    assert main(["query", "11472", "--dataset", "cifar10-valid"]) == 0
    assert "90.86" in capsys.readouterr().out


def test_supernet_estimates_and_extra_columns(table):
    arch = table.arch_of(1)
    assert float(table.supernet_estimate(arch)) == pytest.approx(65.51)
    assert float(table.supernet_estimate(arch, "few-shot")) == pytest.approx(62.8)
    assert float(table.column("e12_c10_valid")[table.space.key(arch)]) == pytest.approx(82.834, abs=1e-3)
    assert PROTOCOL.startswith("NB201 v1.1, 200 epochs")


# ---- bad input ----------------------------------------------------------------------------
@pytest.mark.parametrize(
    "call, match",
    [
        (lambda t: t.query(1, "cifar1000", "test"), "Unknown NB201 dataset 'cifar1000'.*Did you mean 'cifar100'"),
        (lambda t: t.query(1, "cifar10", "train"), "Unknown NB201 split 'train'.*valid"),
        (lambda t: t.query(15625, "cifar10", "test"), "index 15625 is out of range.*0..15624"),
        (lambda t: t.query("-1", "cifar10", "test"), "index -1 is out of range"),
        (lambda t: t.arch_of(torch.tensor([0, 20000])), "index 20000 is out of range"),
        (lambda t: t.query(RESNET.replace("none~1", "non~1"), "cifar10", "test"), "Unknown NB201 operation 'non'"),
        (lambda t: t.lookup(torch.tensor([[0, 1, 2, 3, 4, 5]]), "cifar10", "test"), "Choice index 5 at decision 5"),
        (lambda t: t.lookup(torch.zeros(2, 5, dtype=torch.long), "cifar10", "test"), "last dimension must be 6"),
        (lambda t: t.lookup(torch.zeros(2, 6), "cifar10", "test"), "torch.long"),
        (lambda t: t.supernet_estimate(t.arch_of(0), "twoshot"), "Unknown supernet kind 'twoshot'"),
        (lambda t: t.cost(t.arch_of(0), "energy"), "Unknown NB201 cost 'energy'"),
        (lambda t: t.column("c10_tset"), "Did you mean 'c10_test'"),
    ],
)
def test_bad_input_raises_clear_errors(table, call, match):
    with pytest.raises(TnasError, match=match):
        call(table)


def test_parse_arch_index_needs_the_table(table):
    with pytest.raises(TnasError, match="needs the NB201 table"):
        parse_arch("42", table.space)
    assert torch.equal(parse_arch(" 42 ", table.space, table), table.arch_of(42))


# ---- finding and validating the table -----------------------------------------------------
def test_missing_dir_error_names_where_it_looked(tmp_path, monkeypatch):
    with pytest.raises(TnasError, match=f"Looked in: {tmp_path / 'nowhere'}.*tnas table convert"):
        load_nb201(tmp_path / "nowhere")
    (tmp_path / "nb201").mkdir()
    monkeypatch.setenv("TNAS_DATA", str(tmp_path))
    with pytest.raises(TnasError, match=f"'{tmp_path / 'nb201'}' holds no nb201_all.csv"):
        load_nb201()  # a TNAS_DATA/nb201 folder wins over the bundled copy, so a broken one is an error


def test_env_var_is_used(tmp_path, monkeypatch, lines, table):
    write((tmp_path / "nb201").mkdir() or tmp_path / "nb201" / "nb201_all.csv", lines[:101])
    monkeypatch.setenv("TNAS_DATA", str(tmp_path))
    with pytest.raises(TnasError, match="100 data rows; expected 15625.*strict=False"):
        load_nb201()
    part = load_nb201(strict=False)
    assert len(part) == 100 and not part.complete
    assert part.query(1, "cifar10", "test") == pytest.approx(93.66)
    with pytest.raises(TnasError, match="not in the partial table"):
        part.arch_of(15000)
    with pytest.raises(TnasError, match="has no 'c10_test' value"):
        part.lookup(table.arch_of(15000), "cifar10", "test")


def test_missing_column(tmp_path, lines):
    cut = [",".join(f for i, f in enumerate(line.split(",")) if i != 11) for line in lines]  # c100_test
    with pytest.raises(TnasError, match="lacks the column\\(s\\) c100_test"):
        NB201Table.from_csv(write(tmp_path / "t.csv", cut))


def test_wrong_row_count(tmp_path, lines):
    with pytest.raises(TnasError, match="15624 data rows; expected 15625"):
        NB201Table.from_csv(write(tmp_path / "t.csv", lines[:-1]))
    with pytest.raises(TnasError, match="0 data rows"):
        NB201Table.from_csv(write(tmp_path / "t.csv", lines[:1]))


def test_unparsable_number(tmp_path, lines):
    bad = list(lines)
    fields = bad[100].split(",")
    fields[9] = "9x.1"  # c10_test on line 101
    bad[100] = ",".join(fields)
    with pytest.raises(TnasError, match="line 101, column 'c10_test': value '9x.1' is not a number"):
        NB201Table.from_csv(write(tmp_path / "t.csv", bad))


def test_bad_op_code_duplicate_arch_and_short_line(tmp_path, lines):
    bad = list(lines)
    f = bad[5].split(",")
    f[4] = "7"  # op_1to2
    bad[5] = ",".join(f)
    with pytest.raises(TnasError, match="line 6, column 'op_1to2': value 7 is out of range.*0..4"):
        NB201Table.from_csv(write(tmp_path / "t.csv", bad))
    dup = list(lines)
    a, b = dup[2].split(","), dup[3].split(",")
    dup[3] = ",".join(b[:2] + a[2:8] + b[8:])  # line 4 gets line 3's ops
    with pytest.raises(TnasError, match="same arch .* lines \\[3, 4\\]"):
        NB201Table.from_csv(write(tmp_path / "t.csv", dup))
    short = list(lines)
    short[9] = short[9][:60]
    with pytest.raises(TnasError, match="line 10 has"):
        NB201Table.from_csv(write(tmp_path / "t.csv", short))


def test_load_is_fast_and_cached(table, table_csv):
    t0 = time.perf_counter()
    fresh = NB201Table.from_csv(table_csv)
    assert time.perf_counter() - t0 < 1.0
    assert len(fresh) == NUM_ARCHS and fresh.complete
    assert load_nb201(table_csv) is load_nb201(table_csv.parent) is not load_nb201()
    assert load_nb201() is load_nb201(BUNDLE_FILE) is table


# ---- CLI ----------------------------------------------------------------------------------
def test_cli_query_and_exit_codes(capsys, table):
    assert main(["query", "11472", "--dataset", "cifar100"]) == 0
    out = capsys.readouterr().out
    assert RESNET in out and "70.89" in out and "NB201 v1.1" in out and "0.5652" in out  # CIFAR-100's own
    assert main(["query", RESNET]) == 0
    out = capsys.readouterr().out
    assert all(s in out for s in ("93.91", "70.89", "44.23", "one-shot"))
    for argv in (["query", "15625"], ["query", "|none~0|"], ["query", "1", "--dataset", "mnist"],
                 ["query", "1", "--path", "/nonexistent/nb201"], ["table", "info", "--path", "/nonexistent"]):
        assert main(argv) == 2, argv
        assert "tnas: error:" in capsys.readouterr().err
    assert main(["table", "info"]) == 0
    assert "15625 of 15625" in capsys.readouterr().out


def test_cli_subprocess_has_no_traceback():
    exe = shutil.which("tnas")
    cmd = [exe] if exe else [sys.executable, "-c", "import sys; from tnas.cli import main; sys.exit(main())"]
    res = subprocess.run([*cmd, "query", "|nor_conv_3x3~0|+|none~0|"], capture_output=True, text=True, timeout=60)
    assert res.returncode == 2
    assert "Traceback" not in res.stderr and "node group" in res.stderr


# ---- NATS-Bench conversion ----------------------------------------------------------------
def test_convert_official_formats(tmp_path, table, table_csv, capsys):
    nats_bench = pytest.importorskip("nats_bench")
    import nats_files

    rows = nats_files.read_rows(table_csv)
    picked = [0, 1, 6111, 11472]
    paths = nats_files.write_all(rows, picked, tmp_path)
    # the files are in the official format: the official API reads them
    api = nats_bench.create(str(paths["dir"]), "tss", fast_mode=True, verbose=False)
    assert api.get_more_info(11472, "cifar10", hp="200", is_random=False)["test-accuracy"] == pytest.approx(93.91)
    outs = {k: convert_nats(p, tmp_path / f"out_{k}") for k, p in paths.items()}
    texts = {k: p.read_text() for k, p in outs.items()}
    assert texts["dir"] == texts["pbz2"] == texts["pth"]
    with pytest.raises(TnasError, match="4 data rows; expected 15625.*partial"):
        load_nb201(outs["dir"])
    part = load_nb201(outs["dir"], strict=False)
    archs = table.arch_of(torch.tensor(picked))
    for d in ("cifar10", "cifar100", "ImageNet16-120"):
        for s in ("valid", "test"):
            assert torch.allclose(part.lookup(archs, d, s), table.lookup(archs, d, s), rtol=1e-12), (d, s)
    assert torch.allclose(part.cost(archs, "latency"), table.cost(archs, "latency"))
    assert torch.equal(part.index_of(archs), torch.tensor(picked))
    e12 = convert_nats(paths["pth"], tmp_path / "e12", hp="12")
    assert load_nb201(e12, strict=False).query(1, "cifar10", "valid") == pytest.approx(82.834, abs=1e-6)
    assert main(["table", "convert", str(paths["pbz2"]), "--out", str(tmp_path / "cli")]) == 0
    assert "4 of 15625" in capsys.readouterr().out
    assert main(["table", "convert", str(tmp_path / "missing"), "--out", str(tmp_path / "x")]) == 2
    assert main(["query", "11472", "--path", str(outs["pth"])]) == 0  # the CLI reads partial tables
    assert "93.91" in capsys.readouterr().out
    assert main(["query", "5", "--path", str(outs["pth"])]) == 2
    assert "not in the partial table" in capsys.readouterr().err
