"""One registry of every column of the feature table.

Explanations, documentation and the model-input list all read from here. Audit-only
columns (sex, ethnicity, SEN, deprivation, free school meals) and the local
authority are carried beside the features for the fairness audit and for panel
grouping; they are never model inputs by default, and a test enforces it.
"""

from __future__ import annotations

from features import contacts, incidents, school
from features._declare import DIRECTIONS, DOMAINS, EITHER, Feature, FeatureInfo
from features.spine import AUDIT_COLUMNS, CONTEXT_COLUMNS

__all__ = [
    "AUDIT_ONLY",
    "DIRECTIONS",
    "DOMAINS",
    "FEATURES",
    "REGISTRY",
    "SEX_AS_INPUT",
    "FeatureInfo",
    "audit_columns",
    "input_info",
    "model_inputs",
    "support_columns",
]

AGE = FeatureInfo(
    "demo_asof_age_years",
    "demographic",
    "aged {value} at the time of this assessment",
    "people",
    direction=EITHER,
    missing="never missing",
    direction_reason="risk of serious violence rises through the teens and falls in the twenties",
    what="age",
)
#: columns that must never be model inputs by default
AUDIT_ONLY: tuple[str, ...] = (*AUDIT_COLUMNS, *CONTEXT_COLUMNS)
_AUDIT_WORDS = {
    "sex": "sex",
    "ethnicity": "ethnicity (ONS 5 groups)",
    "ethnicity_detail": "ethnicity (ONS 18 groups)",
    "sen_status": "special educational needs",
    "imd_decile": "deprivation decile of home area (IMD)",
    "fsm": "eligible for free school meals",
    "local_authority": "local authority",
}

FEATURES: tuple[Feature, ...] = (*school.FEATURES, *contacts.FEATURES, *incidents.FEATURES)

REGISTRY: dict[str, FeatureInfo] = {
    AGE.name: AGE,
    **{f.info.name: f.info for f in FEATURES},
    **{
        column: FeatureInfo(
            column,
            "demographic",
            f"{_AUDIT_WORDS[column]}: {{value}}",
            "people",
            model_input=False,
            direction=None,
            missing="never missing",
        )
        for column in AUDIT_ONLY
    },
}


#: sex as a model input: never in a released model (DESIGN). Only the comparison training
#: reports beside calibration by sex fits it (``training.by_sex``): 1 when the young
#: person's recorded sex is female, 0 when male
SEX_AS_INPUT = FeatureInfo(
    "sex_female",
    "demographic",
    "recorded as female: {value}",
    "people",
    model_input=False,
    direction=EITHER,
    missing="never missing",
    direction_reason="a comparison only: what reading sex would change",
    what="sex",
)


def input_info(name: str) -> FeatureInfo:
    """The registry entry of a column a candidate may read: a registered column, or the
    comparison's :data:`SEX_AS_INPUT`."""
    if name == SEX_AS_INPUT.name:
        return SEX_AS_INPUT
    return REGISTRY[name]


def model_inputs() -> list[str]:
    """Columns a model may use by default, in feature-table order."""
    return [name for name, info in REGISTRY.items() if info.model_input]


def audit_columns() -> list[str]:
    """Columns carried for the fairness audit and grouping only."""
    return [name for name, info in REGISTRY.items() if not info.model_input and not info.support]


def support_columns() -> list[str]:
    """Columns kept to explain others (the dates behind reasons); not model inputs."""
    return [name for name, info in REGISTRY.items() if info.support]
