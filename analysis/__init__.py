"""Analysis of load-test results: reading run directories into frames and rendering reports."""
