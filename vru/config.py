"""Typed settings of vru-risk, loaded once at the entry point and passed down.

Values come from (in order of precedence) explicit arguments, ``VRU_*``
environment variables, then the defaults below. Importing this module reads
nothing: call :func:`load_settings`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

from pydantic import BeforeValidator, Field, PlainSerializer, ValidationError
from pydantic_settings import BaseSettings, SettingsConfigDict

from models.panels import PanelCapacity, PanelError

__all__ = ["Settings", "SettingsError", "load_settings"]


class SettingsError(ValueError):
    """A setting is not valid (one line naming it)."""


def _capacity(value: Any) -> PanelCapacity:
    try:
        return PanelCapacity.parse(value)
    except PanelError as exc:
        # a ValueError: pydantic reports it against the field, load_settings makes it one line
        raise ValueError(str(exc)) from None


Capacity = Annotated[
    PanelCapacity,
    BeforeValidator(_capacity),
    PlainSerializer(lambda c: c.as_dict(), return_type=dict),
]


class Settings(BaseSettings):
    """Project-wide settings (paths, tracking store)."""

    model_config = SettingsConfigDict(
        env_prefix="VRU_", frozen=True, extra="ignore", arbitrary_types_allowed=True
    )

    project_dir: Path = Field(default_factory=Path.cwd, description="root for relative paths")
    data_dir: Path = Field(Path("data/synthetic"), description="default synthetic data folder")
    mlflow_tracking_uri: str | None = Field(
        None,
        description="tracking store; MLFLOW_TRACKING_URI wins, else sqlite:///mlflow.db in the "
        "project folder",
    )

    panel_capacity: Capacity = Field(
        default_factory=PanelCapacity.uniform,
        description="young people each local authority's panel reviews on each list, as JSON: "
        '{"Bristol": {"known": 50, "early": 20}} (a number alone sets the known list; '
        "authorities not named keep 50 and 20)",
    )
    bootstrap_samples: int = Field(100, ge=10, description="resamples for metric intervals")
    training_sample_above: int | None = Field(
        None,
        ge=0,
        description="training rows above which those not involved in the outcome are sampled "
        "(case-control, weighted); 0 never samples; unset, training's default "
        "(training.snapshots.DEFAULT_SAMPLE_ABOVE)",
    )
    experiment: str = Field("vru-risk", description="MLflow experiment name")

    # serving (issue 7): what `vru serve` and the BentoML service read
    snapshot_path: Path = Field(
        Path("data/demo/features.parquet"),
        description="feature snapshot the service explains (Parquet from `vru features`)",
    )
    previous_snapshot_path: Path | None = Field(
        None,
        description="an earlier feature snapshot (e.g. last month's): the service then says "
        "what changed since its as-of date; none: it does not",
    )
    tokens_path: Path = Field(
        Path("data/serving/tokens.json"), description="bearer tokens (hashes only)"
    )
    access_log_path: Path = Field(
        Path("data/serving/access-log.sqlite"),
        description="append-only, hash-chained access log; feedback is a table in it",
    )
    access_log_key_path: Path | None = Field(
        None,
        description="key of the access log's keyed chain (0600, created on first start; keep "
        "it apart from the log); none: beside the log, <log name>.key",
    )
    access_log_anchor_path: Path | None = Field(
        None,
        description="where the access log's head is anchored (start, daily, every panel run); "
        "none: beside the log, <log name>.anchors.jsonl",
    )
    serve_host: str = Field("127.0.0.1", description="address `vru serve` binds")
    serve_port: int = Field(3000, ge=1, le=65535, description="port `vru serve` listens on")
    # the web page's sessions (issue 21, finding 9)
    session_idle_minutes: int = Field(
        30,
        ge=1,
        le=24 * 60,
        description="a signed-in session of the web page ends after this many minutes unused",
    )
    session_cookie_secure: bool = Field(
        False,
        description="mark the web page's session cookie Secure (sent over HTTPS only): set it "
        "when the service is reached through HTTPS; off for plain loopback",
    )
    # monitoring after release (issue 15): a suspended model version stops being served
    status_recheck_seconds: float = Field(
        60.0,
        gt=0,
        le=60,
        description="the running service re-reads the release status of the model versions "
        "it loaded when its last reading is older than this many seconds (on a request; at "
        "most a minute, so a suspension or reinstatement is obeyed within a minute)",
    )
    auth_failure_limit: int = Field(
        30,
        ge=1,
        description="requests without a valid token one address may make in a minute before "
        "it is answered 429 (counted and logged within bounds either way)",
    )

    # set by `mlflow run` in the environment of the command it launches
    mlflow_run_id: str | None = Field(None, validation_alias="MLFLOW_RUN_ID")
    mlflow_experiment_id: str | None = Field(None, validation_alias="MLFLOW_EXPERIMENT_ID")

    def access_log_files(self) -> tuple[Path, Path, Path]:
        """The access log, its key and its anchor file, resolved."""
        from serving.access_log import anchor_path_for, key_path_for

        log = self.resolve(self.access_log_path)
        key = self.resolve(self.access_log_key_path) if self.access_log_key_path else None
        anchors = self.resolve(self.access_log_anchor_path) if self.access_log_anchor_path else None
        return log, key or key_path_for(log), anchors or anchor_path_for(log)

    def launched_experiment_id(self) -> str | None:
        """The experiment of the run ``mlflow run`` created, when launched by it."""
        return self.mlflow_experiment_id if self.mlflow_run_id else None

    def tracking_uri(self) -> str:
        """``MLFLOW_TRACKING_URI`` if set, else settings, else SQLite in the project folder."""
        import os

        return (
            os.environ.get("MLFLOW_TRACKING_URI")
            or self.mlflow_tracking_uri
            or f"sqlite:///{(self.project_dir / 'mlflow.db').resolve()}"
        )

    def resolve(self, path: Path) -> Path:
        """A path relative to the project folder, unless already absolute."""
        return path if path.is_absolute() else self.project_dir / path


def load_settings(**overrides: object) -> Settings:
    """Build the settings object once, at the entry point.

    Raises
    ------
    SettingsError
        One line naming the setting (its ``VRU_*`` variable) and the problem.
    """
    try:
        return Settings(**overrides)  # type: ignore[arg-type]
    except ValidationError as exc:
        first = exc.errors()[0]
        field = str(first["loc"][0]) if first["loc"] else "settings"
        message = str(first.get("msg", "not valid")).removeprefix("Value error, ")
        raise SettingsError(f"VRU_{field.upper()}: {message}") from None
