"""The Flywheel API: keys and the few calls the catalog (discovery) and auth (key checks) make."""
