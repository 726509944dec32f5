"Shared pytest configuration for llava_nb's tests."
import pytest
import torch


def pytest_configure(config):
    config.addinivalue_line("markers", "browser: end-to-end tests in a real browser (JupyterLab + Chromium + playwright); "
                                       "skipped when Chromium or playwright is missing")


@pytest.fixture(scope="session", autouse=True)
def one_thread():
    "Tiny matmuls: one thread is faster, and two pytest workers on two cores do not fight over them."
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)
