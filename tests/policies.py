"""The retry and poll policies the tests share, named for what they are.

Each is written once here so a test says which kind of schedule it runs on: exact seconds
read back on the patched clock, real milliseconds over a loopback socket, or a short
jittered schedule like a real client's.
"""

from __future__ import annotations

from flowinvoke import PollPolicy, RetryPolicy

# Whole seconds, no jitter: the schedules the client tests read back exactly. Slow if
# really slept; the tests run them on the patched clock (tests/_async/conftest.py).
EXACT_RETRY = RetryPolicy(max_retries=2, initial_delay=0.5, max_delay=2.0, jitter=False)
EXACT_POLL = PollPolicy(initial_delay=1.0, multiplier=2.0, max_interval=4.0, jitter=0, timeout=60)

# Real milliseconds, no jitter: for stories against the emulator or a loopback socket,
# which answer in well under one.
MILLISECOND_RETRY = RetryPolicy(max_retries=2, initial_delay=0.001, max_delay=0.002, jitter=False)
MILLISECOND_POLL = PollPolicy(initial_delay=0.001, multiplier=1.0, max_interval=0.001, jitter=0)

# Tens of milliseconds with the default jitter and retry count: a real client's shape,
# shortened (the CLI tests).
SHORT_JITTERED_RETRY = RetryPolicy(initial_delay=0.01, max_delay=0.02)
SHORT_JITTERED_POLL = PollPolicy(initial_delay=0.01, multiplier=1.5, max_interval=0.05)
