"""Render the feature registry as Markdown (``docs/features.md``; a test keeps it current).

Run ``python -m features.docs > docs/features.md`` after changing a feature.
"""

from __future__ import annotations

from features.registry import DIRECTIONS, REGISTRY


def render_feature_docs() -> str:
    """The registry as a Markdown page: one row per column of the feature table."""
    lines = [
        "# Features",
        "",
        "Generated from `features/registry.py` by `python -m features.docs`; do not edit by hand.",
        "",
        "Time rules: a row for `(person_id, as_of)` sees only records with "
        "`recorded_date < as_of`; a window of *w* days covers `event_date` in "
        "`[as_of − w, as_of)`; `all` is all visible history; `asof` is the state on the "
        "as-of date. Names follow `{source}_{window}_{what}_{agg}`.",
        "",
        "Every model input declares a **direction**: *raises risk* (a higher value never "
        "lowers the estimate), *lowers risk* (a higher value never raises it) or *either*. "
        "Every candidate model is fitted to respect it, and an explanation never shows a "
        'contribution against it as a reason (it is folded into "other factors" and '
        'counted in training). "Never recorded" is read as the value in *never*: the '
        "low-risk end.",
        "",
        "| column | domain | model input | direction | why | never | source | reads as | "
        "when missing |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for name, info in REGISTRY.items():
        role = (
            "yes"
            if info.model_input
            else "no (date behind reasons)"
            if info.support
            else "**no (audit only)**"
        )
        direction = DIRECTIONS[info.direction] if info.direction is not None else ""
        never = "" if info.never is None else f"{info.never:g}"
        lines.append(
            f"| `{name}` | {info.domain} | {role} | {direction} | {info.direction_reason} | "
            f"{never} | {info.source} | {info.template} | {info.missing} |"
        )
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    print(render_feature_docs(), end="")
