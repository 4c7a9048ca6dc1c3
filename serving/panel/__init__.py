"""The HTML panel pack of one local authority (:func:`render_pack`), with its charts.

The work is in :mod:`serving.panel.pack`; the template is ``pack.html.j2`` beside it.
"""

from serving.panel.pack import contributions_chart, distribution_chart, render_pack

__all__ = ["contributions_chart", "distribution_chart", "render_pack"]
