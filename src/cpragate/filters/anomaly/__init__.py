"""Streaming detection (scraping, enumeration, credential stuffing, exfiltration, unusual
access), personal-data budgets, alerts and automatic throttles/blocks."""

from cpragate.filters.anomaly.config import AnomalyConfig
from cpragate.filters.anomaly.filter import AnomalyFilter

__all__ = ["AnomalyConfig", "AnomalyFilter"]
