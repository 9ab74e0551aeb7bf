"""Grad mode is per thread (issue 12): a `no_grad` block, or a backward pass, in one thread must not
change recording in another. Anomaly mode stays process-wide, as in PyTorch."""

import threading

import numpy as np

import chainrule as cr

STEPS = 100


def _train(seed, steps=STEPS, barrier=None):
    """A small independent model trained with SGD; returns the loss of every step and the weights."""
    rng = np.random.default_rng(seed)
    w = cr.tensor(rng.standard_normal((4, 3)), requires_grad=True)
    b = cr.tensor(np.zeros(3), requires_grad=True)
    x, y = rng.standard_normal((8, 4)), rng.standard_normal((8, 3))
    opt = cr.optim.SGD([w, b], lr=0.05)
    losses = []
    for _ in range(steps):
        if barrier is not None:
            barrier.wait()  # every thread takes each step together, to interleave as much as possible
        opt.zero_grad()
        loss = ((cr.tensor(x) @ w + b - cr.tensor(y)) ** 2).mean()
        loss.backward()
        opt.step()
        losses.append(float(loss.item()))
    return losses, w.data.copy(), b.data.copy()


def _evaluate(stop, seen):
    """An evaluation loop under no_grad, as a monitoring thread would run it."""
    w = cr.tensor(np.ones((4, 3)), requires_grad=True)
    while not stop.is_set():
        with cr.no_grad():
            out = cr.tensor(np.ones((2, 4))) @ w
            seen.append(out.requires_grad or cr.is_grad_enabled())


def test_threads_train_exactly_as_sequentially_while_another_evaluates_under_no_grad():
    seeds = [0, 1, 2, 3]
    expected = [_train(s) for s in seeds]
    results, errors = [None] * len(seeds), []
    barrier = threading.Barrier(len(seeds))
    stop, seen = threading.Event(), []

    def work(i):
        try:
            results[i] = _train(seeds[i], barrier=barrier)
        except BaseException as e:  # noqa: BLE001 - reported below with the thread's index
            errors.append((i, repr(e)))
            barrier.abort()

    evaluator = threading.Thread(target=_evaluate, args=(stop, seen))
    evaluator.start()
    workers = [threading.Thread(target=work, args=(i,)) for i in range(len(seeds))]
    for t in workers:
        t.start()
    for t in workers:
        t.join()
    stop.set()
    evaluator.join()
    assert not errors, errors
    assert seen and not any(seen), "no_grad did not hold inside the evaluation thread"
    for (losses, w, b), (elosses, ew, eb) in zip(results, expected):
        assert losses == elosses
        np.testing.assert_array_equal(w, ew)
        np.testing.assert_array_equal(b, eb)


def test_no_grad_in_one_thread_leaves_recording_on_in_another():
    entered, done = threading.Event(), threading.Event()

    def hold():
        with cr.no_grad():
            entered.set()
            done.wait(10)

    t = threading.Thread(target=hold)
    t.start()
    entered.wait(10)
    try:
        x = cr.tensor(2.0, requires_grad=True)
        y = x * x
        assert cr.is_grad_enabled() and y.requires_grad
        y.backward()
        assert float(x.grad) == 4.0
    finally:
        done.set()
        t.join()


def test_a_new_thread_starts_with_grad_enabled_and_anomaly_mode_is_process_wide():
    seen = {}

    def look():
        seen["grad"] = cr.is_grad_enabled()
        seen["anomaly"] = cr.is_anomaly_enabled()

    with cr.no_grad(), cr.detect_anomaly():
        t = threading.Thread(target=look)
        t.start()
        t.join()
    assert seen == {"grad": True, "anomaly": True}


def test_grad_mode_is_per_asyncio_task_too():
    """Grad mode lives in a ContextVar: a task that awaits inside `no_grad` does not turn recording
    off for the task that runs meanwhile on the same thread (a thread-local would leak it)."""
    import asyncio

    async def main():
        inside, go_on = asyncio.Event(), asyncio.Event()

        async def evaluating():
            with cr.no_grad():
                inside.set()
                await go_on.wait()
                return cr.is_grad_enabled()

        async def training():
            await inside.wait()
            x = cr.tensor(2.0, requires_grad=True)
            y = x * x
            go_on.set()
            return cr.is_grad_enabled(), y.requires_grad

        return await asyncio.gather(evaluating(), training())

    assert asyncio.run(main()) == [False, (True, True)]
    assert cr.is_grad_enabled()


def test_engine_state_fields_read_and_set_the_calling_threads_mode():
    """`engine.state.grad_enabled` and `.keep_up_to` (for code off the hot path) are the same per-thread
    switches as no_grad and keep_values; a write in one thread is not seen in another."""
    from chainrule.core import state

    seen = {}

    def other():
        seen["other"] = (state.grad_enabled, state.keep_up_to, cr.tensor(1.0, requires_grad=True) * 2)

    old = state.grad_enabled, state.keep_up_to
    try:
        state.grad_enabled, state.keep_up_to = False, 5
        assert not cr.is_grad_enabled()
        assert not (cr.tensor(1.0, requires_grad=True) * 2).requires_grad
        t = threading.Thread(target=other)
        t.start()
        t.join()
        with cr.enable_grad(), cr.keep_values(7):
            assert (state.grad_enabled, state.keep_up_to) == (True, 7)
        assert (state.grad_enabled, state.keep_up_to) == (False, 5)
    finally:
        state.grad_enabled, state.keep_up_to = old
    grad, keep, y = seen["other"]
    assert (grad, keep, y.requires_grad) == (True, 256, True)
    assert (state.grad_enabled, state.keep_up_to) == (True, 256)
