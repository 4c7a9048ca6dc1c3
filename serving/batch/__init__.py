"""Monthly batch scoring for the five local-authority referral panels.

One call, :func:`score_panels`, builds the as-of snapshot through
:func:`features.snapshot.build_snapshot` (the same entry as training), scores
everyone with the released model of each outcome (one scoring path:
:class:`models.risk_model.RiskModel`), and writes for each local authority its
lists (CSV + Parquet) and an HTML panel pack, plus a run manifest. Each outcome has
two lists per local authority, drawn by :func:`models.panels.select_lists`:

- ``known`` — young people already known to services for serious violence, and
- ``early`` — the early-identification list: no serious-violence record yet;

each ranked within its own cohort and cut at its own capacity. Only the young
people within a list's capacity are named; everyone beyond it is counted by band in
the pack and the manifest, never named (data minimisation).

Each list is compared with the previous run in the same output folder: a named
person is ``new``, ``still listed`` or ``moved from the <list> list``; the people
named last time and not now are counted by reason (estimate fell below the cut, aged
out, moved), never listed.

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
