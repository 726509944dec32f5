"Shared pytest configuration for llava_nb's tests."
import pytest
import torch


def pytest_configure(config):
    config.addinivalue_line("markers", "browser: end-to-end tests in a real browser (JupyterLab + Chromium + playwright); "
                                       "skipped when Chromium or playwright is missing")
    config.addinivalue_line("markers", "slow: minutes, not seconds; `make test` leaves them to `make test-slow`")


@pytest.fixture(scope="session", autouse=True)
def one_thread():
    "Tiny matmuls: one thread is faster, and two pytest workers on two cores do not fight over them."
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


def tiny_checkpoint(tmp):
    "A tiny Llama-family stage-2 checkpoint (vicuna_v1) with a random projector, saved as users save theirs."
    from llava_nb.model.llava import LlavaModel
    from llava_nb.tiny import save_tiny_parts

    parts = save_tiny_parts(tmp / "parts")
    m = LlavaModel.from_parts(parts["vision"], parts["llm"])
    torch.manual_seed(0)
    for p in m.projector.parameters():
        torch.nn.init.normal_(p, std=0.3)
    return m.save_pretrained(tmp / "ckpt", stage=2)
