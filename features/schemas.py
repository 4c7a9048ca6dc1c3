"""Contracts of the raw tables and of the feature table (pandera).

The two panel tables (``panel_lists``, ``interventions``: what referral panels
discussed and the help it led to) have contracts here too, but are read only by
:func:`load_panel_tables` for evaluation: no feature builder reads them, so a young
person never looks riskier because they were helped.

:func:`load_raw` reads a data folder and either returns the four validated raw
tables or raises :class:`ContractError` with one message that names the table,
the column, the rule and a few offending rows. Nothing is written on refusal:
validation happens before any builder runs.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Mapping
from pathlib import Path

import pandas as pd
import pandera.pandas as pa
import pyarrow as pa_arrow
import pyarrow.compute as pc
import pyarrow.parquet as pq

from features import vocabulary as codes

RAW_TABLES = ("people", "school_events", "agency_contacts", "incidents")
EVENT_TABLES = ("school_events", "agency_contacts", "incidents")
#: what panels did: evaluated (``vru evaluate``), never a risk input
PANEL_TABLES = ("panel_lists", "interventions")
DATE_COLUMNS: dict[str, tuple[str, ...]] = {
    "people": ("birth_month", "moved_in", "moved_out"),
    "school_events": ("event_date", "recorded_date"),
    "agency_contacts": ("event_date", "recorded_date"),
    "incidents": ("event_date", "recorded_date"),
    "panel_lists": ("list_month",),
    "interventions": ("list_month", "start_date", "end_date", "recorded_date"),
}
#: keys that identify one row; a repeated key is refused
KEYS: dict[str, tuple[str, ...]] = {
    "people": ("person_id",),
    "school_events": ("person_id", "event_date", "event_type"),
    "agency_contacts": ("person_id", "event_date", "agency", "contact_type"),
    "incidents": ("incident_id", "person_id", "role"),
    "panel_lists": ("list", "list_month", "local_authority", "rank"),
    "interventions": ("list", "list_month", "person_id"),
}
EARLIEST_DATE = pd.Timestamp("1980-01-01")
LATEST_DATE = pd.Timestamp("2100-01-01")
EXAMPLES = 3

MSG_MISSING_FILE = "{table}: file {path} is missing"
MSG_UNREADABLE = "{table}: {path} cannot be read as Parquet ({error})"
MSG_MISSING_COLUMN = "{table}: column '{column}' is missing (required columns: {required})"
MSG_REFUSED = "{table}: column '{column}' breaks rule '{rule}' in {n} row(s), e.g. {examples}"


class ContractError(ValueError):
    """Input refused by a contract; the message names table, column, rule and rows."""


def _dates_in_range() -> list[pa.Check]:
    return [
        pa.Check.ge(EARLIEST_DATE, error=f"on or after {EARLIEST_DATE.date()}"),
        pa.Check.lt(LATEST_DATE, error=f"before {LATEST_DATE.date()}"),
    ]


def _event_dates() -> dict[str, pa.Column]:
    return {
        "person_id": pa.Column(str, pa.Check.str_length(min_value=1), nullable=False),
        "event_date": pa.Column("datetime64[ns]", _dates_in_range(), nullable=False),
        "recorded_date": pa.Column("datetime64[ns]", _dates_in_range(), nullable=False),
    }


def _recorded_after_event(df: pd.DataFrame) -> pd.Series:
    return df["recorded_date"] >= df["event_date"]


RECORDED_RULE = pa.Check(
    _recorded_after_event, error="recorded_date on or after event_date", name="recorded_after_event"
)

SCHEMAS: dict[str, pa.DataFrameSchema] = {
    "people": pa.DataFrameSchema(
        {
            "person_id": pa.Column(str, pa.Check.str_length(min_value=1), nullable=False),
            "birth_month": pa.Column(
                "datetime64[ns]",
                [
                    *_dates_in_range(),
                    pa.Check(lambda s: s.dt.day == 1, error="first day of a month"),
                ],
                nullable=False,
            ),
            "sex": pa.Column(str, pa.Check.isin(codes.SEXES)),
            "ethnicity": pa.Column(str, pa.Check.isin(codes.ETHNICITIES)),
            "ethnicity_detail": pa.Column(str, pa.Check.isin(codes.ETHNICITY_CODES)),
            "local_authority": pa.Column(str, pa.Check.isin(codes.LOCAL_AUTHORITIES)),
            "imd_decile": pa.Column("int64", pa.Check.in_range(1, 10), coerce=True),
            "sen_status": pa.Column(str, pa.Check.isin(codes.SEN_STATUSES)),
            "fsm": pa.Column(bool),
            "moved_in": pa.Column("datetime64[ns]", _dates_in_range(), nullable=True),
            "moved_out": pa.Column("datetime64[ns]", _dates_in_range(), nullable=True),
        },
        name="people",
    ),
    "school_events": pa.DataFrameSchema(
        {
            **_event_dates(),
            "event_type": pa.Column(str, pa.Check.isin(codes.SCHOOL_EVENT_TYPES)),
            "reason": pa.Column(str, pa.Check.isin(codes.SCHOOL_REASONS)),
            "days": pa.Column("Int64", pa.Check.ge(0), nullable=True, coerce=True),
        },
        checks=[RECORDED_RULE],
        name="school_events",
    ),
    "agency_contacts": pa.DataFrameSchema(
        {
            **_event_dates(),
            "agency": pa.Column(str, pa.Check.isin(codes.AGENCIES)),
            "contact_type": pa.Column(str, pa.Check.isin(codes.CONTACT_TYPES)),
        },
        checks=[RECORDED_RULE],
        name="agency_contacts",
    ),
    "incidents": pa.DataFrameSchema(
        {
            "incident_id": pa.Column(str, pa.Check.str_length(min_value=1), nullable=False),
            **_event_dates(),
            "role": pa.Column(str, pa.Check.isin(codes.ROLES)),
            "offence_group": pa.Column(str, pa.Check.isin(codes.OFFENCE_GROUPS)),
            "serious_violence": pa.Column(bool),
            "weapon": pa.Column(bool),
        },
        checks=[RECORDED_RULE],
        name="incidents",
    ),
}


def _first_of_month() -> pa.Check:
    return pa.Check(lambda s: s.dt.day == 1, error="first day of a month")


def _ends_after_start(df: pd.DataFrame) -> pd.Series:
    return df["end_date"].isna() | (df["end_date"] >= df["start_date"])


def _recorded_after_start(df: pd.DataFrame) -> pd.Series:
    return df["recorded_date"] >= df["start_date"]


SCHEMAS["panel_lists"] = pa.DataFrameSchema(
    {
        "list_month": pa.Column("datetime64[ns]", [*_dates_in_range(), _first_of_month()]),
        "local_authority": pa.Column(str, pa.Check.isin(codes.LOCAL_AUTHORITIES)),
        "list": pa.Column(str, pa.Check.isin(codes.PANEL_LIST_NAMES)),
        "person_id": pa.Column(str, pa.Check.str_length(min_value=1), nullable=False),
        "rank": pa.Column("int64", pa.Check.ge(1), coerce=True),
        "capacity": pa.Column("int64", pa.Check.ge(0), coerce=True),
    },
    name="panel_lists",
)
SCHEMAS["interventions"] = pa.DataFrameSchema(
    {
        "person_id": pa.Column(str, pa.Check.str_length(min_value=1), nullable=False),
        "programme": pa.Column(str, pa.Check.isin(list(codes.PROGRAMMES))),
        "list": pa.Column(str, pa.Check.isin(codes.PANEL_LIST_NAMES)),
        "list_month": pa.Column("datetime64[ns]", [*_dates_in_range(), _first_of_month()]),
        "rank": pa.Column("int64", pa.Check.ge(1), coerce=True),
        "start_date": pa.Column("datetime64[ns]", _dates_in_range(), nullable=False),
        "end_date": pa.Column("datetime64[ns]", _dates_in_range(), nullable=True),
        "recorded_date": pa.Column("datetime64[ns]", _dates_in_range(), nullable=False),
    },
    checks=[
        pa.Check(_ends_after_start, error="end_date on or after start_date", name="ends_after"),
        pa.Check(
            _recorded_after_start,
            error="recorded_date on or after start_date",
            name="recorded_after_start",
        ),
    ],
    name="interventions",
)


def _examples(rows: pd.DataFrame, columns: list[str]) -> str:
    shown = []
    for index, row in rows.head(EXAMPLES).iterrows():
        values = ", ".join(f"{c}={row[c]!r}" for c in columns if c in row.index)
        shown.append(f"row {index}: {values}")
    return "; ".join(shown)


def _refuse(table: str, column: str, rule: str, rows: pd.DataFrame, show: list[str]) -> None:
    raise ContractError(
        MSG_REFUSED.format(
            table=table, column=column, rule=rule, n=len(rows), examples=_examples(rows, show)
        )
    )


def _parse_dates(table: str, df: pd.DataFrame) -> pd.DataFrame:
    """Turn date columns into datetimes; refuse values that do not parse."""
    out = df.copy()
    for column in DATE_COLUMNS[table]:
        raw = out[column]
        if pd.api.types.is_datetime64_any_dtype(raw):
            parsed = raw
        else:
            parsed = pd.to_datetime(raw, errors="coerce", format="mixed")
            bad = parsed.isna() & raw.notna()
            if bad.any():
                _refuse(table, column, "a valid date", out[bad], [column])
        # range first: a date centuries away does not even fit the nanosecond type
        outside = parsed.notna() & ((parsed < EARLIEST_DATE) | (parsed >= LATEST_DATE))
        if outside.any():
            rule = f"a date from {EARLIEST_DATE.date()} to before {LATEST_DATE.date()}"
            _refuse(table, column, rule, out[outside], [column])
        out[column] = parsed.astype("datetime64[ns]")
    return out


def validate_table(table: str, df: pd.DataFrame) -> pd.DataFrame:
    """Validate one raw table and return it with typed date columns.

    Raises
    ------
    ContractError
        On the first broken rule, naming table, column, rule and a few rows.
    """
    schema = SCHEMAS[table]
    required = list(schema.columns)
    for column in required:
        if column not in df.columns:
            raise ContractError(
                MSG_MISSING_COLUMN.format(table=table, column=column, required=", ".join(required))
            )
    df = _parse_dates(table, df[required].reset_index(drop=True))
    try:
        df = schema.validate(df, lazy=True)
    except pa.errors.SchemaErrors as exc:
        cases = exc.failure_cases
        first = cases.iloc[0]
        column = first["column"] if isinstance(first["column"], str) else "(row)"
        rule = str(first["check"])
        failing = cases[(cases["column"] == first["column"]) & (cases["check"] == first["check"])]
        index = pd.to_numeric(failing["index"], errors="coerce").dropna().astype(int).unique()
        rows = df.loc[df.index.intersection(index)]
        if table == "interventions" and ("start_date" in rule or "_after" in rule):
            column = "end_date" if ("end_date" in rule or "ends_after" in rule) else "recorded_date"
            show = ["person_id", "start_date", column]
        elif "recorded_date on or after" in rule or "recorded_after_event" in rule:
            column = "recorded_date"
            show = ["person_id", "event_date", "recorded_date"]
        else:
            show = [column] if column in df.columns else list(df.columns[:3])
        if rows.empty:  # e.g. a dtype failure: no row index, show the values instead
            values = ", ".join(repr(v) for v in failing["failure_case"].head(EXAMPLES))
            raise ContractError(
                f"{table}: column '{column}' breaks rule '{rule}', e.g. {values}"
            ) from None
        _refuse(table, column, rule, rows, show)
    keys = list(KEYS[table])
    duplicated = df.duplicated(keys, keep=False)
    if duplicated.any():
        _refuse(table, "+".join(keys), "unique key", df[duplicated], keys)
    return df


def validate_raw(tables: Mapping[str, pd.DataFrame]) -> dict[str, pd.DataFrame]:
    """Validate the four raw tables and the rules that span them."""
    out = {name: validate_table(name, tables[name]) for name in RAW_TABLES}
    people = out["people"].set_index("person_id")
    known_ids = pa_arrow.array(people.index.to_numpy(dtype=object), type=pa_arrow.string())
    for name in EVENT_TABLES:
        events = out[name]
        ids = pa_arrow.array(events["person_id"].to_numpy(dtype=object), type=pa_arrow.string())
        unknown = ~pc.is_in(ids, value_set=known_ids).to_numpy(zero_copy_only=False)
        if unknown.any():
            _refuse(
                name,
                "person_id",
                "person_id present in people",
                events[unknown],
                ["person_id", "event_date"],
            )
        birth = people["birth_month"].reindex(events["person_id"]).to_numpy()
        before_birth = events["event_date"].to_numpy() < birth
        if before_birth.any():
            _refuse(
                name,
                "event_date",
                "on or after the person's birth month",
                events[before_birth],
                ["person_id", "event_date"],
            )
    return out


def read_raw(folder: Path) -> dict[str, pd.DataFrame]:
    """Read the raw Parquet files of a data folder without validating them."""
    frames = {}
    for table in RAW_TABLES:
        path = folder / "raw" / f"{table}.parquet"
        if not path.exists():
            raise ContractError(MSG_MISSING_FILE.format(table=table, path=path))
        try:
            frames[table] = pq.read_table(path).to_pandas(date_as_object=False)
        except Exception as exc:  # pyarrow raises several types for a bad file
            raise ContractError(
                MSG_UNREADABLE.format(table=table, path=path, error=str(exc).splitlines()[0])
            ) from None
    return frames


def load_raw(folder: Path) -> dict[str, pd.DataFrame]:
    """Read and validate the raw tables of ``folder`` (``folder/raw/*.parquet``)."""
    return validate_raw(read_raw(folder))


MSG_NO_PANEL_TABLE = (
    "{table}: file {path} is missing (an evaluation needs the panels' ranked lists, "
    "panel_lists, and the help they led to, interventions)"
)


def load_panel_tables(folder: Path, people: pd.DataFrame) -> dict[str, pd.DataFrame]:
    """Read and validate ``panel_lists`` and ``interventions`` against each other and
    ``people`` (evaluation only; :class:`ContractError` naming the rows on refusal).

    Beyond each table's contract:

    - every young person in either table is in ``people``;
    - a young person appears once on one list in one month;
    - no programme starts before the month the young person was listed;
    - every intervention names the listing that led to it: the same list, month and
      rank on ``panel_lists``, within that month's capacity (discussed).
    """
    frames = {}
    for table in PANEL_TABLES:
        path = folder / "raw" / f"{table}.parquet"
        if not path.exists():
            raise ContractError(MSG_NO_PANEL_TABLE.format(table=table, path=path))
        try:
            frame = pq.read_table(path).to_pandas(date_as_object=False)
        except Exception as exc:  # pyarrow raises several types for a bad file
            raise ContractError(
                MSG_UNREADABLE.format(table=table, path=path, error=str(exc).splitlines()[0])
            ) from None
        frames[table] = validate_table(table, frame)
    lists, helped = frames["panel_lists"], frames["interventions"]
    known = pa_arrow.array(people["person_id"].to_numpy(dtype=object), type=pa_arrow.string())
    for table, frame in frames.items():
        ids = pa_arrow.array(frame["person_id"].to_numpy(dtype=object), type=pa_arrow.string())
        unknown = ~pc.is_in(ids, value_set=known).to_numpy(zero_copy_only=False)
        if unknown.any():
            _refuse(
                table,
                "person_id",
                "person_id present in people",
                frame[unknown],
                ["person_id", "list_month"],
            )
    twice = lists.duplicated(["list", "list_month", "person_id"], keep=False)
    if twice.any():
        _refuse(
            "panel_lists",
            "list+list_month+person_id",
            "a young person once on a list a month",
            lists[twice],
            ["list", "list_month", "person_id"],
        )
    early = helped["start_date"] < helped["list_month"]
    if early.any():
        _refuse(
            "interventions",
            "start_date",
            "on or after the month the young person was listed",
            helped[early],
            ["person_id", "list_month", "start_date"],
        )
    keys = ["list", "list_month", "person_id"]
    listed = helped[[*keys, "rank"]].merge(
        lists[[*keys, "rank", "capacity"]], on=keys, how="left", suffixes=("", "_listed")
    )
    unmatched = (
        listed["rank_listed"].isna()
        | (listed["rank_listed"] != listed["rank"])
        | (listed["rank"] > listed["capacity"])
    ).to_numpy()
    if unmatched.any():
        _refuse(
            "interventions",
            "list+list_month+rank",
            "the listing that led to it: on panel_lists with that rank, within capacity",
            helped[unmatched],
            ["person_id", "list", "list_month", "rank"],
        )
    return frames


def extract_date_of(folder: Path) -> dt.date:
    """The day a data folder was extracted: its ``manifest.json``'s ``extract_date`` (the
    generator writes it; a real extract's pipeline should too), else today."""
    manifest = folder / "manifest.json"
    if manifest.exists():
        try:
            text = json.loads(manifest.read_text(encoding="utf-8")).get("extract_date")
        except (json.JSONDecodeError, AttributeError):
            raise ContractError(f"{manifest} is not a data manifest (JSON)") from None
        if text:
            try:
                return dt.date.fromisoformat(str(text))
            except ValueError:
                raise ContractError(
                    f"{manifest}: extract_date {text!r} is not a date (YYYY-MM-DD)"
                ) from None
    return dt.date.today()


def check_extract_date(tables: Mapping[str, pd.DataFrame], extract_date: dt.date) -> None:
    """Refuse any event dated or recorded after the data were extracted (a record dated
    2099 would otherwise move the end of the data, and with it every guard against
    scoring after it), naming table, column and rows."""
    limit = pd.Timestamp(extract_date) + pd.Timedelta(days=1)
    rule = f"on or before the extract date {extract_date.isoformat()}"
    for name in EVENT_TABLES:
        events = tables[name]
        for column in ("event_date", "recorded_date"):
            late = events[column] >= limit
            if late.any():
                _refuse(name, column, rule, events[late], ["person_id", column])


def data_end(tables: Mapping[str, pd.DataFrame]) -> dt.date:
    """First day after the data: the day after the latest recorded date of any event."""
    latest = max(pd.Timestamp(tables[t]["recorded_date"].max()) for t in EVENT_TABLES)
    return (latest + pd.Timedelta(days=1)).date()


def feature_table_schema() -> pa.DataFrameSchema:
    """Contract of the feature table written by ``vru features``.

    One row per (person_id, as_of); counts and flags never missing and never
    negative; "days since" and "first age" missing only when there is no event;
    labels 0/1 or missing; the audit-only columns present.
    """
    from features import _engine as spec_of
    from features.labels import LABELS
    from features.registry import AGE, AUDIT_ONLY, FEATURES

    columns: dict[str, pa.Column] = {
        "person_id": pa.Column(str, nullable=False),
        "as_of": pa.Column("datetime64[ns]", nullable=False),
        AGE.name: pa.Column("int64", pa.Check.in_range(10, 24)),
    }
    for feature in FEATURES:
        spec = feature.spec
        if isinstance(spec, spec_of.Count | spec_of.Distinct):
            columns[spec.name] = pa.Column("int64", pa.Check.ge(0), nullable=False)
        elif isinstance(spec, spec_of.EverFlag | spec_of.OpenAtAsOf):
            columns[spec.name] = pa.Column("int64", pa.Check.isin([0, 1]), nullable=False)
        elif isinstance(spec, spec_of.Escalation):
            columns[spec.name] = pa.Column("int64", nullable=False)
        elif isinstance(spec, spec_of.DaysSinceLast):
            columns[spec.name] = pa.Column("Int64", pa.Check.ge(0), nullable=True)
        elif isinstance(spec, spec_of.FirstAge):
            columns[spec.name] = pa.Column("Int64", pa.Check.in_range(0, 24), nullable=True)
    for label in LABELS:
        columns[label] = pa.Column("Int8", pa.Check.isin([0, 1]), nullable=True)
    for column in AUDIT_ONLY:
        columns[column] = pa.Column(nullable=False)
    return pa.DataFrameSchema(
        columns, unique=["person_id", "as_of"], name="features", strict=True, coerce=False
    )
