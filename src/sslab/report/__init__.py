"""Static HTML report over a runs directory."""

from sslab.report.html import build_report, collect_latest

__all__ = ["build_report", "collect_latest"]
