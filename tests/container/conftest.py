"""Reports the image layout's size at the end of the run (see test_image_layout.py)."""

from tests.support.reports import REPORT


def pytest_terminal_summary(terminalreporter):
    for label, value in REPORT.items():
        terminalreporter.write_line(f"{label}: {value}")
