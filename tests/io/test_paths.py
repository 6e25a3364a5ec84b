"""The one image-path resolver (datarecipes.io.paths.resolve_image_path)."""

from __future__ import annotations

import os

import pytest

from datarecipes.io.paths import resolve_image_path


@pytest.fixture
def tree(tmp_path, monkeypatch):
    """root/images/a.png, root/b.png, elsewhere/c.png; the working directory is tmp_path."""
    root = tmp_path / "root"
    (root / "images").mkdir(parents=True)
    (root / "images" / "a.png").write_bytes(b"a")
    (root / "b.png").write_bytes(b"b")
    (tmp_path / "elsewhere").mkdir()
    (tmp_path / "elsewhere" / "c.png").write_bytes(b"c")
    monkeypatch.chdir(tmp_path)
    return root


def test_an_absolute_path_that_exists_is_kept_even_if_the_root_has_the_name(tree, tmp_path):
    (tree / "c.png").write_bytes(b"other c")
    given = str(tmp_path / "elsewhere" / "c.png")
    assert resolve_image_path(given, tree) == given


def test_without_a_root_the_path_is_returned_as_written(tree):
    assert resolve_image_path("images/a.png", None) == "images/a.png"
    assert resolve_image_path("nowhere/x.png", None) == "nowhere/x.png"


def test_a_relative_path_joins_the_root(tree):
    assert resolve_image_path("images/a.png", tree) == str(tree / "images" / "a.png")
    assert resolve_image_path("b.png", str(tree)) == str(tree / "b.png")


def test_a_path_already_carrying_its_root_is_kept(tree):
    # The scenes world's graphs, loaded through the catalog: root/images/a.png relative to
    # the working directory, while the consumer's root is the world folder.
    assert resolve_image_path("root/images/a.png", tree) == "root/images/a.png"


def test_the_longest_trailing_part_under_the_root_wins(tree):
    # ProVision's sample annotations name the folder they were made in.
    assert resolve_image_path("sample_data/images/a.png", tree) == str(tree / "images" / "a.png")
    assert resolve_image_path("/old/machine/images/a.png", tree) == str(
        tree / "images" / "a.png")
    assert resolve_image_path("C:\\data\\b.png", tree) == str(tree / "b.png")
    # Climbing out of the root is not a way to reach a file.
    assert resolve_image_path("../../b.png", tree) == str(tree / "b.png")


def test_a_missing_image_is_reported_where_the_record_says_it_is(tree):
    assert resolve_image_path("sub/images/missing.png", tree) == str(
        tree / "sub" / "images" / "missing.png")
    assert resolve_image_path("/abs/missing.png", tree) == "/abs/missing.png"
    assert not os.path.exists(resolve_image_path("images/missing.png", tree))


def test_an_empty_path_is_refused_naming_the_root(tree):
    with pytest.raises(ValueError, match=r"empty image path .*root"):
        resolve_image_path("", tree)
