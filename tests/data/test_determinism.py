"""One seed, one population: byte-for-byte equal tables; another seed, another population."""

from __future__ import annotations

from synthetic.config import GeneratorSettings
from synthetic.generate import SyntheticDataset, generate


def test_same_seed_gives_identical_tables(small_dataset: SyntheticDataset) -> None:
    again = generate(small_dataset.settings)
    for part in ("raw", "truth"):
        first, second = getattr(small_dataset, part), getattr(again, part)
        assert first.keys() == second.keys()
        for name in first:
            assert first[name].equals(second[name]), f"{part}/{name} differs"


def test_another_seed_gives_another_population(small_dataset: SyntheticDataset) -> None:
    other = generate(small_dataset.settings.model_copy(update={"seed": 8}))
    assert not other.raw["people"].equals(small_dataset.raw["people"])
    assert not other.raw["incidents"].equals(small_dataset.raw["incidents"])


def test_period_changes_change_the_data_not_the_rules() -> None:
    short = generate(GeneratorSettings(people=2_000, seed=1, start="2020-01-01", end="2022-12-01"))
    dates = short.raw["incidents"].column("event_date").to_pylist()
    assert min(dates).isoformat() >= "2020-01-01"
    assert max(dates).isoformat() <= "2022-12-31"
