"""``tegur classify FILE`` (inference/classify_file.py and its command in inference/cli.py)."""

from __future__ import annotations

import csv
import io
import json
import subprocess
import sys
from pathlib import Path

import pytest

from data.taxonomy import LABEL_NAMES
from inference.classify import ActionBands
from inference.classify_file import (
    BASE_COLUMNS,
    FileFormat,
    TextEncoding,
    classify_file,
    classify_stream,
)
from tegur.errors import DataError
from tests.fixtures_models import build_untrained_artifact
from tests.test_api import FakeModel

BANDS = ActionBands(review=0.5, remove=0.9)

CSV_TEXT = (
    "id,author,text\n"
    "c1,u1,Kontennya bagus banget kak\n"
    'l1,u2,"cek bio ya, wa aktif 24 jam"\n'
    "l2,u3,kak tolong gift dong 🙏\n"
    "c2,u4,dasar jelek\n"
    "c3,u5,\n"
    'c4,u6,"dua baris\nsatu pesan, hampir"\n'
)
# By FakeModel's keywords: wa aktif -> remove; gift, jelek -> review; hampir (0.45) -> allow.
EXPECTED = {"c1": "allow", "l1": "remove", "l2": "review", "c2": "review", "c3": "allow", "c4": "allow"}


def run_stream(data: bytes, name: str = "-", **options) -> tuple[str, object]:
    out = io.StringIO()
    summary = classify_stream(io.BytesIO(data), name, out, FakeModel(), BANDS, **options)
    return out.getvalue(), summary


def test_csv_rows_become_decisions_one_for_one() -> None:
    text, summary = run_stream(CSV_TEXT.encode(), "in.csv")
    rows = list(csv.DictReader(io.StringIO(text)))
    assert list(rows[0]) == list(BASE_COLUMNS)
    assert {row["id"]: row["action"] for row in rows} == EXPECTED
    by_id = {row["id"]: row for row in rows}
    assert by_id["l1"]["labels"] == "off_platform_redirection"
    assert float(by_id["l1"]["score_off_platform_redirection"]) == pytest.approx(0.97)
    assert by_id["l1"]["max_score"] == by_id["l1"]["score_off_platform_redirection"]
    assert by_id["c2"]["labels"] == "bullying"
    # An empty text is kept (its row is there) but not scored.
    assert by_id["c3"]["score_bullying"] == "" and by_id["c3"]["labels"] == ""
    # A quoted cell over two lines is one message; its line is where it ends.
    assert [row["line"] for row in rows] == ["2", "3", "4", "5", "6", "8"]
    assert summary.rows == 6 and summary.empty == 1
    assert summary.actions == {"allow": 3, "review": 2, "remove": 1}


def test_jsonl_in_jsonl_out_with_text_and_id_choice() -> None:
    lines = [
        {"msg_id": 7, "body": "wa aktif kak, fast respon", "extra": [1]},
        {"msg_id": "x", "body": "makasih kak sehat selalu"},
        {"body": None},
    ]
    data = "\n".join(json.dumps(line, ensure_ascii=False) for line in lines).encode() + b"\n\n"
    text, _ = run_stream(data, "-", text_col="body", id_col="msg_id", keep_text=True)
    out = [json.loads(line) for line in text.splitlines()]
    assert [(o["id"], o["line"], o["action"]) for o in out] == [
        ("7", 1, "remove"),
        ("x", 2, "allow"),
        ("3", 3, "allow"),
    ]
    assert list(out[0]["scores"]) == list(LABEL_NAMES)
    assert out[0]["labels"] == ["off_platform_redirection"]
    assert out[0]["text"] == lines[0]["body"]
    assert out[2]["scores"] is None and out[2]["minor_signal"] == {"flag": False, "reasons": []}


def test_stdin_is_sniffed_and_output_format_can_differ() -> None:
    text, _ = run_stream(CSV_TEXT.encode(), "-", out_format=FileFormat.JSONL)
    assert [json.loads(line)["id"] for line in text.splitlines()] == list(EXPECTED)
    tsv = b"text\tid\ndasar jelek\tt1\n"
    text, _ = run_stream(tsv, "in.tsv")
    assert text.splitlines()[1].split("\t")[:3] == ["t1", "2", "review"]


def test_latin1_and_byte_order_marks_are_read() -> None:
    data = "id,text\nk1,caf\u00e9 jelek\n".encode("latin-1")
    text, _ = run_stream(data, "in.csv", encoding=TextEncoding.LATIN1)
    assert text.splitlines()[1].startswith("k1,2,review")
    text, _ = run_stream("\ufeffid,text\nk2,jelek\n".encode(), "in.csv")  # Excel's "CSV UTF-8"
    assert text.splitlines()[1].startswith("k2,2,review")


@pytest.mark.parametrize(
    ("data", "options", "message"),
    [
        (b"", {}, "in.csv: the file is empty (no header row)"),
        (b"id,text\n", {}, "in.csv: no rows to classify"),
        (
            b"id,txt\n1,halo\n",
            {},
            "in.csv:1: no column 'text' (named by --text-col); the columns are id, txt",
        ),
        (b"id,text\n1,halo\n2,caf\xe9 enak\n", {}, "in.csv:3: not valid utf-8"),
        ("id,text\n1,halo\n".encode("utf-16"), {}, "in.csv:1: contains a NUL byte"),
        (b"id,text\n1,ok\x00\n", {}, "in.csv:2: contains a NUL byte"),
        (b"id,text\n1,a,b\n", {}, "in.csv:2: expected 2 columns, got 3"),
        (b'{"text": "ok"}\n{"text": \n', {"fmt": FileFormat.JSONL}, "in.csv:2: not valid JSON"),
        (b'{"text": 5}\n', {"fmt": FileFormat.JSONL}, "in.csv:1: 'text' must be a string, got int"),
        (b'{"teks": "x"}\n', {"fmt": FileFormat.JSONL}, "in.csv:1: no key 'text' (named by --text-col)"),
        (b"[1, 2]\n", {"fmt": FileFormat.JSONL}, "in.csv:1: expected a JSON object, got list"),
    ],
    ids=[
        "empty",
        "header-only",
        "missing-column",
        "broken-utf8",
        "utf16",
        "nul",
        "ragged",
        "bad-json",
        "non-string",
        "missing-key",
        "not-object",
    ],
)
def test_bad_input_is_one_clear_error(data: bytes, options: dict, message: str) -> None:
    with pytest.raises(DataError) as info:
        run_stream(data, "in.csv", **options)
    assert message in str(info.value)
    assert "\n" not in str(info.value)


def test_a_failed_run_leaves_the_target_as_it_was(tmp_path: Path) -> None:
    source = tmp_path / "in.csv"
    source.write_bytes(b"id,text\n1,halo\n2,caf\xe9\n")
    target = tmp_path / "out.csv"
    target.write_text("earlier results\n", encoding="utf-8")
    with pytest.raises(DataError, match=r"in\.csv:3: not valid utf-8"):
        classify_file(str(source), str(target), FakeModel(), BANDS, progress=False)
    assert target.read_text(encoding="utf-8") == "earlier results\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.csv", "out.csv"]
    with pytest.raises(DataError, match="input file not found"):
        classify_file(str(tmp_path / "nope.csv"), str(target), FakeModel(), BANDS, progress=False)


class CountingBytes(io.RawIOBase):
    """A readable stream that records how much of it was read."""

    def __init__(self, data: bytes) -> None:
        self._data = io.BytesIO(data)
        self.read_bytes = 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        n = self._data.readinto(buffer)
        self.read_bytes += n
        return n


def test_rows_are_streamed_in_bounded_chunks() -> None:
    texts = ["dasar jelek", "mantap kak", "wa aktif", "salam dari bandung", "kak tolong gift"]
    lines = ["id,text", *(f"{i},{texts[i % len(texts)]} nomor {i}" for i in range(20000))]
    data = ("\n".join(lines) + "\n").encode()
    source = CountingBytes(data)
    model = FakeModel()
    read_at_call: list[int] = []
    predict = model.predict_proba

    def recording(batch, batch_size=64):
        read_at_call.append(source.read_bytes)
        return predict(batch, batch_size)

    model.predict_proba = recording  # type: ignore[method-assign]
    out = io.StringIO()
    summary = classify_stream(source, "big.csv", out, model, BANDS, chunk_size=100)
    assert summary.rows == 20000
    assert model.batch_sizes == [100] * 200
    # The first chunk is scored after reading one 64 KiB buffer of the input, not all of it.
    assert read_at_call[0] <= 1 << 16 < len(data) / 8
    assert read_at_call == sorted(read_at_call) and read_at_call[-1] == len(data)
    assert len(out.getvalue().splitlines()) == 20001


def test_annotator_adds_columns() -> None:
    class Lengths:
        columns = ("chars", "why")

        def __call__(self, rows, decisions):
            return [
                {"chars": len(r.text), "why": [lab.value for lab in d.labels] if d else None}
                for r, d in zip(rows, decisions, strict=True)
            ]

    text, _ = run_stream(CSV_TEXT.encode(), "in.csv", annotator=Lengths())
    rows = list(csv.DictReader(io.StringIO(text)))
    assert list(rows[0])[-2:] == ["chars", "why"]
    assert rows[3]["chars"] == "11" and rows[3]["why"] == '["bullying"]'
    assert rows[4]["why"] == ""


@pytest.fixture(scope="module")
def artifact(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_untrained_artifact(tmp_path_factory.mktemp("artifacts") / "untrained")


def _tegur(*args: str, cwd: Path, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "tegur", *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        input=stdin,
        timeout=300,
    )


def test_command_scores_a_csv_from_any_directory(artifact: Path, tmp_path: Path) -> None:
    (tmp_path / "in.csv").write_text(CSV_TEXT, encoding="utf-8")
    done = _tegur(
        "classify", "in.csv", "--text-col", "text", "-o", "out.csv", "--model", str(artifact), cwd=tmp_path
    )
    assert done.returncode == 0, done.stderr
    assert "classified 6 rows" in done.stderr and "-> out.csv" in done.stderr
    rows = list(csv.DictReader((tmp_path / "out.csv").open(encoding="utf-8")))
    assert [row["id"] for row in rows] == list(EXPECTED)
    assert all(row["action"] in {"allow", "review", "remove", "escalate"} for row in rows)
    assert all(0.0 <= float(row["score_bullying"]) <= 1.0 for row in rows if row["id"] != "c3")

    piped = _tegur(
        "classify", "-", "--model", str(artifact), "-q", cwd=tmp_path, stdin='{"text": "halo kak"}\n'
    )
    assert piped.returncode == 0, piped.stderr
    assert json.loads(piped.stdout)["id"] == "1"


def test_command_errors_are_one_line_with_exit_2(artifact: Path, tmp_path: Path) -> None:
    (tmp_path / "in.csv").write_text("id,body\n1,halo\n", encoding="utf-8")
    done = _tegur("classify", "in.csv", "-o", "out.csv", "--model", str(artifact), cwd=tmp_path)
    assert done.returncode == 2
    assert done.stderr.strip().splitlines()[-1].startswith("error: in.csv:1: no column 'text'")
    assert "Traceback" not in done.stderr
    assert not (tmp_path / "out.csv").exists()
