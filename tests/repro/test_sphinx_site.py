"""The launch/source/edit buttons of a notebook page are rewritten to the notebook's source."""

import json

import pytest
from sphinx.errors import ExtensionError

from relnotes.repro.sphinx_site import rewrite, source_notebooks, unique_scripts


def _notebook(path):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"cells": [], "metadata": {}, "nbformat": 4, "nbformat_minor": 5}))


def test_sources_are_found_by_name(tmp_path):
    _notebook(tmp_path / "notebooks" / "gcnet" / "gcnet_ablations.ipynb")
    _notebook(tmp_path / "notebooks" / "one_formula" / "one_formula.ipynb")
    assert source_notebooks(tmp_path) == {
        "gcnet_ablations": "notebooks/gcnet/gcnet_ablations.ipynb",
        "one_formula": "notebooks/one_formula/one_formula.ipynb"}


def test_a_name_used_twice_is_an_error(tmp_path):
    _notebook(tmp_path / "notebooks" / "a" / "x.ipynb")
    _notebook(tmp_path / "notebooks" / "b" / "x.ipynb")
    with pytest.raises(ExtensionError, match="unique"):
        source_notebooks(tmp_path)


def test_every_url_to_a_generated_copy_is_rewritten_and_nothing_else():
    sources = {"gcnet_ablations": "notebooks/gcnet/gcnet_ablations.ipynb"}
    buttons = [{"type": "group", "buttons": [
        {"url": "https://colab.research.google.com/github/o/r/blob/main/"
                "book/_generated/notebooks/gcnet_ablations.ipynb"},
        {"url": "https://mybinder.org/v2/gh/o/r/main?urlpath=lab/tree/"
                "book/_generated/notebooks/gcnet_ablations.ipynb"}]},
        {"url": "https://github.com/o/r/edit/main/book/_generated/notebooks/gcnet_ablations.ipynb"},
        {"url": "https://github.com/o/r/edit/main/book/gcnet.md", "n": 3}]
    out = rewrite(buttons, sources)
    assert out == [{"type": "group", "buttons": [
        {"url": "https://colab.research.google.com/github/o/r/blob/main/"
                "notebooks/gcnet/gcnet_ablations.ipynb"},
        {"url": "https://mybinder.org/v2/gh/o/r/main?urlpath=lab/tree/"
                "notebooks/gcnet/gcnet_ablations.ipynb"}]},
        {"url": "https://github.com/o/r/edit/main/notebooks/gcnet/gcnet_ablations.ipynb"},
        {"url": "https://github.com/o/r/edit/main/book/gcnet.md", "n": 3}]


def test_a_generated_copy_without_a_source_stops_the_build():
    with pytest.raises(ExtensionError, match="no source notebook"):
        rewrite({"url": "https://x/book/_generated/notebooks/gone.ipynb"}, {})


def test_the_issue_button_naming_the_page_is_left_as_it_is():
    text = "title=Issue on page /book/_generated/notebooks/x.html&body=Your issue"
    assert rewrite({"url": text}, {}) == {"url": text}


def test_a_download_link_inside_the_built_site_is_left_as_it_is():
    link = "../../../_sources/book/_generated/notebooks/x.ipynb"
    assert rewrite({"url": link}, {}) == {"url": link}


def test_identical_scripts_are_kept_once_in_order():
    from sphinx.builders.html._assets import _JavaScript
    a = _JavaScript(None, body="const THEBE_JS_URL = 1")
    b = _JavaScript("_static/x.js")
    out = unique_scripts([a, b, _JavaScript("", body="const THEBE_JS_URL = 1", priority=600), b])
    assert out == [a, b]
