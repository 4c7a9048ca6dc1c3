"""The BentoML entry of the service: ``bentoml serve vru.bento:VruRisk``.

BentoML imports this module in the server process and in every worker. It
imports the service class from :mod:`serving.service` and names where the
service's settings come from — :func:`vru.config.load_settings`, the one place
``VRU_*`` variables are read — so the serving layer never imports ``vru``.
Naming the loader is all that importing this module does; the settings are
read when the service starts.
"""

from serving.service import VruRisk, use_settings
from vru.config import load_settings

__all__ = ["VruRisk"]

use_settings(load_settings)
