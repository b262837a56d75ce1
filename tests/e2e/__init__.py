"""Browser tests: JupyterLab and Notebook 7 in Chromium (marker ``e2e``)."""
