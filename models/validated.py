"""Versioned YAML files validated into typed settings, refused in one line.

The fairness policy (:mod:`fairness.policy`) and the band policy (:mod:`models.bands`)
read the same way: YAML text, a mapping at the top level, a pydantic model; a bad file
raises the caller's error class with one line naming the file, the field and the
problem, and nothing downstream runs on it.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import yaml
from pydantic import BaseModel, ValidationError

__all__ = ["parse_validated", "read_validated"]


def parse_validated[Model: BaseModel](
    text: str,
    schema: type[Model],
    error: type[Exception],
    source: str,
    fields: str = "fields",
) -> Model:
    """``text`` (YAML) validated as ``schema``; ``error`` with one line otherwise:
    ``<source>: not valid YAML at line 3``, ``<source>: outcomes.victim.high: …``."""
    try:
        raw = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark is not None else ""
        raise error(f"{source}: not valid YAML{where}") from exc
    if not isinstance(raw, dict):
        raise error(f"{source}: expected a mapping of {fields} at the top level")
    try:
        return schema.model_validate(raw)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(part) for part in first["loc"])
        message = str(first["msg"]).removeprefix("Value error, ")
        raise error(f"{source}: {where + ': ' if where else ''}{message}") from exc


def read_validated[Model: BaseModel](
    path: Path,
    schema: type[Model],
    error: type[Exception],
    what: str,
    fields: str = "fields",
) -> tuple[Model, str]:
    """The file at ``path`` validated as ``schema`` (:func:`parse_validated`), and the
    SHA-256 of the exact bytes read; ``error`` naming ``what`` when it cannot be read."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise error(f"cannot read {what} {path}: {exc.strerror}") from exc
    model = parse_validated(data.decode("utf-8"), schema, error, str(path), fields)
    return model, hashlib.sha256(data).hexdigest()
