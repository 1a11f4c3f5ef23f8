from __future__ import annotations

import json

import pytest

from data.dataset import Example, read_examples, read_split
from data.taxonomy import Label, Surface
from tegur.errors import DataError


def _write(path, lines):
    path.write_bytes(b"".join(line if isinstance(line, bytes) else line.encode() for line in lines))
    return path


def test_round_trip(tmp_path):
    ex = Example(
        id="a", text="cek bio kak", labels=(Label.OFF_PLATFORM_REDIRECTION,), surface=Surface.LIVE_CHAT
    )
    path = _write(tmp_path / "x.jsonl", [json.dumps(ex.to_json()) + "\n"])
    assert read_examples(path) == [ex]


def test_annotated_subset(tmp_path):
    row = {"text": "dasar jelek", "labels": ["bullying"], "annotated": ["bullying"]}
    path = _write(tmp_path / "x.jsonl", [json.dumps(row) + "\n"])
    [ex] = read_examples(path)
    assert ex.annotated == (Label.BULLYING,)


@pytest.mark.parametrize(
    ("line", "message"),
    [
        (b'{"text": "a", "labels": ["spam"]}\n', r"x.jsonl:2: unknown label 'spam'"),
        (b'{"text": "", "labels": []}\n', r"x.jsonl:2: 'text' is empty"),
        (b'{"text": 3, "labels": []}\n', r"x.jsonl:2: 'text' must be a string"),
        (b'{"text": "a"}\n', r"x.jsonl:2: missing 'labels'"),
        (b'{"text": "a", "labels": [\n', r"x.jsonl:2: not valid JSON"),
        (b'{"text": "\xff", "labels": []}\n', r"x.jsonl:2: not valid UTF-8"),
        (b"[1, 2]\n", r"x.jsonl:2: expected a JSON object"),
        (
            b'{"text": "a", "labels": ["pity_bait"], "annotated": ["bullying"]}\n',
            r"x.jsonl:2: labels \['pity_bait'\] are not in 'annotated'",
        ),
    ],
)
def test_bad_rows_name_file_and_line(tmp_path, line, message):
    path = _write(tmp_path / "x.jsonl", [b'{"text": "ok", "labels": []}\n', line])
    with pytest.raises(DataError, match=message):
        read_examples(path)


def test_empty_file(tmp_path):
    with pytest.raises(DataError, match="no examples"):
        read_examples(_write(tmp_path / "x.jsonl", [b"\n"]))


def test_missing_split_says_what_to_run(tmp_path):
    with pytest.raises(DataError, match="tegur data prepare"):
        read_split(tmp_path, "train")
