"""Batch classification of awkward exports, and the qrouter CLI's contract (exit codes, one-line errors)."""

from __future__ import annotations

import csv
import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from service.batch import BatchError, classify_file

RESULT = ["topic", "confidence", "cannot_handle", "reason", "provider", "channel"]


def read_out(path: Path) -> list[dict]:
    with open(path, encoding="utf-8-sig", newline="") as fh:
        return list(csv.DictReader(fh))


def test_cp1251_semicolon_excel_export_keeps_every_cell(tmp_path, router):
    src = tmp_path / "export.csv"
    text = (
        "№;Дата;Текст обращения;Сумма\r\n"
        "007;01.02.2026;Терминал съел купюру 1000;1 000,50\r\n"
        "008;02.02.2026;;0\r\n"
        '009;03.02.2026;"Не могу войти в Киви;\r\nпароль не подходит";\r\n'
        "010;04.02.2026;   ;12\r\n"
    )
    src.write_bytes(text.encode("cp1251"))
    out = tmp_path / "out.csv"
    s = classify_file(router, src, out, text_column="Текст обращения", chunk_size=2)
    assert s.encoding == "cp1251" and s.sep == ";" and s.rows == 4 and s.empty == 2
    rows = read_out(out)
    assert list(rows[0]) == ["№", "Дата", "Текст обращения", "Сумма", *RESULT]
    assert [r["№"] for r in rows] == ["007", "008", "009", "010"]
    assert rows[0]["Сумма"] == "1 000,50" and rows[0]["Дата"] == "01.02.2026"
    assert rows[2]["Текст обращения"] == "Не могу войти в Киви;\r\nпароль не подходит"
    assert [r["topic"] for r in rows] == ["terminal", "", "login", ""]
    assert [r["reason"] for r in rows][1::2] == ["empty_text", "empty_text"]
    assert rows[2]["provider"] == "qiwi" and rows[2]["channel"] == "qiwi_hotline"


def test_utf8_bom_comma_and_excel_output(tmp_path, router):
    src = tmp_path / "bom.csv"
    src.write_bytes("\ufefftext,id\nWebMoney Keeper crashes on start,1\nhello how are you,2\n".encode())
    out = tmp_path / "o.csv"
    s = classify_file(router, src, out, excel=True)
    assert s.encoding == "utf-8-sig"
    raw = out.read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf")
    rows = read_out(out)
    assert [r["id"] for r in rows] == ["1", "2"] and rows[0]["topic"] == "site_app" and rows[0]["provider"] == "webmoney"


def test_tab_separated_and_jsonl_inputs(tmp_path, router):
    tsv = tmp_path / "t.tsv"
    tsv.write_text("id\ttext\n1\tкарта киви заблокирована\n", encoding="utf-8")
    classify_file(router, tsv, tmp_path / "a.csv")
    assert read_out(tmp_path / "a.csv")[0]["topic"] == "card"
    jl = tmp_path / "t.jsonl"
    jl.write_text(
        '{"text": "терминал не выдал чек", "n": 1, "d": "2026-02-01", "id": "007"}\n{"text": null, "n": 2, "d": "x", "id": "008"}\n',
        encoding="utf-8",
    )
    classify_file(router, jl, tmp_path / "b.csv")
    rows = read_out(tmp_path / "b.csv")
    assert [r["topic"] for r in rows] == ["terminal", ""] and rows[1]["reason"] == "empty_text"
    assert (rows[0]["d"], rows[0]["id"]) == ("2026-02-01", "007")


def test_provider_column_and_prefix(tmp_path, router):
    src = tmp_path / "p.csv"
    src.write_text("text,topic,ps\nкошелек заблокирован,old,WebMoney\nкошелек заблокирован,old,\n", encoding="utf-8")
    with pytest.raises(BatchError, match="already has column"):
        classify_file(router, src, tmp_path / "x.csv")
    assert not (tmp_path / "x.csv").exists()
    classify_file(router, src, tmp_path / "y.csv", prefix="qr_", provider_column="ps")
    rows = read_out(tmp_path / "y.csv")
    assert rows[0]["topic"] == "old" and rows[0]["qr_topic"] == "login"
    assert rows[0]["qr_provider"] == "webmoney" and rows[1]["qr_provider"] == ""


def test_missing_column_lists_columns_and_leaves_no_output(tmp_path, router):
    src = tmp_path / "c.csv"
    src.write_text("a,b\n1,2\n", encoding="utf-8")
    with pytest.raises(BatchError, match="no text column 'text'; columns are: a, b"):
        classify_file(router, src, tmp_path / "o.csv")
    assert list(tmp_path.iterdir()) == [src]


def test_failure_midway_is_atomic(tmp_path, router, monkeypatch):
    src = tmp_path / "big.csv"
    pd.DataFrame({"text": ["терминал"] * 50}).to_csv(src, index=False)
    out = tmp_path / "out.csv"
    out.write_text("previous result\n")
    import service.batch as batch

    calls = {"n": 0}
    real = batch.route_frame

    def flaky(*a, **k):
        calls["n"] += 1
        if calls["n"] == 3:
            raise RuntimeError("worker died")
        return real(*a, **k)

    monkeypatch.setattr(batch, "route_frame", flaky)
    with pytest.raises(RuntimeError):
        classify_file(router, src, out, chunk_size=10)
    assert out.read_text() == "previous result\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["big.csv", "out.csv"]


def test_refuses_to_overwrite_input_and_binary_input(tmp_path, router):
    src = tmp_path / "in.csv"
    src.write_text("text\nhi\n", encoding="utf-8")
    with pytest.raises(BatchError, match="overwrite the input"):
        classify_file(router, src, src)
    binf = tmp_path / "x.csv"
    binf.write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\x00IHDR" + bytes(range(256)))
    with pytest.raises(BatchError, match="binary"):
        classify_file(router, binf, tmp_path / "o.csv")


def test_dask_dataframe_partitions_equal_pandas_engine(tmp_path, domain_artifact, router, test_split):
    """A quote-free export: workers read byte ranges with dask.dataframe; output identical to pandas."""
    from service.distributed import has_no_quotes

    src = tmp_path / "plain.csv"
    texts = test_split["text"].str.replace(r'[";\r\n]', " ", regex=True).head(400)
    body = "".join(f"{i:05d};01.02.2026;{t}\r\n" for i, t in enumerate(texts))
    src.write_bytes(("id;date;text\r\n" + body).encode("cp1251", errors="replace"))
    assert has_no_quotes(src, "cp1251")
    import dask.dataframe as dd

    assert dd.read_csv(str(src), sep=";", encoding="cp1251", dtype=str, blocksize=16_384).npartitions > 1
    a, b = tmp_path / "pandas.csv", tmp_path / "dask.csv"
    classify_file(router, src, a, chunk_size=60)
    classify_file(None, src, b, chunk_size=60, engine="dask", model_dir=domain_artifact)
    assert a.read_bytes() == b.read_bytes()
    assert len(read_out(b)) == 400 and read_out(b)[0]["id"] == "00000"


def test_dask_engine_equals_pandas_engine(tmp_path, domain_artifact, router, test_split):
    """Quoted cells (which may hold line breaks): the client parses, workers route the chunks."""
    src = tmp_path / "in.csv"
    test_split.head(300).assign(id=lambda d: d.index.astype(str).str.zfill(5)).to_csv(
        src, index=False, sep=";", encoding="cp1251", errors="replace"
    )
    a, b = tmp_path / "pandas.csv", tmp_path / "dask.csv"
    classify_file(router, src, a, chunk_size=70, prefix="qr_")
    classify_file(None, src, b, chunk_size=70, prefix="qr_", engine="dask", model_dir=domain_artifact)
    assert len(read_out(b)) == 300
    assert a.read_bytes() == b.read_bytes()


# --- CLI ----------------------------------------------------------------------------------------

QROUTER = [sys.executable, "-m", "service.cli"]


def run(*args, cwd=None):
    env = {**os.environ, "COLUMNS": "200"}
    return subprocess.run([*QROUTER, *map(str, args)], capture_output=True, text=True, cwd=cwd, env=env, timeout=300)


def test_help_lists_the_verbs():
    r = run("--help")
    assert r.returncode == 0
    for verb in ("train", "evaluate", "classify", "serve"):
        assert verb in r.stdout
    for verb in ("train", "evaluate", "classify", "serve"):
        assert run(verb, "--help").returncode == 0


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["classify", "missing.csv", "--out", "o.csv", "--model", "{art}"], "input file not found"),
        (["classify", "{csv}", "--out", "o.csv", "--model", "{tmp}/none"], "does not exist"),
        (
            ["classify", "{csv}", "--out", "o.csv", "--model", "{art}", "--text-column", "body"],
            "no text column 'body'; columns are: text",
        ),
        (["evaluate", "--data", "{csv}", "--model", "{art}", "--label-column", "topic"], "no column 'topic'"),
        (["train", "--data", "{tmp}/nope.csv", "--out", "{tmp}/m"], "data file not found"),
        (["train", "--data", "{labelled}", "--out", "{tmp}/m", "--encoder", "bert"], "unknown sentence encoder 'bert'"),
    ],
)
def test_cli_errors_are_one_line_and_non_zero(tmp_path, domain_artifact, args, needle):
    csv_path = tmp_path / "in.csv"
    csv_path.write_text("text\nhello\n", encoding="utf-8")
    labelled = tmp_path / "labelled.csv"
    labelled.write_text("text,topic\n" + "".join(f"card {i},card\nlogin {i},login\n" for i in range(3)), encoding="utf-8")
    args = [a.format(art=domain_artifact, csv=csv_path, tmp=tmp_path, labelled=labelled) for a in args]
    r = run(*args, cwd=tmp_path)
    assert r.returncode == 1
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and needle in lines[0], r.stderr
    assert "Traceback" not in r.stderr


def test_cli_classify_threads_do_not_change_the_output(tmp_path, domain_artifact, test_split):
    src = tmp_path / "t.csv"
    test_split.head(2500)[["text"]].to_csv(src, index=False)  # three slices of 1,024 rows
    outs = []
    for threads in ("1", "2"):
        r = run("classify", src, "--out", tmp_path / f"o{threads}.csv", "--model", domain_artifact, "--threads", threads)
        assert r.returncode == 0, r.stderr
        outs.append((tmp_path / f"o{threads}.csv").read_bytes())
    assert outs[0] == outs[1]
    assert len(read_out(tmp_path / "o2.csv")) == 2500


def test_cli_classify_and_evaluate(tmp_path, domain_artifact, test_split):
    src = tmp_path / "t.csv"
    test_split.head(60).rename(columns={"label": "topic"}).to_csv(src, index=False)
    r = run("classify", src, "--out", tmp_path / "o.csv", "--model", domain_artifact, "--prefix", "qr_")
    assert r.returncode == 0, r.stderr
    assert len(read_out(tmp_path / "o.csv")) == 60 and '"rows": 60' in r.stderr
    r = run("evaluate", "--data", src, "--model", domain_artifact, "--report", tmp_path / "rep")
    assert r.returncode == 0, r.stderr
    for f in (
        "metrics.json",
        "report.md",
        "confusion_matrix.png",
        "reliability.png",
        "coverage_accuracy.png",
        "per_language_f1.png",
    ):
        assert (tmp_path / "rep" / f).stat().st_size > 0
    assert '"macro_f1"' in r.stdout


@pytest.mark.parametrize("encoding", ["\x00", "no-such-codec", "utf-8\x00"])
def test_unknown_encoding_is_a_clear_error(tmp_path, router, encoding):
    src = tmp_path / "in.csv"
    src.write_text("text\nhi\n", encoding="utf-8")
    with pytest.raises(BatchError, match="unknown encoding"):
        classify_file(router, src, tmp_path / "o.csv", encoding=encoding)


def test_semicolon_export_whose_messages_hold_commas(tmp_path, router):
    """csv.Sniffer votes by the characters around quotes and chose "," for such an export (the batch
    benchmark's export of the 27,230-row data failed to parse); the header and every complete record
    decide now."""
    letter = (
        '"Dear Sir or Madam,\r\nmy mother, who is 80, wants to close her account, move the balance, and stop SMS.\r\nYours, A."'
    )
    lines = [
        "№;Дата;Сумма;Текст обращения",
        '0000001;01.02.2026;1 500,50;"Hi, the terminal says ""error 5"", then ""retry"", and the money, as far as I see, is gone"',
        f"0000002;01.02.2026;2 000,00;{letter}",
        '0000003;02.02.2026;35,00;"WMZ, WMR, WME: which purse, ""wallet"", and which fee, for a transfer to a card?"',
    ]
    text = "\r\n".join(lines) + "\r\n"
    assert csv.Sniffer().sniff(text, delimiters=",;\t|").delimiter == ","  # the old guess
    src = tmp_path / "export.csv"
    src.write_bytes(text.encode("cp1251"))
    out = tmp_path / "out.csv"
    s = classify_file(router, src, out, text_column="Текст обращения")
    assert s.sep == ";" and s.rows == 3
    rows = read_out(out)
    assert [r["№"] for r in rows] == ["0000001", "0000002", "0000003"]
    assert [r["Сумма"] for r in rows] == ["1 500,50", "2 000,00", "35,00"]
    assert rows[1]["Текст обращения"] == letter.strip('"')
    assert rows[0]["Текст обращения"].startswith('Hi, the terminal says "error 5", then')
    assert rows[0]["topic"] == "terminal"


@pytest.mark.parametrize(
    "sample, sep",
    [
        ('id,text\n1,"a; b; c"\n2,"d; e"\n', ","),  # semicolons inside quoted cells of a comma file
        ("id\ttext\tlang\n1\ta, b, c; d\ten\n", "\t"),
        ('a|b\n1|x\n2|"cut at the end of the sam', "|"),  # the last, cut record is left out
        ("text\nhello, world\nhi, there, you\n", ","),  # one column: no candidate is consistent, old rule
    ],
)
def test_sniff_separator(sample, sep):
    from service.batch import sniff_separator

    assert sniff_separator(sample) == sep
