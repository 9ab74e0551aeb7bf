"""`load_json` of a crafted trace file (issue 12, more hostile inputs): bounded reads of regular files only
(a FIFO blocked, /dev/zero read until MemoryError), text that starts like JSON is JSON (a '[' document was
taken for a file name), and items the page would trip on are refused up front."""

import json
import os
import threading

import pytest

import chainrule as cr
from chainrule.viz import html as H


def _good():
    x = cr.tensor(2.0, requires_grad=True)
    return json.loads(cr.explain(x * x + x).to_json())


def _refused(source, match):
    with pytest.raises(ValueError, match=match):
        H.load_json(source)


def test_a_fifo_or_a_device_is_refused_without_blocking(tmp_path):
    fifo = tmp_path / "trace.json"
    os.mkfifo(fifo)
    done = []
    t = threading.Thread(target=lambda: done.append(pytest.raises(ValueError, H.load_json, str(fifo))), daemon=True)
    t.start()
    t.join(20)
    assert done and "is not a regular file" in str(done[0].value)
    link = tmp_path / "zero.json"
    os.symlink("/dev/zero", link)
    _refused(link, "is not a regular file")


def test_json_text_is_parsed_whatever_bracket_it_starts_with():
    _refused("[1, 2]", "not a chainrule trace")
    _refused("[" * 100000 + "]" * 100000, "not JSON|not a chainrule trace")
    assert H.load_json(json.dumps(_good()))["schema"] == H.SCHEMA


@pytest.mark.parametrize("key", ["steps", "leaves", "nodes", "edges"])
def test_items_that_are_not_objects_are_refused(key):
    _refused(json.dumps({**_good(), key: [[], 1, "a"]}), f"every item of '{key}' must be an object")


@pytest.mark.parametrize("title", [None, 5, ["a"], {"a": 1}])
def test_a_title_that_is_not_a_string_is_refused_before_the_page_is_made(title):
    _refused(json.dumps({**_good(), "title": title}), "'title' must be a string")
    data = _good()
    del data["title"]
    assert "<title>" in H.page_html(H.load_json(json.dumps(data)))


def test_a_file_that_is_not_utf8_says_so(tmp_path):
    p = tmp_path / "t.json"
    p.write_bytes(b"\xff\xfe{}")
    _refused(p, "is not UTF-8 text")
