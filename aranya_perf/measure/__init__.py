"""Measurements taken during a load-test run besides Locust's own stats: process resources, exact latency."""
