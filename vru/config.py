"""Typed settings of vru-risk, loaded once at the entry point and passed down.

Values come from (in order of precedence) explicit arguments, ``VRU_*``
environment variables, then the defaults below. Importing this module reads
nothing: call :func:`load_settings`.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


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

    def resolve(self, path: Path) -> Path:
        """A path relative to the project folder, unless already absolute."""
        return path if path.is_absolute() else self.project_dir / path


def load_settings(**overrides: object) -> Settings:
    """Build the settings object once, at the entry point."""
    return Settings(**overrides)  # type: ignore[arg-type]
