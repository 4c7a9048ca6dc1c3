"""The HTML panel pack of one local authority (:func:`render_pack`): an agenda, one card
per young person and what the estimates mean, marked and numbered for A4 print."""

from __future__ import annotations

from serving.panel.pack import MARKING, estimates_chart, render_pack

__all__ = ["MARKING", "estimates_chart", "render_pack"]
