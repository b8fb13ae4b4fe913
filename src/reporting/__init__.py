"""Research reports: collect the runs of a run or sweep directory and write report.html and report.md."""
