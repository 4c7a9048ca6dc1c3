"""Fairness: audit by group, apply the versioned policy, record the verdict.

- :mod:`fairness.policy` — the policy file, validated into typed rules
- :mod:`fairness.audit` — by-group metrics with intervals (fairlearn)
- :mod:`fairness.rules` — the policy's rules applied to a by-group table
- :mod:`fairness.gate` — the gate's verdict on a registered model
- :mod:`fairness.recording` — the verdict written to files, tags, the run, the card
- :mod:`fairness.standalone` — the same audit of any predictions table
- :mod:`fairness.report` — the HTML report

Importing the package imports none of them.
"""
