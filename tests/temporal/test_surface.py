"""What importing costs, what reprs show, what the schedule decides: no server needed."""

from __future__ import annotations

import random
import subprocess
import sys

from flowinvoke import AsyncClient, PollPolicy
from flowinvoke.temporal import CallbackTargets, FlowinvokeActivities, PollSettings, RunRequest
from flowinvoke.temporal._schedule import TimerSchedule

KEY = "key-surface-0123456789"


def test_importing_flowinvoke_and_its_cli_does_not_import_temporalio() -> None:
    code = (
        "import sys, flowinvoke, flowinvoke.cli, flowinvoke.cli._app; "
        "print('temporalio' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, check=True)
    assert out.stdout.strip() == b"False"


def test_no_repr_shows_the_key_or_the_callback_secret() -> None:
    secret = "callback-secret-0123456789abcdef"
    targets = CallbackTargets("https://app.example.com/hooks", secret)
    client = AsyncClient(api_key=KEY, base_url="http://127.0.0.1:1")
    activities = FlowinvokeActivities(client, callbacks=targets)
    shown = repr(activities) + repr(targets)
    assert KEY not in shown
    assert secret not in shown
    hook = targets.webhook_for("order-1")
    assert secret not in hook.url
    assert secret not in repr(hook)


def test_a_poll_policy_survives_the_trip_as_data() -> None:
    policy = PollPolicy(initial_delay=0.5, multiplier=2, max_interval=8, timeout=60)
    assert PollSettings.of(policy).policy() == policy
    request = RunRequest(input={"q": 1}, poll=PollSettings.of(policy))
    assert RunRequest.model_validate_json(request.model_dump_json()) == request


def test_the_timer_schedule_is_the_clients_and_replays_the_same() -> None:
    policy = PollPolicy()
    plain = TimerSchedule(policy, (), random.Random(7))
    again = TimerSchedule(policy, (), random.Random(7))
    first = [plain.next_delay(0) for _ in range(5)]
    assert first == [again.next_delay(0) for _ in range(5)]
    assert first == list(_take(policy.delays(random.Random(7)), 5))
    learned = TimerSchedule(policy, ((10.0, 12.0),), random.Random(7))
    assert learned.next_delay(0.0) > 5  # sleeps straight towards the learned end
    unlearned = TimerSchedule(PollPolicy(adaptive=False), ((10.0, 12.0),), random.Random(7))
    assert unlearned.next_delay(0.0) < 1


def _take(delays: object, count: int) -> list[float]:
    iterator = iter(delays)  # type: ignore[call-overload]
    return [next(iterator) for _ in range(count)]
