"""``vru explain`` says what changed since an earlier date and what the records cannot see."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from features.coverage import NOT_HELD
from tests.batch.conftest import Released

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("batch")]


def _explain(released: Released, *args: str) -> tuple[int, str, str]:
    from vru.cli import app

    result = CliRunner().invoke(
        app,
        ["explain", "--data", str(released.data_dir), "--alias", "champion", *args],
        env={**released.env(), "COLUMNS": "200"},
    )
    return result.exit_code, result.stdout, result.stderr


def test_vru_explain_prints_what_changed_since_last_month_and_what_it_cannot_see(
    released: Released,
) -> None:
    code, stdout, stderr = _explain(
        released, "--outcome", "victim", "--as-of", "2025-01-01", "--top", "2"
    )
    assert code == 0, stderr
    # one month before --as-of by default; the earlier band said to be this model's
    assert stdout.count("What changed since 2024-12-01:") == 2
    assert "records as they stood then" in stdout
    assert "band unchanged since 2024-12-01" in stdout or "on 2024-12-01, now '" in stdout
    # what the estimate draws on, with dates, and what it cannot see, before the caveat
    assert stdout.count("What it cannot see — none of these records hold:") == 2
    assert "  • school records, to 2024-12-" in stdout
    words = " ".join(stdout.split())  # the terminal wraps long lines
    for thing in NOT_HELD:
        assert thing in words
    assert stdout.index("What changed since") < stdout.index("What it cannot see")
    assert stdout.index("What it cannot see") < stdout.index("prompt for professional review")


def test_vru_explain_since_an_earlier_date_or_before_the_data_begin(
    released: Released,
) -> None:
    code, stdout, stderr = _explain(
        released, "--as-of", "2025-01-01", "--since", "2024-07-01", "--top", "1"
    )
    assert code == 0, stderr
    assert "What changed since 2024-07-01:" in stdout
    code, stdout, stderr = _explain(
        released, "--as-of", "2025-01-01", "--since", "1990-01-01", "--top", "1"
    )
    assert code == 0, stderr
    assert "note: not showing what changed since 1990-01-01: the data begin on" in stderr
    assert "What changed since" not in stdout
    assert "What it cannot see" in stdout
    code, _, stderr = _explain(released, "--as-of", "2025-01-01", "--since", "2025-02-01")
    assert code == 2
    assert "--since 2025-02-01 must be before --as-of 2025-01-01" in stderr
