"""Reports: HTML pages with PNG figures that show a competition's leaderboard and submissions.

``write_report`` builds the competition page behind ``bench report``; ``write_run_report`` the small
page of one run that ``bench run`` and ``bench submit`` point to. Layout: ``analysis`` (numbers),
``figures`` (charts, matplotlib Agg), ``grid`` (queries and neighbours), ``html`` (page assembly),
``sections`` (plain data -> sections), ``gather`` (workspace -> plain data), ``pages`` (the two
reports).
"""

from harness.report.pages import ReportResult, write_report, write_run_report

__all__ = ["ReportResult", "write_report", "write_run_report"]
