"""fw-flight-sql: Flywheel datasets served as a live Arrow Flight SQL database."""

__version__ = "0.1.0"
