"""Typed settings of vru-risk, loaded once at the entry point and passed down.

Values come from (in order of precedence) explicit arguments, ``VRU_*``
environment variables, then the defaults below. Importing this module reads
nothing: call :func:`load_settings`.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from features.vocabulary import LOCAL_AUTHORITIES


class Settings(BaseSettings):
    """Project-wide settings (paths, tracking store)."""

    model_config = SettingsConfigDict(env_prefix="VRU_", frozen=True, extra="ignore")

    project_dir: Path = Field(default_factory=Path.cwd, description="root for relative paths")
    data_dir: Path = Field(Path("data/synthetic"), description="default synthetic data folder")
    mlflow_tracking_uri: str | None = Field(
        None,
        description="tracking store; MLFLOW_TRACKING_URI wins, else sqlite:///mlflow.db in the "
        "project folder",
    )

    panel_capacity: dict[str, int] = Field(
        default_factory=lambda: dict.fromkeys(LOCAL_AUTHORITIES, 50),
        description="young people each spoke's referral panel can review per list",
    )
    bootstrap_samples: int = Field(100, ge=10, description="resamples for metric intervals")
    experiment: str = Field("vru-risk", description="MLflow experiment name")

    # serving (issue 7): what `vru serve` and the BentoML service read
    snapshot_path: Path = Field(
        Path("data/demo/features.parquet"),
        description="feature snapshot the service explains (Parquet from `vru features`)",
    )
    tokens_path: Path = Field(
        Path("data/serving/tokens.json"), description="bearer tokens (hashes only)"
    )
    access_log_path: Path = Field(
        Path("data/serving/access-log.sqlite"),
        description="append-only, hash-chained access log; feedback is a table in it",
    )
    serve_host: str = Field("127.0.0.1", description="address `vru serve` binds")
    serve_port: int = Field(3000, ge=1, le=65535, description="port `vru serve` listens on")

    # set by `mlflow run` in the environment of the command it launches
    mlflow_run_id: str | None = Field(None, validation_alias="MLFLOW_RUN_ID")
    mlflow_experiment_id: str | None = Field(None, validation_alias="MLFLOW_EXPERIMENT_ID")

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
    """Build the settings object once, at the entry point."""
    return Settings(**overrides)  # type: ignore[arg-type]
