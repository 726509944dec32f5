"Shared pytest configuration for llava_nb's tests."


def pytest_configure(config):
    config.addinivalue_line("markers", "browser: end-to-end tests in a real browser (JupyterLab + Chromium + playwright); "
                                       "skipped when Chromium or playwright is missing")
