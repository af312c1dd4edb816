"""Flywheel discovery: projects whose ``info.dataset`` points at a dataset become schemas."""
