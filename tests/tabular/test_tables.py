"""Real-table loading: each messy-CSV case is handled or refused naming file and column."""

from __future__ import annotations

import numpy as np
import pytest

from datarecipes.tabular.tables import TableError, load_table, split_table

SHARED = "../shared/data/tabular"


def write(tmp_path, name, text, encoding="utf-8"):
    path = tmp_path / name
    path.write_bytes(text.encode(encoding))
    return path


def test_text_categoricals_become_sorted_ordinal_codes(tmp_path):
    csv = "colour,size,label\nrot,1.5,a\nblau,2.5,b\nÄpfelgrün,3.5,a\nblau,,b\n ,4.0,a\n"
    t = load_table(write(tmp_path, "cats.csv", csv))
    assert t.feature_names == ["colour", "size"]
    # sorted by code point: blau < rot < Äpfelgrün; the blank entry is its own category
    assert t.categorical["colour"] == ["blau", "rot", "Äpfelgrün", "<missing>"]
    assert t.X[:, 0].tolist() == [1, 0, 2, 0, 3]
    assert np.isnan(t.X[3, 1]) and t.X[0, 1] == 1.5  # numeric missing stays NaN
    assert t.classes == ["a", "b"] and t.y.tolist() == [0, 1, 0, 1, 0]  # text label -> codes


def test_constant_columns_are_dropped_and_noted(tmp_path):
    t = load_table(write(tmp_path, "const.csv", "a,b,c,label\n1,7,,0\n2,7,,1\n3,7,,0\n"))
    assert t.feature_names == ["a"]
    assert any("'b': constant" in n for n in t.notes)
    assert any("'c': constant" in n for n in t.notes)


def test_single_class_is_refused(tmp_path):
    with pytest.raises(TableError, match=r"one\.csv: column 'label' has a single class"):
        load_table(write(tmp_path, "one.csv", "a,label\n1,x\n2,x\n"))


def test_many_classes_kept_or_refused(tmp_path):
    rows = "".join(f"{i},{i % 12}\n" for i in range(48))
    path = write(tmp_path, "many.csv", "a,label\n" + rows)
    t = load_table(path)
    assert t.n_classes == 12 and any("12 classes" in n for n in t.notes)
    assert t.classes[:3] == ["0", "1", "2"] and t.classes[-1] == "11"  # numeric order
    with pytest.raises(TableError, match=r"many\.csv: column 'label' has 12 classes"):
        load_table(path, max_classes=10)


def test_missing_label_column_is_refused_listing_columns(tmp_path):
    with pytest.raises(TableError, match=r"nolabel\.csv: no label column 'label'.*'target'"):
        load_table(write(tmp_path, "nolabel.csv", "a,target\n1,0\n2,1\n"), label_column="label")


def test_target_is_the_last_column_unless_named(tmp_path):
    # The class is not called `label` and is not last when named; by default the last column.
    path = write(tmp_path, "t.csv", "outcome,x,y\nyes,1,5\nno,2,6\nyes,3,5\nno,4,7\n")
    last = load_table(path)
    assert last.feature_names == ["outcome", "x"] and last.classes == ["5", "6", "7"]
    named = load_table(path, label_column="outcome")
    assert named.feature_names == ["x", "y"] and named.classes == ["no", "yes"]
    assert named.y.tolist() == [1, 0, 1, 0] and named.X[:, 0].tolist() == [1, 2, 3, 4]


def test_rows_without_label_are_dropped(tmp_path):
    t = load_table(write(tmp_path, "gaps.csv", "a,label\n1,0\n2,\n3,1\n4,0\n"))
    assert len(t.y) == 3 and any("dropped 1 rows" in n and "data rows 2)" in n for n in t.notes)


def test_empty_and_header_only_files_are_refused(tmp_path):
    with pytest.raises(TableError, match=r"empty\.csv: the file is empty"):
        load_table(write(tmp_path, "empty.csv", ""))
    with pytest.raises(TableError, match=r"header\.csv: the file has a header but no rows"):
        load_table(write(tmp_path, "header.csv", "a,b,label\n"))


def test_non_utf8_falls_back_to_latin1_or_is_refused(tmp_path):
    path = write(tmp_path, "latin.csv", "ville,label\nMontréal,0\nQuébec,1\nLyon,0\n",
                 encoding="latin-1")
    t = load_table(path)
    assert t.categorical["ville"] == ["Lyon", "Montréal", "Québec"]
    assert any("not UTF-8" in n and "Latin-1" in n for n in t.notes)
    with pytest.raises(TableError, match=r"latin\.csv: not UTF-8"):
        load_table(path, encoding_fallback=False)


def test_numeric_text_columns_and_bom_are_read_as_numbers(tmp_path):
    path = tmp_path / "bom.csv"
    path.write_bytes("\ufeffa, b ,label\n1, 2.5 ,x\n2,NA,y\n3, 4 ,x\n".encode())
    t = load_table(path)
    assert t.feature_names == ["a", "b"] and not t.categorical
    assert t.X[0].tolist() == [1.0, 2.5] and np.isnan(t.X[1, 1])


def test_no_feature_left_is_refused(tmp_path):
    with pytest.raises(TableError, match=r"bare\.csv: no usable feature column"):
        load_table(write(tmp_path, "bare.csv", "k,label\n1,0\n1,1\n"))


def test_split_is_80_20_stratified_and_seeded():
    t = load_table(f"{SHARED}/blood.csv")
    train, test = split_table(t)
    assert len(test) == round(0.2 * len(t.y)) and not set(train) & set(test)
    share = lambda idx: np.bincount(t.y[idx]) / len(idx)  # noqa: E731
    assert np.allclose(share(train), share(test), atol=0.02)
    again = split_table(t)
    assert np.array_equal(again[1], test)


def test_all_shared_tables_load_cleanly():
    import glob

    paths = sorted(glob.glob(f"{SHARED}/*.csv"))
    assert len(paths) == 16
    for path in paths:
        t = load_table(path)
        assert 2 <= t.n_classes <= 10 and t.X.shape[0] == len(t.y) and not t.categorical
