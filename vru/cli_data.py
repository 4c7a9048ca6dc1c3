"""``vru synth``, ``vru calibrate`` and ``vru features``: the data stages.

The synthetic population (there is no real data here), its check against the
published rates, and the point-in-time feature table.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import pandas as pd
import typer
from pydantic import ValidationError
from rich.table import Table

from vru.clikit import (
    DEFAULT_DATA,
    DataOption,
    err,
    fail,
    fit_width,
    out,
    parse_dates,
    progress,
    require_raw,
)
from vru.clikit import settings as clikit_settings

if TYPE_CHECKING:
    import datetime as dt

    from synthetic.config import GeneratorSettings, Scenario


def _scenario(
    name: str | None,
    scenario_from: str | None,
    scenario_la: str | None,
    scenario_source: str | None,
    first: dt.date,
    last: dt.date,
) -> Scenario | None:
    """The ``--scenario`` options as a :class:`Scenario`, or a one-line refusal naming one."""
    from features.vocabulary import LOCAL_AUTHORITIES
    from synthetic.config import (
        DEFAULT_SCENARIO_START,
        SCENARIO_NAMES,
        SCENARIO_SOURCES,
        Scenario,
        parse_month,
    )

    if name is None:
        given = [
            option
            for option, value in (
                ("--scenario-from", scenario_from),
                ("--scenario-la", scenario_la),
                ("--scenario-source", scenario_source),
            )
            if value is not None
        ]
        if given:
            fail(f"{', '.join(given)} needs --scenario (one of {', '.join(SCENARIO_NAMES)})")
        return None
    if name not in SCENARIO_NAMES:
        fail(f"--scenario must be one of {', '.join(SCENARIO_NAMES)}, got {name!r}")
    begins = DEFAULT_SCENARIO_START
    if scenario_from is not None:
        try:
            begins = parse_month(scenario_from)
        except ValueError as exc:
            fail(f"{exc} (--scenario-from)")
    if not first < begins <= last:
        fail(
            f"--scenario-from {begins:%Y-%m} is outside the period: it must fall after "
            f"--start {first:%Y-%m} and no later than --end {last:%Y-%m}"
        )
    area = None
    if scenario_la is not None:
        wanted = scenario_la.strip().casefold()
        matches = [la for la in LOCAL_AUTHORITIES if la.casefold() == wanted]
        if not matches:
            fail(
                f"--scenario-la must be one of {', '.join(LOCAL_AUTHORITIES)}, got {scenario_la!r}"
            )
        area = matches[0]
    if scenario_source is not None:
        if name != "feed-stops":
            fail(f"--scenario-source applies only to --scenario feed-stops, not {name}")
        if scenario_source not in SCENARIO_SOURCES:
            fail(
                f"--scenario-source must be one of {', '.join(SCENARIO_SOURCES)}, "
                f"got {scenario_source!r}"
            )
    return Scenario.model_validate(
        {"name": name, "start": begins, "local_authority": area, "source": scenario_source}
    )


def _generator_settings(
    people: int,
    seed: int,
    start: str,
    end: str,
    no_bias: bool,
    scenario: tuple[str | None, str | None, str | None, str | None] = (None, None, None, None),
    intervention_effect: float | None = None,
) -> GeneratorSettings:
    from synthetic.config import BiasSettings, GeneratorSettings, PanelHistory, parse_month

    if people <= 0:
        fail(f"--people must be a positive number of young people, got {people}")
    if seed < 0:
        fail(f"--seed must be zero or positive, got {seed}")
    try:
        first, last = parse_month(start), parse_month(end)
    except ValueError as exc:
        fail(f"{exc} (--start/--end)")
    if last < first:
        fail(f"--end {end} is before --start {start}")
    if intervention_effect is not None and not 0 <= intervention_effect < 1:
        fail(
            "--intervention-effect must be a share from 0 (help does nothing) to below 1, "
            f"got {intervention_effect}"
        )
    panels = (
        PanelHistory()
        if intervention_effect is None
        else PanelHistory(intervention_effect=intervention_effect)
    )
    try:
        return GeneratorSettings(
            panels=panels,
            people=people,
            seed=seed,
            start=first,
            end=last,
            bias=BiasSettings.none() if no_bias else BiasSettings(),
            scenario=_scenario(*scenario, first=first, last=last),
        )
    except ValidationError as exc:
        first_error = exc.errors()[0]
        fail(str(first_error["msg"]).removeprefix("Value error, "))


def synth(
    out_dir: Annotated[
        Path, typer.Option("--out", help="Output folder; gets raw/, truth/ and manifest.json.")
    ] = Path("data/synthetic"),
    people: Annotated[
        int,
        typer.Option(
            help="Resident population aged 10–24 at any one month (default: Avon and "
            "Somerset, ~313,000). About 1.7× as many people pass through the period."
        ),
    ] = 313_000,
    seed: Annotated[
        int, typer.Option(help="Random seed; the same seed gives the same data.")
    ] = 20241,
    start: Annotated[str, typer.Option(help="First month of history, YYYY-MM.")] = "2015-01",
    end: Annotated[
        str, typer.Option(help="Last month of history (included), YYYY-MM.")
    ] = "2025-12",
    no_bias: Annotated[
        bool,
        typer.Option(
            "--no-bias",
            help="Switch off every recording bias (B1–B5): same true world, complete and "
            "even-handed recording. For fairness-audit experiments.",
        ),
    ] = False,
    overwrite: Annotated[
        bool, typer.Option("--overwrite", help="Replace a non-empty output folder.")
    ] = False,
    scenario: Annotated[
        str | None,
        typer.Option(
            "--scenario",
            help="Make one thing change from a given month, to test monitoring: "
            "exclusions-halved (schools record half their suspensions and exclusions; true "
            "risk unchanged), feed-stops (one source stops arriving for one area) or "
            "risk-rises (true risk of being harmed by serious violence ×1.5 in one area). "
            "Without it, the world is exactly as before.",
        ),
    ] = None,
    intervention_effect: Annotated[
        float | None,
        typer.Option(
            "--intervention-effect",
            help="How much the historic panels' help lowers a young person's monthly chance "
            "of serious violence (as victim and as perpetrator) for the 12 months it lasts: "
            "0.2 (default) is a fifth; 0 is a world where help does nothing. For vru "
            "evaluate's known answer.",
        ),
    ] = None,
    scenario_from: Annotated[
        str | None,
        typer.Option(
            "--scenario-from", help="First month of the scenario, YYYY-MM (default 2025-01)."
        ),
    ] = None,
    scenario_la: Annotated[
        str | None,
        typer.Option(
            "--scenario-la",
            help="The local authority where the scenario happens (default: Bristol for "
            "feed-stops and risk-rises, every area for exclusions-halved).",
        ),
    ] = None,
    scenario_source: Annotated[
        str | None,
        typer.Option(
            "--scenario-source",
            help="feed-stops only: the records that stop arriving — school_events, "
            "agency_contacts (default) or incidents.",
        ),
    ] = None,
) -> None:
    """Generate a synthetic linked multi-agency population (no real person is described).

    Writes DIR/raw/{people,school_events,agency_contacts,incidents}.parquet for the
    pipeline, the historic referral panels' DIR/raw/{panel_lists,interventions}.parquet
    (for vru evaluate; no feature reads them) and DIR/truth/ (latent factors, true
    events, true monthly probabilities, the help given) for evaluation only, then prints
    a per-area summary. With --scenario, something
    changes from one month on and manifest.json says what, when and where.
    """
    from synthetic.generate import OutputError, check_writable, generate, write_dataset
    from synthetic.scenarios import describe
    from synthetic.summary import area_summary
    from synthetic.tables import extract_date

    settings = clikit_settings()
    gen = _generator_settings(
        people,
        seed,
        start,
        end,
        no_bias,
        (scenario, scenario_from, scenario_la, scenario_source),
        intervention_effect=intervention_effect,
    )
    target = settings.resolve(out_dir)
    try:
        check_writable(target, overwrite=overwrite)
    except OutputError as exc:
        fail(str(exc))

    began = time.perf_counter()
    with progress() as bar:
        task = bar.add_task("simulating months", total=gen.n_months)
        data = generate(gen, progress=lambda done, total: bar.update(task, completed=done))
    simulated = time.perf_counter() - began
    try:
        write_dataset(data, target, overwrite=overwrite)
    except OutputError as exc:
        fail(str(exc))
    except OSError as exc:
        fail(f"could not write {target}: {exc.strerror or exc}")
    total = time.perf_counter() - began

    as_of = pd.Timestamp(extract_date(gen)) + pd.Timedelta(days=1)
    summary = area_summary(data.raw, as_of)
    table = Table(
        title=f"Synthetic population, 12 months to {as_of:%Y-%m-%d}"
        + (" (no recording bias)" if no_bias else "")
    )
    headers = (
        "area",
        "residents 10–24",
        "% in most deprived decile",
        "% Black",
        "suspensions /100 aged 11–15",
        "entered care",
        "stop & search /1,000",
        "SV suspects /1,000",
        "SV victims /1,000",
    )
    for h in headers:
        table.add_column(h, justify="left" if h == "area" else "right", no_wrap=h == "area")
    for row in summary.to_dict("records"):
        table.add_row(
            str(row["local_authority"]),
            f"{row['residents_10_24']:,}",
            f"{row['most_deprived_decile_pct']:.1f}",
            f"{row['black_pct']:.1f}",
            f"{row['suspensions_per_100_aged_11_15']:.1f}",
            f"{row['entered_care_12m']:,}",
            f"{row['stop_and_search_per_1000']:.1f}",
            f"{row['sv_suspects_per_1000']:.2f}",
            f"{row['sv_victims_per_1000']:.2f}",
        )
    fit_width()
    out.print(table)
    if gen.scenario is not None:
        out.print(f"scenario {gen.scenario.name}: {describe(gen.scenario)}", highlight=False)
    rows = data.manifest()["rows"]
    assert isinstance(rows, dict)
    out.print(
        f"wrote {target} — {rows['raw/people']:,} people, "
        f"{rows['raw/school_events']:,} school events, {rows['raw/agency_contacts']:,} "
        f"agency contacts, {rows['raw/incidents']:,} incident roles "
        f"(simulated in {simulated:.1f}s, {total:.1f}s with writing)",
        highlight=False,
    )


def calibrate(
    people: Annotated[int, typer.Option(help="Population to generate for the check.")] = 100_000,
    seed: Annotated[int, typer.Option(help="Random seed.")] = 20241,
    markdown: Annotated[
        Path | None, typer.Option("--markdown", help="Also write the table as Markdown here.")
    ] = None,
) -> None:
    """Check a generated population against every published target (SYNTHETIC_DATA.md).

    Generates the biased and the unbiased world from one seed in memory, measures
    each target and prints target vs generated. Exits 1 if any target is missed.
    """
    from synthetic.calibration import measure, to_markdown
    from synthetic.config import BiasSettings
    from synthetic.generate import generate

    gen = _generator_settings(people, seed, "2015-01", "2025-12", no_bias=False)
    with progress() as bar:
        task = bar.add_task("biased world", total=gen.n_months)
        biased = generate(gen, progress=lambda d, t: bar.update(task, completed=d))
        task2 = bar.add_task("unbiased world", total=gen.n_months)
        unbiased = generate(
            gen.model_copy(update={"bias": BiasSettings.none()}),
            progress=lambda d, t: bar.update(task2, completed=d),
        )
    table = measure(biased, unbiased)
    view = Table(title=f"Calibration: {people:,} people, seed {seed}")
    for h in ("id", "quantity", "target", "band", "generated", "ok"):
        view.add_column(h)
    for r in table.itertuples():
        view.add_row(
            str(r.id),
            str(r.quantity),
            f"{r.target:g}",
            f"{r.low:g}–{r.high:g}",
            f"{r.measured:.4g}",
            "yes" if r.passed else "[red]NO[/red]",
        )
    fit_width()
    out.print(view)
    if markdown is not None:
        markdown.parent.mkdir(parents=True, exist_ok=True)
        heading = (
            f"# Synthetic population vs published targets\n\n"
            f"Written by `vru calibrate --people {people} --seed {seed}` (biased and unbiased "
            "worlds from one seed). Sources and definitions: `synthetic/targets.py`; how the "
            "population is built: [synthetic.md](synthetic.md).\n\n"
        )
        markdown.write_text(heading + to_markdown(table) + "\n")
    missed = table.loc[~table["passed"], "id"].tolist()
    if missed:
        err.print(f"targets missed: {', '.join(missed)}")
        raise typer.Exit(1)


def features(
    data: DataOption = DEFAULT_DATA,
    as_of: Annotated[
        str,
        typer.Option(
            "--as-of",
            help="Snapshot date(s), YYYY-MM-DD, comma-separated. Features see only records "
            "with recorded_date before the date; labels cover the 12 months from it.",
        ),
    ] = "2024-01-01",
    out_file: Annotated[
        Path, typer.Option("--out", help="Parquet file to write (features + labels + audit).")
    ] = Path("data/features.parquet"),
    overwrite: Annotated[
        bool, typer.Option("--overwrite", help="Replace an existing output file.")
    ] = False,
) -> None:
    """Build the point-in-time feature table: one row per young person per as-of date.

    Everyone resident and aged 10–24 on each date gets one row with the features
    (windows [as_of − 90/365/730 days, as_of) and all history), the labels
    sv_victim_12m and sv_perpetrator_12m (missing where the 12 months run past the
    data), and the audit-only columns (sex, ethnicity, SEN, IMD decile, free school
    meals, local authority), which are not model inputs.
    """
    from features.build import write_feature_table
    from features.schemas import ContractError, feature_table_schema
    from features.snapshot import build_snapshot, load_tables

    settings = clikit_settings()
    dates = parse_dates(as_of)
    folder = settings.resolve(data)
    target = settings.resolve(out_file)
    if target.exists() and not overwrite:
        fail(f"output {target} exists (use --overwrite to replace it)")
    if target.exists() and target.is_dir():
        fail(f"output {target} is a folder, not a file")
    probe = target.parent
    while not probe.exists():
        probe = probe.parent
    if not probe.is_dir():
        fail(f"cannot write to {target.parent}: {probe} is not a folder")
    require_raw(folder)
    try:
        raw = load_tables(folder)
    except ContractError as exc:
        fail(f"input refused — {exc}")
    end = raw.end

    began = time.perf_counter()
    try:
        with progress() as bar:
            task = bar.add_task("building features", total=None)

            def report(done: int, total: int, stage: str) -> None:
                bar.update(task, completed=done, total=total, description=f"built {stage}")

            snapshot = build_snapshot(raw, dates, labels=True, progress=report)
    except ContractError as exc:
        fail(str(exc))
    frame = snapshot.frame
    feature_table_schema().validate(frame)
    try:
        write_feature_table(snapshot.table, target)
    except OSError as exc:
        fail(f"could not write {target}: {exc.strerror or exc}")
    elapsed = time.perf_counter() - began

    from features.registry import model_inputs

    view = Table(
        title=f"Feature table: {len(frame):,} rows × {frame.shape[1]} columns "
        f"({len(model_inputs())} model inputs)"
    )
    for h in ("as of", "area", "young people", "SV victim 12m", "SV perpetrator 12m"):
        view.add_column(h, justify="left" if h in ("as of", "area") else "right")
    for (when, area), group in frame.groupby(["as_of", "local_authority"], sort=True):

        def rate(column: str, g: pd.DataFrame = group) -> str:
            labelled = g[column].dropna()
            return "missing" if labelled.empty else f"{labelled.mean():.2%}"

        view.add_row(
            f"{when:%Y-%m-%d}",
            str(area),
            f"{len(group):,}",
            rate("sv_victim_12m"),
            rate("sv_perpetrator_12m"),
        )
    fit_width()
    out.print(view)
    out.print(f"wrote {target} in {elapsed:.1f}s (data end {end})", highlight=False)


def register(app: typer.Typer) -> None:
    """Add ``vru synth``, ``vru calibrate`` and ``vru features`` to the ``vru`` app."""
    app.command("synth")(synth)
    app.command("calibrate")(calibrate)
    app.command("features")(features)
