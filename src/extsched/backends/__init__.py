"""Scheduling backends: the JobRunner interface and its implementations."""
