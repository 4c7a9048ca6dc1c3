"""The practitioner service and the monthly panel lists (never trains).

- :mod:`serving.service` — the BentoML service (entry: ``vru.bento:VruRisk``)
- :mod:`serving.batch` — ``score_panels``: the monthly run behind ``vru score``
- :mod:`serving.panel` — the HTML panel pack
- :mod:`serving.runtime`, :mod:`serving.startup`, :mod:`serving.http`,
  :mod:`serving.auth`, :mod:`serving.access_log`, :mod:`serving.schemas`,
  :mod:`serving.web` — what the service is made of

Importing the package imports none of them.
"""
