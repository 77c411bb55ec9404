import pytest


@pytest.fixture(autouse=True)
def one_torch_thread():
    """These tests run many small torch operations, which one thread does fastest: in an
    xdist worker torch has 2 threads whatever OMP_NUM_THREADS says (Numba's OpenMP layer,
    started by tests/conftest.py, sets the shared runtime's default), and 1000 steps of
    the agreement test took 143 s there against 2.7 s on one thread (measured with
    pytest -n 1 on this 2-core machine, under load). The count is restored after each test."""
    torch = pytest.importorskip("torch", reason="the torch samplers need the 'learned' extra (torch==2.13.0)")
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)
