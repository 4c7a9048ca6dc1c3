"""Monthly batch scoring for the five local-authority referral panels.

One call, :func:`score_panels`, builds the as-of snapshot through
:func:`features.snapshot.build_snapshot` (the same entry as training), scores
everyone with the released model of each outcome (one scoring path:
:class:`models.risk_model.RiskModel`), and writes for each local authority a
ranked list (CSV + Parquet) and an HTML panel pack, plus a run manifest. Who is
listed, per outcome and local authority, is decided by
:func:`models.panels.select_panel`:

- the ``capacity`` highest estimates (what the panel can review this month), and
- anyone else whose estimate is at or above the lower edge of the model's
  ``high`` band (so nobody in the high bands is silently cut off by capacity).

Each list is compared with the previous run in the same output folder: a listed
person is ``new`` or ``still listed``; a person listed last time and not now is
``dropped off`` with the reason (risk fell below the cut, aged out, moved).

Outputs are built in a temporary folder beside ``out_dir`` and swapped into
place in one rename, so an interrupted run leaves the previous outputs intact.
No audit-only column (sex, ethnicity, SEN, deprivation, free school meals) is
ever written. Every list is a prompt for professional review, never a decision.

Modules: :mod:`~serving.batch.run` (the run), :mod:`~serving.batch.lists` (list
columns and files), :mod:`~serving.batch.history` (statuses against the previous
run), :mod:`~serving.batch.atomic` (staging and the swap),
:mod:`~serving.batch.publish` (manifest and MLflow logging),
:mod:`~serving.batch.checks` (refusals).
"""

from serving.batch.atomic import check_out_dir
from serving.batch.checks import BatchError, check_releasable
from serving.batch.publish import Manifest, Tracking
from serving.batch.run import score_panels

#: what the command line uses; the parts are imported from their modules
__all__ = [
    "BatchError",
    "Manifest",
    "Tracking",
    "check_out_dir",
    "check_releasable",
    "score_panels",
]
