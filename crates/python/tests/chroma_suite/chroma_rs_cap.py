"""pytest plugin for Chroma's own suites (scripts/chroma-suite.sh, scripts/chroma-suite-inprocess.sh):
hypothesis capped at 10 examples, 20 steps, no deadline, no
shrinking, and no health checks (see the note there: they time data generation, which a busy
machine slows)."""
import os
import time

import hypothesis


def _no_health_checks():
    # A test's own @settings(suppress_health_check=[...]) would replace the profile's list and
    # bring the timing checks back: every settings object suppresses them all.
    init = hypothesis.settings.__init__

    def patched(self, *args, **kwargs):
        if "suppress_health_check" in kwargs:
            kwargs["suppress_health_check"] = list(hypothesis.HealthCheck)
        if "deadline" in kwargs:
            kwargs["deadline"] = None
        init(self, *args, **kwargs)

    hypothesis.settings.__init__ = patched


def _short_waits():
    # Cluster mode (CHROMA_RS_SHORT_WAITS=1): the suite sleeps a fixed 60 s after a compaction
    # "to invalidate the frontend query cache". chroma-rs has no such cache (a read sees every
    # acknowledged write), so long fixed sleeps become 1 s; short polling sleeps are kept.
    # Installed before the test modules import `sleep` from `time`.
    sleep = time.sleep

    def short(seconds):
        sleep(1.0 if seconds >= 30 else seconds)

    time.sleep = short


def pytest_configure(config):
    _no_health_checks()
    if os.environ.get("CHROMA_RS_SHORT_WAITS") == "1":
        _short_waits()
    # CHROMA_RS_MAX_EXAMPLES: fewer examples per property test where one example costs more
    # (scripts/test.sh sets it for the run through three nodes); every test still runs.
    examples = int(os.environ.get("CHROMA_RS_MAX_EXAMPLES", "10"))
    hypothesis.settings.register_profile(
        "chroma_rs_cap", max_examples=examples, stateful_step_count=20, deadline=None, derandomize=True,
        database=None, suppress_health_check=list(hypothesis.HealthCheck),
        phases=[hypothesis.Phase.explicit, hypothesis.Phase.reuse, hypothesis.Phase.generate])
    hypothesis.settings.load_profile("chroma_rs_cap")
