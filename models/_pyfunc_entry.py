"""Entry point for MLflow's models-from-code logging: the model object is built here."""

import mlflow.models

from models.risk_model import RiskModel

mlflow.models.set_model(RiskModel())
