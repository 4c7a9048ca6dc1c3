"""BENCHMARKS.md sections are merged, never lost, and the full-size table reads right."""

from __future__ import annotations

from pathlib import Path

from benchmarks.large import Stage, markdown
from benchmarks.run import merge_section


def test_a_section_replaces_its_namesake_and_keeps_the_rest(tmp_path: Path) -> None:
    out = tmp_path / "BENCHMARKS.md"
    out.write_text("# Benchmarks\n\n- date: x\n\n## A\n\nold a\n\n## B\n\nb stays\n")
    merge_section(out, ["## A", "", "new a", ""])
    merge_section(out, ["## C", "", "c", ""])
    text = out.read_text()
    assert text.startswith("# Benchmarks\n\n- date: x\n")
    assert "new a" in text
    assert "old a" not in text
    assert text.index("## A") < text.index("## B") < text.index("## C")
    assert "b stays" in text
    fresh = tmp_path / "new.md"
    merge_section(fresh, ["## A", "", "a"])
    assert fresh.read_text() == "# Benchmarks\n\n## A\n\na\n"


def test_full_size_table_gives_the_slope_between_the_two_largest_sizes() -> None:
    results = {
        1_000_000: ([Stage("generate", 100.0, 4_000.0, True)], {}),
        2_000_000: ([Stage("generate", 300.0, 10_000.0, True)], {}),
    }
    lines = markdown(results)
    row = next(line for line in lines if line.startswith("| generate |"))
    # (300 - 100) s per million people = 20 s and 600 MiB per 100,000
    assert row.endswith("| 20.0 | 600 |")
    assert "| 100 | 4,000 | 300 | 10,000 |" in row
    assert any("not every stage completed" in line for line in lines)
    failed = {2_000_000: ([Stage("generate", 5.0, 9.0, False, "exit 137")], {})}
    assert "(exit 137)" in next(line for line in markdown(failed) if "| generate |" in line)
